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
// the process dies in between, its successor triggers the same ranges
// again: delivery is at least once, and Event.ID lets the workflow drop a
// duplicate. The ranges are the same, not wider by the samples inserted
// meanwhile, because an event is written to the position document
// ("pending") before its first trigger, and a controller that finds one
// there fires it first.
//
// The Trigger interface is what the workflow module implements: typically
// it publishes a training task for the ranges on its queue.
//
// # Rules
//
// A Rule (rules.go) is a controller as data, stored per project in the
// "stream_rules" collection: the views watched, MinCount and/or MaxWait,
// paused or not, and a plan template ("when 5,000 new samples match view
// V, fine-tune model M from its latest version"). Rules.Run, which the
// leading master runs as one of its master.Config.Controllers (`tl
// master`), re-reads the rules every few seconds and runs one Controller
// per rule that is not paused, so that rules defined, paused, resumed or
// deleted (`tl stream ...`) take effect without a restart. Its trigger
// defines the dataset of the new samples ("VIEW@FIRST-LAST", the view
// restricted to their sequence range), fills the template's placeholders
// and submits the plan under Rule.PlanID, a hash of the rule and the
// event's ID: a repeat after a crash of controller or master carries the
// same plan id, which the master runs once. A rule starts at the views'
// current sequence numbers (Define with fromStart: at zero), and its
// position is stored under a name that includes a UID drawn at definition,
// so a rule deleted and defined again starts afresh.
package stream
