// Package master is the runtime behind `tl master`: it runs training plans.
//
// The leader (see below) reads one durable consumer on the TL_MASTER stream, which carries both
// the agents' events and the CLI's commands (submit, cancel, retry), and handles them
// in a single goroutine, so its scheduling state needs no lock. It applies each
// message to the records in hand and acknowledges it only after the changes are
// written to the status.Store, in batches (SaveTasks, at most every FlushEvery); a
// master that dies in between sees the message again, and the handlers are
// idempotent (a result for a task already finished is ignored), so a result that
// arrives twice is recorded once.
//
// Scale (sched.go): an event costs the task's dependents, not a pass over the
// plan (counts by status and a queue of ready tasks per plan); a task queued,
// started and finished between two writes costs one record write; each turn of
// the loop queues at most DispatchBatch tasks, the plans taking turns, and a
// plan has at most Window tasks queued or running, so a 10,000-task plan neither
// stalls the loop nor fills a queue ahead of a small plan submitted after it. A
// plan over the server's max payload travels through the object store
// queue.PlansBucket (see sendSubmit for why); MaxSpecBytes, the store's document
// limit, is the one bound on a plan. docs/BENCHMARKS.md has the figures.
//
// Delivery settings are the master's: it sets up each queue's consumer with
// Config.AckWait (queue.EnsureQueue) before its first dispatch there, the same
// for every agent; agents bind to it and heartbeat every third of it.
//
// Housekeeping: the leader runs Config.GC (models.Store.GC: weights and chunks of
// killed uploads older than GCGrace) every GCEvery beside the loop, and fails a
// queued task whose queue no agent has served (the agents bucket says who serves
// what) for the plan's unserved_timeout.
//
// Scheduling: a task whose dependencies have all succeeded is queued on its capability's
// queue with the outputs of those dependencies attached. The task message carries a
// de-duplication id (plan/task/dispatch) and is published before its record is saved,
// so a master restarted between the two publishes the same id again and the queue
// stores it once. A task that fails for good blocks every task downstream of it, and
// the plan's record says which. A ticker reschedules what could not be queued (the
// server was down) and picks up plans resumed from the store.
//
// Trust: each task carries a token, HMAC-SHA256 of its plan, id and dispatch number
// under a key only masters read (KeyBucket; see Token), and the agent echoes it in
// its events. An event whose token does not verify is dropped with a warning that
// names the task, not the token, so an agent reports only on what was delivered to
// it and nothing else on the bus can fake a result. The master creates a queue's
// consumer when it first dispatches to it, and the roster and big-plans buckets at
// start: agents and clients with credentials may only bind to them.
//
// Commands come in through the stream as well, so `tl submit` works while the master
// is down and the plan starts when it is back. Submit, Cancel and Retry are the
// client side of those commands.
//
// Checks at submit: the master validates a plan when it takes it, against what the
// agents announced in the agents bucket (queue.AgentInfo): every task's kind must be
// run by some agent, and for a kind registered with its params type
// (task.Registry.RegisterWithParams) every parameter field must be one the type
// takes. A plan that fails is not run: it is recorded as failed, with the reason in
// its note (no task records), and the reason goes back to the submitter as a
// Verdict on queue.VerdictSubject(plan), which SubmitChecked waits for; the error
// wraps ErrRejected and lists the valid kinds or fields. While no agent has
// announced, a plan is accepted with a warning and the agents check its tasks when
// they run them (a permanent error then fails the task at once, without retries).
// Warnings also name a task's queue that no agent running its kind serves.
//
// Several masters, one leader: Run first campaigns for a lease, the key "leader" of
// the JetStream key-value bucket LeaderBucket, whose value (LeaderInfo) names the
// holder by Config.ID. KV Create succeeds only while the key is absent, so one
// master wins; the others log that they stand by and who leads, and retry every
// LeaseTTL/3, and at once when a watch on the key sees it deleted. The leader
// renews the lease every LeaseTTL/3 by an Update against the revision it last
// wrote. The bucket's MaxAge is the TTL, so a lease not renewed vanishes LeaseTTL
// after its last write (per-key TTLs would need Update to carry one, and nats.go's
// does not); the master that wins sets MaxAge to its own LeaseTTL, standbys never
// touch it. Only the leader does what is described above, in a term: it clears
// the plans in hand (another master may have led since its last term), resumes
// from the store, consumes and ticks, under a context that ends when Run's ctx
// ends or the lease is lost. Then it goes back to campaigning. When Run's ctx ends,
// the leader deletes the key (only at its own revision) so that a standby takes
// over at once instead of after the TTL. Leading and Leader tell who leads.
//
// The lease is lost when a renewal finds another revision (the key expired, or
// another master took it), or when no renewal has succeeded for LeaseTTL counted
// from when the last successful write was sent; the server stamped that write
// later, so on clocks that run at the same rate the leader gives up no later than
// a standby can take over. What this guarantees, and what not: it is a lease
// without fencing. A leader paused (GC, SIGSTOP, a slow VM) past its TTL, and any
// leader for the rest of the message in hand and of a pull (at most
// min(Tick, LeaseTTL/3)) after it gave up, can still handle messages while the
// new leader does. Such an overlap is harmless: both masters pull from the same
// durable consumer, so each message goes to one of them and is acked after its
// write; plan records are written compare-and-set on their revision, so a write
// from stale memory fails with status.ErrConflict and the message comes back
// (task records are written in batches without that check, relying on the
// lease: a master stops writing when its term's context ends);
// task messages are published under their de-duplication id, so a task queued by
// both is queued once; and the handlers are idempotent, so a message handled by
// both is recorded once. The messages a master pulled but did not handle before
// giving up are nak'd for the leader. A server restart of a file-backed bucket
// keeps the lease; the leader renews it when it reconnects, if within the TTL.
//
// Lock order: Master.mu guards only the bounded list of rejected messages read by
// Rejected; the plan state belongs to the Run goroutine, which runs each term in
// turn; leading and holdLease are atomics. One goroutine per term renews the
// lease and alone touches it until the term ends.
package master
