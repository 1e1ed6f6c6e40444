// Package events records what happens during training, validation and
// testing (step, time, loss, accuracy, speed, any user value) and gives it
// back by model, run and step range. It is the event half of the model
// module of the TensorLayer paper (section 2.2).
//
// A Writer is made for one run. Log hands an event over and returns at
// once: a goroutine writes events in batches (when a batch fills, every
// Interval, on Flush and on Close), so a training loop never waits on the
// database. The buffer is bounded: if the server is slow or away, events
// wait in memory and writes are retried; once the buffer is full, new
// events are dropped and counted (Writer.Stats), never blocking the caller.
//
// Find and Delete query the events collection; package eventplot draws a
// run's curves as a PNG image. Events carry their project, model name and
// run ID, so the same collection holds every project's runs.
//
// # Summaries and curves
//
// With every batch it writes, a writer also replaces two documents of its
// run: a Summary in RunsCollection (first and last time and step, events per
// phase, the last value of every metric, the first event's fields, the model
// version the run produced, running or closed, the steps of its last images)
// and its curves in CurvesCollection, each kept in at most CurvePoints/2
// buckets that hold their minimum, maximum and last point (exact up to
// CurvePoints points; beyond, spikes stay visible; the first MaxCurves
// metrics of a run have one). Summaries, RunSummary,
// RunCurves, Image, Runs and Models read those only: listing the runs reads
// one small document per run, a run's curves one document, whatever the
// number of events. A writer on a run that has a summary (a resumed run, a
// test phase after training) starts from it. Two writers on one run at the
// same time would each write their own view of it: the last flush wins until
// the next (Delete of part of a run rebuilds its summary from the events).
//
// Why: FerretDB over SQLite pushes down one filter only, an equality on _id
// (store.DB.IndexIDs gives it an index); any other query, a range of _id
// included, reads and parses every event of every project. Reading one run
// of 10,000 events out of 20,000 costs 2 s of CPU by the run field and the
// same by an _id range, against 1 ms for its summary and 10 ms for its
// curves (BenchmarkReadRun). On MongoDB and FerretDB over PostgreSQL the
// events are indexed (EnsureIndexes) and the summaries save work too.
//
// # Event IDs
//
// An event's _id is "LEN:PROJECT:LEN:MODEL:LEN:RUN:STEP:WRITER:SEQ" (the
// step as 20 digits that sort, negative steps first): a run's events are one
// _id range in step order, unique without coordination between writers.
// Events written before this form have an ObjectID _id and no summary. They
// are not rewritten: Find reads both forms by their fields, and the first
// reader of a project without the mark "summarised" runs Backfill, which
// summarises their runs in one scan of the events and sets the mark. A
// writer that finds no events at all in its project sets the mark at once, so
// a store that began with summaries is never scanned.
package events
