// Package master is the runtime behind `tl master`: it runs training plans.
//
// The master reads one durable consumer on the TL_MASTER stream, which carries both
// the agents' events and the CLI's commands (submit, cancel, retry), and handles them
// one at a time in a single goroutine, so its scheduling state needs no lock. For
// each message it updates the plan's records in a status.Store and acknowledges only
// after the write; a master that dies in between sees the message again, and the
// handlers are idempotent (a result for a task already finished is ignored), so a
// result that arrives twice is recorded once.
//
// Scheduling: a task whose dependencies have all succeeded is queued on its capability's
// queue with the outputs of those dependencies attached. The task message carries a
// de-duplication id (plan/task/dispatch) and is published before its record is saved,
// so a master restarted between the two publishes the same id again and the queue
// stores it once. A task that fails for good blocks every task downstream of it, and
// the plan's record says which. A ticker reschedules what could not be queued (the
// server was down) and picks up plans resumed from the store.
//
// Commands come in through the stream as well, so `tl submit` works while the master
// is down and the plan starts when it is back. Submit, Cancel and Retry are the
// client side of those commands.
//
// Lock order: Master.mu guards only the bounded list of rejected messages read by
// Rejected; the plan state belongs to the Run goroutine.
package master
