// Package task defines what travels on the workflow's queues and what an agent may run.
//
// A Task is the message an agent pulls: which plan and task it belongs to, the kind of
// work (the name of a Go function registered in the agent's binary), the paper's
// (input dataset, model, output dataset) keys, JSON parameters, the results of the
// tasks it depends on, and its attempt budget. An Event is what an agent, or the
// queue machinery, tells the master: a task started, an attempt failed, a task
// succeeded or failed for good, a message was rejected.
//
// No code travels. A Registry maps kind names to Funcs compiled into the binary; an
// agent asked for a kind it does not have fails the task with ErrUnknownKind instead
// of loading anything. Decode is strict: unknown fields, a missing id or kind, a
// non-positive attempt budget are errors that say which field is wrong, and wrap
// ErrMalformed so that an agent can reject the message and go on with the queue.
//
// Attempts are counted across deliveries: an agent computes the attempt number as
// AttemptBase plus the queue's delivery count, so a task whose agent was killed uses
// up an attempt just as one whose function returned an error. A Func that knows
// retrying is pointless returns Permanent(err).
package task
