package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

// Config configures an agent.
type Config struct {
	// NATSURL is the server to pull from (required).
	NATSURL string
	// Queues are the capabilities served, in order of preference; default ["cpu"].
	Queues []string
	// Slots is how many tasks run at once; default 1.
	Slots int
	// AckWait is the ack deadline set on the queues' consumers; default 30s.
	AckWait time.Duration
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

	mu        sync.Mutex
	running   map[string]context.CancelCauseFunc // task key -> cancel of its function
	cancelled map[string]time.Time               // plan id -> when cancellation arrived
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
		running:   map[string]context.CancelCauseFunc{},
		cancelled: map[string]time.Time{},
	}
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "tl-agent "+cfg.ID, a.log)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", cfg.ID, err)
	}
	a.nc, a.js = nc, js
	for _, q := range cfg.Queues {
		c, err := queue.TaskConsumer(ctx, js, q, cfg.AckWait)
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

	a.log.Info("agent started", "nats", a.cfg.NATSURL, "queues", a.cfg.Queues, "slots", a.cfg.Slots, "kinds", a.info.Kinds)
	var wg sync.WaitGroup
	for i := range a.cfg.Slots {
		wg.Go(func() { a.slot(ctx, work, i) })
	}
	wg.Wait()
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
		return &task.Event{Type: typ, Plan: t.Plan, Task: t.ID, Dispatch: t.Dispatch, Attempt: attempt, Agent: a.cfg.ID, Time: time.Now().UTC()}
	}
	if a.isCancelled(t.Plan) {
		log.Info("plan cancelled; dropping task")
		a.finish(work, msg, ev(task.Cancelled), msg.Term)
		return
	}
	if deliveries > t.MaxAttempts {
		e := ev(task.Failed)
		e.Error = fmt.Sprintf("attempt %d was lost (its agent died or missed the ack deadline) and the %d attempts allowed are used up", attempt-1, t.MaxAttempts)
		log.Warn("task out of attempts", "err", e.Error)
		a.finish(work, msg, e, msg.Term)
		return
	}
	if err := a.publish(work, ev(task.Started)); err != nil {
		log.Warn("could not report start; going on", "err", err)
	}
	log.Info("task started", "queue", q, "delivery", deliveries)

	out, err := a.run(work, msg, t, attempt)
	switch {
	case err == nil:
		e := ev(task.Succeeded)
		e.Output = out
		log.Info("task succeeded")
		a.finish(work, msg, e, func() error {
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
		a.finish(work, msg, ev(task.Cancelled), msg.Term)
	case task.IsPermanent(err) || deliveries >= t.MaxAttempts:
		e := ev(task.Failed)
		e.Error = err.Error()
		log.Warn("task failed", "err", err, "permanent", task.IsPermanent(err))
		a.finish(work, msg, e, msg.Term)
	default:
		e := ev(task.AttemptFailed)
		e.Error = err.Error()
		delay := min(a.cfg.RetryDelay<<(deliveries-1), time.Minute)
		log.Warn("attempt failed; will retry", "err", err, "delay", delay)
		a.finish(work, msg, e, func() error { return msg.NakWithDelay(delay) })
	}
}

// run calls the task's function with heartbeats, a timeout and cancellation.
func (a *Agent) run(work context.Context, msg jetstream.Msg, t *task.Task, attempt int) (out json.RawMessage, err error) {
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

	hbDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(a.cfg.AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-tick.C:
				if err := msg.InProgress(); err != nil {
					a.log.Warn("heartbeat failed", "task", t.Key(), "err", err)
				}
			}
		}
	}()
	defer close(hbDone)

	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("task function %q panicked: %v\n%s", t.Kind, r, debug.Stack())
		}
	}()
	out, err = f(ctx, &task.Run{Task: t, Attempt: attempt, Agent: a.cfg.ID, Services: a.cfg.Services,
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

// finish publishes e and then settles msg; if the event cannot be published the
// message is left to come back after its deadline, so nothing is lost.
func (a *Agent) finish(work context.Context, msg jetstream.Msg, e *task.Event, settle func() error) {
	if err := a.publish(work, e); err != nil {
		a.log.Error("could not report to the master; the task will be delivered again", "task", e.Plan+"/"+e.Task, "event", e.Type, "err", err)
		return
	}
	if err := settle(); err != nil {
		a.log.Warn("ack failed; the task may be delivered again", "task", e.Plan+"/"+e.Task, "event", e.Type, "err", err)
	}
}

// publish sends e, riding out a short server outage.
func (a *Agent) publish(work context.Context, e *task.Event) error {
	ctx := context.WithoutCancel(work)
	return queue.Retry(ctx, 2*a.cfg.AckWait, func(ctx context.Context) error {
		return queue.PublishEvent(ctx, a.js, e)
	})
}

// reject reports and removes a message that is not a task.
func (a *Agent) reject(work context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, err error) {
	a.log.Error("rejected a message that is not a valid task", "subject", msg.Subject(), "seq", meta.Sequence.Stream, "err", err)
	e := &task.Event{Type: task.Rejected, Agent: a.cfg.ID, Time: time.Now().UTC(), Subject: msg.Subject(), Seq: meta.Sequence.Stream, Error: err.Error()}
	a.finish(work, msg, e, func() error { return msg.TermWithReason("malformed task: " + err.Error()) })
}

func (a *Agent) onCancel(m *nats.Msg) {
	plan := string(m.Data)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cancelled[plan] = time.Now()
	for k, cancel := range a.running {
		if len(k) > len(plan) && k[:len(plan)] == plan && k[len(plan)] == '/' {
			cancel(errPlanCancelled)
		}
	}
	// Forget old cancellations: the master has removed their queued tasks by now.
	for p, at := range a.cancelled {
		if time.Since(at) > time.Hour {
			delete(a.cancelled, p)
		}
	}
}

func (a *Agent) isCancelled(plan string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.cancelled[plan]
	return ok
}

// announce keeps the agent's entry in the agents bucket fresh until ctx ends.
func (a *Agent) announce(ctx context.Context) {
	kv, err := queue.AgentsKV(ctx, a.js)
	if err != nil {
		a.log.Warn("cannot announce this agent; tl status will not list it", "err", err)
		return
	}
	tick := time.NewTicker(queue.AnnounceTTL / 3)
	defer tick.Stop()
	for {
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
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := queue.Announce(actx, kv, &info); err != nil && ctx.Err() == nil {
			a.log.Debug("announce failed", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = kv.Delete(dctx, a.cfg.ID)
			cancel()
			return
		case <-tick.C:
		}
	}
}
