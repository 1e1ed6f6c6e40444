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
// Find, Runs and Delete query the events collection; package eventplot
// draws a run's curves as a PNG image.
//
// Events carry their project, model name and run ID, so the same collection
// holds every project's runs.
package events
