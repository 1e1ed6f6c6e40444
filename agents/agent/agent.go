package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/redact"
)

// Config configures an agent.
type Config struct {
	// NATSURL is the server to pull from (required).
	NATSURL string
	// Queues are the capabilities served, in order of preference; default ["cpu"].
	Queues []string
	// Slots is how many tasks run at once; default 1.
	Slots int
	// AckWait is the ack deadline of a queue's consumer that the agent has to
	// create because no master has set the queue up yet; default 30s. It never
	// changes an existing consumer: a queue's delivery settings are the
	// master's (queue.EnsureQueue), the same for every agent. The agent
	// heartbeats every third of the ack deadline the consumer has.
	AckWait time.Duration
	// StateDir holds the agent's outbox: the result of a finished task stays
	// there (files 0600) until the master has taken it, so that a result
	// outlives an outage of the server or a restart of the agent. Empty keeps
	// the outbox in memory: it outlives an outage, not a restart.
	StateDir string
	// Grace is how long a running task may finish after shutdown starts; default 30s.
	Grace time.Duration
	// RetryDelay is the back-off before a failed attempt is redelivered, doubled per
	// attempt up to a minute; default 1s.
	RetryDelay time.Duration
	// PollWait bounds one pull request, and so how long shutdown waits for an idle
	// slot; default 2s divided over the queues, at least 250ms.
	PollWait time.Duration
	// ID names the agent; default host-pid.
	ID string
	// Registry holds the functions this agent can run (required).
	Registry *task.Registry
	// Services is handed to every function in task.Run.Services.
	Services any
	// Credentials, when set, are presented to the server (the embedded one
	// requires them). They allow binding to the queues' consumers, not
	// creating them: an agent waits for the master to set a queue up.
	Credentials *queue.Credentials
	// Log receives the agent's log; default slog.Default().
	Log *slog.Logger
}

// Agent pulls and runs tasks. Create it with New and start it with Run.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	info queue.AgentInfo

	nc   *nats.Conn
	js   jetstream.JetStream
	cons map[string]jetstream.Consumer
	box  *outbox
	// results is the bucket where a settled delivery's result is left for an
	// agent that gets the task again after a lost ack (queue.DoneBucket);
	// nil when the server has none (a master from before it).
	results jetstream.KeyValue

	// Lock order: mu before box.mu (outbox methods never call back).
	mu sync.Mutex
	// reconn is closed (and replaced) when the connection comes back, so that
	// heartbeats go out at once: after a server restart, pending tasks whose
	// deadline passed during the outage are redelivered within about a second.
	reconn chan struct{}
	// readAt is when each queue's consumer was last read (see ackWait).
	readAt    map[string]time.Time
	running   map[string]context.CancelCauseFunc // task key -> cancel of its function
	cancelled map[string]cancellation            // plan id -> its last cancellation
	done      int64
}

// errPlanCancelled is the cause given to a function whose plan was cancelled.
var errPlanCancelled = errors.New("plan cancelled")

// errHandBack is the cause given to a function still running when Grace ends.
var errHandBack = errors.New("agent shutting down: task handed back")

// Check validates cfg and fills in its defaults (all but ID and Log); New calls it.
// Its errors are usage errors: retrying cannot help.
func (cfg *Config) Check() error {
	if cfg.NATSURL == "" {
		return errors.New("agent: no NATS URL (flag --nats, or TL_NATS_URL, or a local master's endpoints file)")
	}
	if cfg.Registry == nil || len(cfg.Registry.Kinds()) == 0 {
		return errors.New("agent: no task functions registered")
	}
	if len(cfg.Queues) == 0 {
		cfg.Queues = []string{"cpu"}
	}
	for _, q := range cfg.Queues {
		if !task.ValidName(q) {
			return fmt.Errorf("agent: queue %q: not a queue name (letters, digits, '-', '_')", q)
		}
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = queue.DefaultAckWait
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = max(2*time.Second/time.Duration(len(cfg.Queues)), 250*time.Millisecond)
	}
	return nil
}

// New validates cfg, connects, and prepares the queues' consumers.
func New(ctx context.Context, cfg Config) (*Agent, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &Agent{
		cfg: cfg,
		log: cfg.Log.With("agent", cfg.ID),
		info: queue.AgentInfo{
			ID: cfg.ID, Host: host, PID: os.Getpid(), Queues: cfg.Queues,
			Kinds: cfg.Registry.Kinds(), Specs: cfg.Registry.Specs(), Slots: cfg.Slots, Started: time.Now().UTC(),
		},
		cons:      map[string]jetstream.Consumer{},
		reconn:    make(chan struct{}),
		readAt:    map[string]time.Time{},
		running:   map[string]context.CancelCauseFunc{},
		cancelled: map[string]cancellation{},
	}
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "tl-agent "+cfg.ID, a.log, cfg.Credentials.Options()...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", cfg.ID, err)
	}
	a.nc, a.js = nc, js
	boxDir := "" // in memory
	if cfg.StateDir != "" {
		boxDir = filepath.Join(cfg.StateDir, "outbox")
	}
	box, err := newOutbox(boxDir)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("agent %s: %w", cfg.ID, err)
	}
	a.box = box
	if a.results, err = queue.DoneKV(ctx, js); err != nil {
		a.log.Warn("no results bucket (a master older than this agent?): a task whose ack is lost may run again on another agent", "err", err)
		a.results = nil
	}
	nc.SetReconnectHandler(func(c *nats.Conn) {
		a.log.Info("nats reconnected; heartbeating the tasks in hand", "url", redact.URL(c.ConnectedUrl()))
		a.mu.Lock()
		close(a.reconn)
		a.reconn = make(chan struct{})
		a.mu.Unlock()
	})
	for _, q := range cfg.Queues {
		var c jetstream.Consumer
		if cfg.Credentials != nil {
			c, err = bindConsumer(ctx, js, q, cfg.PollWait)
		} else {
			c, err = queue.TaskConsumer(ctx, js, q, cfg.AckWait)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("agent %s: %w", cfg.ID, err)
		}
		a.cons[q] = c
	}
	return a, nil
}

// ID returns the agent's name.
func (a *Agent) ID() string { return a.cfg.ID }

// Run pulls and runs tasks until ctx ends, then shuts down cleanly: running tasks get
// Config.Grace to finish and are handed back otherwise. It closes the connection.
func (a *Agent) Run(ctx context.Context) error {
	defer a.nc.Close()
	sub, err := a.nc.Subscribe(queue.CancelSubject, a.onCancel)
	if err != nil {
		return fmt.Errorf("agent %s: subscribe %s: %w", a.cfg.ID, queue.CancelSubject, err)
	}
	defer sub.Unsubscribe()

	// Functions run under work, which outlives ctx by Grace.
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	go func() {
		<-ctx.Done()
		t := time.NewTimer(a.cfg.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			stopWork(errHandBack)
		case <-work.Done():
		}
	}()

	announceDone := make(chan struct{})
	go func() { defer close(announceDone); a.announce(ctx) }()
	// The outbox is read before the first pull: its tasks, delivered again,
	// are settled with their results rather than run.
	left := a.box.load(a.log)
	drained := make(chan struct{})
	go func() { defer close(drained); a.drain(work, left) }()

	a.log.Info("agent started", "nats", redact.URL(a.cfg.NATSURL), "queues", a.cfg.Queues, "slots", a.cfg.Slots, "kinds", a.info.Kinds)
	var wg sync.WaitGroup
	for i := range a.cfg.Slots {
		wg.Go(func() { a.slot(ctx, work, i) })
	}
	wg.Wait()
	stopWork(nil)
	<-drained
	<-announceDone
	a.log.Info("agent stopped")
	return nil
}

// slot pulls one task at a time until ctx ends.
func (a *Agent) slot(ctx, work context.Context, n int) {
	qs := a.cfg.Queues
	for i := n; ctx.Err() == nil; i++ {
		q := qs[i%len(qs)]
		// FetchMaxWait, not FetchContext: a fetch cut short by its context drops a
		// message the server already sent, which then waits out its ack deadline.
		msg, err := a.cons[q].Next(jetstream.FetchMaxWait(a.cfg.PollWait))
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				a.log.Debug("pull failed; retrying", "queue", q, "err", err)
				sleep(ctx, 250*time.Millisecond)
			}
			continue
		}
		if ctx.Err() != nil {
			// Shutdown began during the pull: hand the task straight back.
			_ = msg.Nak()
			return
		}
		a.handle(work, q, msg)
		i-- // stay on the queue that had work
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handle runs one delivered message to its end: an event and an ack, Nak or Term.
func (a *Agent) handle(work context.Context, q string, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		a.log.Error("task message without JetStream metadata; terminating it", "queue", q, "err", err)
		_ = msg.Term()
		return
	}
	t, err := task.Decode(msg.Data())
	if err != nil {
		a.reject(work, msg, meta, err)
		return
	}
	deliveries := int(meta.NumDelivered)
	attempt := t.AttemptBase + deliveries
	log := a.log.With("task", t.Key(), "kind", t.Kind, "attempt", attempt)
	ev := func(typ task.EventType) *task.Event {
		return &task.Event{Type: typ, Plan: t.Plan, Task: t.ID, Dispatch: t.Dispatch, Attempt: attempt, Agent: a.cfg.ID, Time: time.Now().UTC(), Token: t.Token}
	}
	prev, by := a.box.delivered(t.Plan, t.ID, t.Dispatch), "this agent"
	if prev == nil && deliveries > 1 && a.results != nil {
		// Delivered again: another agent may have settled it and lost its
		// ack. Right after a node died the bucket may have no leader yet:
		// ask again for a while, holding the message, before running it.
		stop := a.heartbeat(q, msg, t.Key())
		err := queue.Retry(work, findPatience, func(ctx context.Context) error {
			var err error
			prev, err = queue.FindDone(ctx, a.results, q, t)
			return err
		})
		stop()
		if err != nil {
			log.Warn("could not look for an earlier result of this delivery; running the task", "err", err)
		}
		by = "another agent"
	}
	if prev != nil {
		// An agent finished this dispatch and reported it, but the message came
		// back (the ack was lost, or the deadline passed during an outage): the
		// result stands, the task is not run again.
		log.Info("task delivered again after its result was reported; settling it with that result", "event", prev.Type, "by", by)
		settle := msg.Term
		if prev.Type == task.Succeeded {
			settle = msg.Ack
		}
		a.finish(work, q, msg, prev, settle)
		return
	}
	if a.isCancelled(t.Plan, meta.Sequence.Stream) {
		log.Info("plan cancelled; dropping task")
		a.finish(work, q, msg, ev(task.Cancelled), msg.Term)
		return
	}
	if deliveries > t.MaxAttempts {
		e := ev(task.Failed)
		e.Error = fmt.Sprintf("attempt %d was lost (its agent died or missed the ack deadline) and the %d attempts allowed are used up", attempt-1, t.MaxAttempts)
		log.Warn("task out of attempts", "err", e.Error)
		a.finish(work, q, msg, e, msg.Term)
		return
	}
	// Not waited for: one round trip less per task; a start the master misses
	// costs only the running state in tl status.
	if err := queue.PublishEventAsync(a.js, ev(task.Started)); err != nil {
		log.Warn("could not report start; going on", "err", err)
	}
	log.Info("task started", "queue", q, "delivery", deliveries)

	out, err := a.run(work, q, msg, t, attempt)
	switch {
	case err == nil:
		e := ev(task.Succeeded)
		e.Output = out
		log.Info("task succeeded")
		a.finish(work, q, msg, e, func() error {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(work), 10*time.Second)
			defer cancel()
			return msg.DoubleAck(ctx)
		})
		a.mu.Lock()
		a.done++
		a.mu.Unlock()
	case errors.Is(err, errHandBack):
		log.Warn("shutting down: handing the task back")
		if err := msg.Nak(); err != nil {
			log.Error("hand back failed; the task returns after its ack deadline", "err", err)
		}
	case errors.Is(err, errPlanCancelled):
		log.Info("task stopped: plan cancelled")
		a.finish(work, q, msg, ev(task.Cancelled), msg.Term)
	case task.IsPermanent(err) || deliveries >= t.MaxAttempts:
		e := ev(task.Failed)
		e.Error = err.Error()
		log.Warn("task failed", "err", err, "permanent", task.IsPermanent(err))
		a.finish(work, q, msg, e, msg.Term)
	default:
		e := ev(task.AttemptFailed)
		e.Error = err.Error()
		delay := min(a.cfg.RetryDelay<<(deliveries-1), time.Minute)
		log.Warn("attempt failed; will retry", "err", err, "delay", delay)
		a.finish(work, q, msg, e, func() error { return msg.NakWithDelay(delay) })
	}
}

// run calls the task's function with heartbeats, a timeout and cancellation.
func (a *Agent) run(work context.Context, q string, msg jetstream.Msg, t *task.Task, attempt int) (out json.RawMessage, err error) {
	f, err := a.cfg.Registry.Lookup(t.Kind)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(work)
	defer cancel(nil)
	if t.Timeout > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, time.Duration(t.Timeout), fmt.Errorf("attempt timed out after %v", time.Duration(t.Timeout)))
		defer c()
	}
	a.mu.Lock()
	a.running[t.Key()] = cancel
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.running, t.Key())
		a.mu.Unlock()
	}()

	defer a.heartbeat(q, msg, t.Key())()

	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("task function %q panicked: %v\n%s", t.Kind, r, debug.Stack())
		}
	}()
	out, err = f(ctx, &task.Run{Task: t, Attempt: attempt, Agent: a.cfg.ID, Services: a.cfg.Services, NATS: a.nc,
		Log: a.log.With("task", t.Key(), "kind", t.Kind, "attempt", attempt)})
	if cause := context.Cause(ctx); ctx.Err() != nil && (errors.Is(cause, errHandBack) || errors.Is(cause, errPlanCancelled)) {
		return nil, cause
	}
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != nil && !errors.Is(err, context.Cause(ctx)) {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		// The event names the task and attempt; the error stays the function's own.
		return nil, err
	}
	if len(out) > 0 && !json.Valid(out) {
		return nil, task.Permanent(fmt.Errorf("task %s (%s): function returned output that is not JSON: %.60q", t.Key(), t.Kind, out))
	}
	return out, nil
}

// heartbeat tells the server, every third of queue q's ack deadline and at
// once after a reconnection, that msg is still in hand, until the returned
// function is called: a task is not delivered to another agent while this
// attempt is alive.
func (a *Agent) heartbeat(q string, msg jetstream.Msg, key string) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			every := a.ackWait(q) / 3
			a.mu.Lock()
			reconn := a.reconn
			a.mu.Unlock()
			t := time.NewTimer(every)
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			case <-reconn:
				t.Stop()
			}
			if err := msg.InProgress(); err != nil {
				a.log.Warn("heartbeat failed", "task", key, "err", err)
			}
		}
	}()
	return func() { close(done); <-exited }
}

// ackWait returns queue q's ack deadline, reading the consumer again when the
// last reading is more than a second old: the master may have set the queue
// up (or changed its deadline) after this agent bound to it.
func (a *Agent) ackWait(q string) time.Duration {
	c := a.cons[q]
	if c == nil {
		return queue.DefaultAckWait
	}
	a.mu.Lock()
	stale := time.Since(a.readAt[q]) > time.Second
	if stale {
		a.readAt[q] = time.Now() // one reader at a time
	}
	a.mu.Unlock()
	if stale {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := c.Info(ctx); err != nil {
			a.log.Debug("cannot read the queue's consumer; heartbeats follow the last reading", "queue", q, "err", err)
		}
		cancel()
	}
	return queue.AckWaitOf(c)
}

// finish reports e and then settles msg. The event goes to the outbox first and
// is published until the stream takes it, however long the server is away,
// while heartbeats keep the message: a finished task is neither run again nor
// its result lost. If the agent stops first (Grace ended) the event stays in
// the outbox for its next start and the message comes back after its deadline.
//
// A final event is also left in the results bucket before the message is
// settled, for whichever agent gets the task again: the acks of failures and
// cancellations are not confirmed, and even a success's confirmed ack is lost
// when the consumer leader dies before replicating it. The result is left
// alongside the report, retried until the bucket has it, and the ack waits
// for both: when a node dies, the bucket's stream and the events' elect new
// leaders in their own time, and a redelivery (the queue's consumer lost the
// heartbeats during its own election) must find the result as soon as the
// bucket answers again. A three-node cluster test ran a task twice when the
// result was left after the report (the report waited seven seconds for its
// stream, the redelivery came at nine).
func (a *Agent) finish(work context.Context, q string, msg jetstream.Msg, e *task.Event, settle func() error) {
	key := e.Plan + "/" + e.Task
	final := e.Type.Final()
	if final {
		if err := a.box.put(e); err != nil {
			a.log.Warn("could not keep the result on disk; it is kept in memory until the master takes it", "task", key, "err", err)
		}
	}
	stop := a.heartbeat(q, msg, key)
	var left chan struct{}
	if final && a.results != nil {
		left = make(chan struct{})
		go func() {
			defer close(left)
			a.leaveResult(work, q, e)
		}()
	}
	if err := a.publish(work, e, 0); err != nil {
		stop()
		a.log.Error("could not report to the master before stopping; the result stays in the outbox for the next start, the task comes back after its ack deadline", "task", key, "event", e.Type, "err", err)
		return
	}
	if final {
		a.box.done(e)
	}
	if left != nil {
		<-left
	}
	stop()
	if err := settle(); err != nil {
		a.log.Warn("ack failed; the task may be delivered again (its result stands)", "task", key, "event", e.Type, "err", err)
	}
}

// findPatience is how long a redelivered task's agent keeps asking the
// results bucket before it runs the task without knowing: longer than a
// stream's leader election after a node's death (seconds).
const findPatience = 30 * time.Second

// leaveResult puts e, a final event, in the results bucket, riding out a
// server outage for up to a minute: a redelivery comes an ack deadline after
// the last heartbeat.
func (a *Agent) leaveResult(work context.Context, q string, e *task.Event) {
	if a.results == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(work), time.Minute)
	defer cancel()
	err := queue.Retry(ctx, time.Minute, func(ctx context.Context) error { return queue.MarkDone(ctx, a.results, q, e) })
	if err != nil {
		a.log.Warn("could not leave the result for a redelivery: the task may run again on another agent", "task", e.Plan+"/"+e.Task, "err", err)
	}
}

// publish sends e, riding out a server outage for patience, or until work ends
// if patience is zero.
func (a *Agent) publish(work context.Context, e *task.Event, patience time.Duration) error {
	ctx := context.WithoutCancel(work)
	if patience <= 0 {
		ctx, patience = work, 1<<62
	}
	return queue.Retry(ctx, patience, func(ctx context.Context) error {
		return queue.PublishEvent(ctx, a.js, e)
	})
}

// drain publishes the events an earlier run left in the outbox, until the
// stream has each or work ends.
func (a *Agent) drain(work context.Context, evs []*task.Event) {
	if len(evs) == 0 {
		return
	}
	a.log.Info("delivering results left in the outbox by an earlier run", "events", len(evs), "dir", a.box.dir)
	for _, e := range evs {
		if err := a.publish(work, e, 0); err != nil {
			a.log.Warn("outbox not drained before stopping; it is tried again at the next start", "err", err)
			return
		}
		a.box.done(e)
	}
}

// reject reports and removes a message that is not a task.
func (a *Agent) reject(work context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	a.log.Error("rejected a message that is not a valid task", "subject", msg.Subject(), "seq", meta.Sequence.Stream, "err", err)
	e := &task.Event{Type: task.Rejected, Agent: a.cfg.ID, Time: time.Now().UTC(), Subject: msg.Subject(), Seq: meta.Sequence.Stream, Error: err.Error()}
	a.finish(work, "", msg, e, func() error { return msg.TermWithReason("malformed task: " + err.Error()) })
}

// cancellation is a plan's cancel as an agent heard it: when, and the last
// task-stream sequence it covers (0: all).
type cancellation struct {
	at   time.Time
	upTo uint64
}

func (a *Agent) onCancel(m *nats.Msg) {
	plan, upTo := queue.ParseCancel(m.Data)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cancelled[plan] = cancellation{at: time.Now(), upTo: upTo}
	for k, cancel := range a.running {
		if len(k) > len(plan) && k[:len(plan)] == plan && k[len(plan)] == '/' {
			cancel(errPlanCancelled)
		}
	}
	// Forget old cancellations: the master has removed their queued tasks by now.
	for p, c := range a.cancelled {
		if time.Since(c.at) > time.Hour {
			delete(a.cancelled, p)
		}
	}
}

// isCancelled reports whether the task of plan stored at sequence seq of the
// task stream was cancelled: a task a retry published after the cancel was not.
func (a *Agent) isCancelled(plan string, seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cancelled[plan]
	return ok && (c.upTo == 0 || seq <= c.upTo)
}

// announce keeps the agent's entry in the agents bucket (the roster) fresh until
// ctx ends, reopening the bucket when a write fails (the server restarted, or
// the bucket was lost with a server's memory), and rereads the queues'
// consumers so that heartbeats follow their ack deadlines.
func (a *Agent) announce(ctx context.Context) {
	var kv jetstream.KeyValue
	tick := time.NewTicker(queue.AnnounceTTL / 3)
	defer tick.Stop()
	for {
		if kv == nil {
			var err error
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if kv, err = queue.AgentsKV(actx, a.js); err != nil && ctx.Err() == nil {
				a.log.Warn("cannot announce this agent yet; tl status does not list it until it can", "err", err)
			}
			cancel()
		}
		info := a.info
		a.mu.Lock()
		info.Running = make([]string, 0, len(a.running))
		for k := range a.running {
			info.Running = append(info.Running, k)
		}
		info.Done = a.done
		a.mu.Unlock()
		slices.Sort(info.Running)
		info.Seen = time.Now().UTC()
		if kv != nil {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := queue.Announce(actx, kv, &info); err != nil && ctx.Err() == nil {
				a.log.Debug("announce failed; reopening the agents bucket", "err", err)
				kv = nil
			}
			cancel()
		}
		for q, c := range a.cons {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := c.Info(actx); err != nil && ctx.Err() == nil {
				a.log.Debug("cannot read the queue's consumer", "queue", q, "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			if kv != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				_ = kv.Delete(dctx, a.cfg.ID)
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}
