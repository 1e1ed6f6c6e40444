// Package agent is the runtime of a workflow agent (cmd/tl-agent): it pulls tasks from
// the queues of its capabilities, runs the registered function of each, reports to
// the master, and acknowledges.
//
// One task at a time per slot: a slot asks its queues for exactly one message (a
// Fetch of one, the strict form of PullMaxMessages(1)), so no task waits in a
// client buffer while its ack deadline runs, and work spreads over the agents. While
// the function runs, the slot tells the server the task is in progress every third
// of the ack deadline; if the agent dies, the heartbeats stop and the server delivers
// the task again after the deadline.
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
// task functions are expected to be idempotent per task key.
//
// On shutdown (the context of Run ends, as on SIGTERM) the agent stops pulling,
// gives running tasks Config.Grace to finish, and hands back those that do not.
//
// Concurrency: each slot is one goroutine; Agent.mu guards the running and cancelled
// sets and the counters, and is never held across a NATS call or a task function.
package agent
