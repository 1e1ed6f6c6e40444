// Package agent is the runtime of a workflow agent (cmd/tl-agent): it pulls tasks from
// the queues of its capabilities, runs the registered function of each, reports to
// the master, and acknowledges.
//
// One task at a time per slot: a slot asks its queues for exactly one message (a
// Fetch of one, the strict form of PullMaxMessages(1)), so no task waits in a
// client buffer while its ack deadline runs, and work spreads over the agents. While
// the function runs, the slot tells the server the task is in progress every third
// of the ack deadline, and at once after a reconnection; if the agent dies, the
// heartbeats stop and the server delivers the task again after the deadline. The
// deadline is the queue's, set by the master (queue.EnsureQueue): an agent binds to
// the queue's consumer and never changes it (Config.AckWait only creates one that
// no master has set up), and reads it again at most once a second.
//
// The outcome of an attempt:
//
//	success              event succeeded (with the output), then a confirmed ack
//	error, attempts left event attempt_failed, then a Nak with back-off: redelivered
//	error, none left     event failed, then Term
//	permanent error      event failed, then Term (unknown kind, bad params)
//	plan cancelled       event cancelled, then Term
//	undecodable message  event rejected (subject, sequence, error), then Term
//	shutdown, too slow   Nak: handed back, redelivered at once to another agent
//
// Events are published before the ack, so a crash between the two can repeat an
// event or the work, never lose one; the master records each result once and
// task functions are expected to be idempotent per task key. A final event waits
// in the outbox (Config.StateDir/outbox, files 0600) and is published until the
// stream takes it, however long the server is away, while heartbeats keep the
// task: a master (with its embedded server) down for longer than the deadline
// neither loses the result nor has the task run again. Events left there by a
// stopped agent go out at its next start, and a task delivered again after its
// result went out is settled with that result, not run; a final result is also
// left in the results bucket (queue.DoneBucket) before the ack, alongside the
// report, so that another agent that gets the task again settles it so too.
// The started event is published without waiting for its acknowledgement.
//
// On shutdown (the context of Run ends, as on SIGTERM) the agent stops pulling,
// gives running tasks Config.Grace to finish, and hands back those that do not.
//
// Concurrency: each slot is one goroutine; Agent.mu guards the running and cancelled
// sets, the counters, the reconnection signal and the consumer reading times, and
// is never held across a NATS call or a task function; the outbox has its own
// lock, taken after Agent.mu if ever both (never the other way).
package agent
