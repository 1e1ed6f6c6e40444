// Package stream watches datasets for new samples and starts training when
// enough has arrived: the stream controller of the TensorLayer paper
// (section 2.3), built for servers without change streams.
//
// # Polling by insertion sequence
//
// Every sample carries an insertion sequence number (see package dataset).
// A Controller remembers, per Source, the last number it has handled: its
// position. Each Step (Run calls it every Config.Poll) reads the source
// collection's counter, an _id lookup. When no insert is in flight (the
// counter is settled) every number up to the counter is written, and the new
// samples are exactly those in (position, counter]. When inserts are in
// flight, the controller lists the numbers after its position and stops
// before the first missing one, so that a slow writer's samples are not
// skipped; a number missing for longer than Config.GapGrace (its writer
// died) is given up on, with a warning.
//
// Where the server has change streams (a MongoDB replica set), Run also
// opens one per source collection and polls at once after an insert instead
// of waiting for the next tick; FerretDB v1 answers NotImplemented and Run
// just polls.
//
// # Significant changes
//
// New samples are counted through each source's dataset query, so a view of
// the "train" tag ignores other samples (their range is skipped silently).
// The controller triggers when at least Config.MinCount new samples are
// pending over all sources, or, with Config.MaxWait, when the oldest pending
// sample has waited that long. Sources may be several datasets, for
// instance new labelled samples and new predictions of the current model.
//
// # Delivery
//
// A trigger receives an Event: the ranges (source, after, up to), counts, a
// reason and an ID derived from the ranges. Only after the trigger returns
// nil is the position advanced and stored (in the "stream_positions"
// collection, with an optimistic version check so that two controllers of
// the same name cannot both advance). A failed trigger is retried with the
// identical event after a backoff (Poll, doubling up to Config.RetryMax). If
// the process dies in between, its successor computes the same ranges from
// the stored position and triggers them again: delivery is at least once,
// and Event.ID lets the workflow drop a duplicate.
//
// The Trigger interface is what the workflow module implements: typically
// it publishes a training task for the ranges on its queue.
package stream
