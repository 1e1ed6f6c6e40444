// Package status is where the master records plans and tasks, so that `tl status`
// can show a plan's progress and a restarted master resumes where it stopped.
//
// Store is a small interface with two implementations, in the manner of
// nats-server's StreamStore: Mongo, over the project's MongoDB (through package
// store: embedded FerretDB by default, a mongodb:// URL for a cluster), and Memory,
// for tests and for a master that needs no history.
//
// The master is the only writer. Each record carries a revision; Save replaces a
// record only if the stored revision is still the one the caller read, and fails
// with ErrConflict otherwise, so a second master working on the same plans by
// mistake is stopped instead of silently overwriting. Because a result moves a task
// to succeeded once and the master ignores results for finished tasks, a result
// that arrives twice is recorded once, also across a master restart.
package status
