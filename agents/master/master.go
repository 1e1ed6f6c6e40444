package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/redact"
)

// Config configures a master.
type Config struct {
	// NATSURL is the server of the queues (required).
	NATSURL string
	// Store records plans and tasks (required).
	Store status.Store
	// Tick is how often unqueued ready tasks are retried; default 2s.
	Tick time.Duration
	// Batch is how many messages one pull takes from the master stream; default 64.
	Batch int
	// Log receives the master's log; default slog.Default().
	Log *slog.Logger
	// LeaseTTL is how long the leader lease lasts unrenewed; default 10s. The
	// leader renews it every LeaseTTL/3; a standby takes over at most about
	// LeaseTTL plus LeaseTTL/3 after a leader dies without releasing it.
	LeaseTTL time.Duration
	// ID names this master in the lease and the log; default host-pid-random.
	// Each master needs its own.
	ID string
	// Credentials, when set, are presented to the server (the embedded one
	// requires them): the master role's (queue.HomeCredentials).
	Credentials *queue.Credentials

	// AckWait is the ack deadline of the queues' consumers, which the master
	// sets up (queue.EnsureQueue) for every agent alike; default
	// queue.DefaultAckWait. Agents heartbeat every third of it.
	AckWait time.Duration
	// Window is how many tasks of one plan may be queued or running at once;
	// default 256. The rest wait in the master, so that a big plan does not
	// fill the queues ahead of the plans submitted after it.
	Window int
	// DispatchBatch is how many tasks one turn of the loop queues, all plans
	// together; default 256.
	DispatchBatch int
	// FlushEvery is how long task changes may wait in memory before they are
	// written in one batch (the messages that caused them are acknowledged
	// after the write); default 50ms.
	FlushEvery time.Duration
	// MaxUnacked writes the changes early when this many messages wait for
	// their ack; default 1024.
	MaxUnacked int

	// GC, when set, is run by the leader every GCEvery (default 1h) with
	// GCGrace (default 1h): models.Store.GC, which removes orphaned weight
	// chunks whose upload began more than the grace ago, so an upload in
	// progress is never collected.
	GC      func(ctx context.Context, grace time.Duration) (int, error)
	GCEvery time.Duration
	GCGrace time.Duration

	// LostGrace is how long a running task's agent may be missing from the
	// roster, its task's message gone from the queue with no result, before
	// the task is queued again (see checkLost); default 3·queue.AnnounceTTL.
	LostGrace time.Duration

	// Controllers run while this master leads, each on a goroutine of its
	// own, under a context that ends with the term: the stream controller's
	// rules, sweeps. They submit plans with SubmitAs under ids derived from
	// what they decided, so that the next leader repeating a decision runs it
	// once. An error is logged and the controller restarted after a pause;
	// it does not end the term.
	Controllers []Controller
}

// Controller is work that runs only on the leading master (see
// Config.Controllers).
type Controller struct {
	Name string
	Run  func(ctx context.Context) error
}

// Master runs plans. Create it with New and start it with Run.
type Master struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	host string
	// key signs the tasks' tokens (see Token); masters share it through KeyBucket.
	key []byte
	// queues have a consumer (set up by this master or found); Run goroutine only.
	queues map[string]bool

	// plans is the state of the plans in hand; only the Run goroutine touches it,
	// and it is rebuilt from the store at the start of each leadership term.
	plans map[string]*planState
	// s is the scheduler's state (sched.go); the Run goroutine's alone.
	s sched

	// leading is true from winning the lease until the master stopped handling
	// messages after losing or releasing it.
	leading atomic.Bool
	// holdLease is a test seam: while set, the master neither renews nor takes
	// the lease, as if cut off from the server.
	holdLease atomic.Bool

	mu       sync.Mutex // guards rejected
	rejected []task.Event
}

// New connects to NATS and creates the streams.
func New(ctx context.Context, cfg Config) (*Master, error) {
	if cfg.NATSURL == "" {
		return nil, errors.New("master: no NATS URL")
	}
	if cfg.Store == nil {
		return nil, errors.New("master: no status store")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = queue.DefaultAckWait
	}
	if cfg.Window <= 0 {
		cfg.Window = 256
	}
	if cfg.DispatchBatch <= 0 {
		cfg.DispatchBatch = 256
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 50 * time.Millisecond
	}
	if cfg.MaxUnacked <= 0 {
		cfg.MaxUnacked = 1024
	}
	if cfg.GCEvery <= 0 {
		cfg.GCEvery = time.Hour
	}
	if cfg.GCGrace <= 0 {
		cfg.GCGrace = time.Hour
	}
	if cfg.LostGrace <= 0 {
		cfg.LostGrace = 3 * queue.AnnounceTTL
	}
	host, _ := os.Hostname()
	m := &Master{cfg: cfg, log: cfg.Log.With("component", "master"), host: host, plans: map[string]*planState{}}
	nc, js, err := queue.Connect(ctx, cfg.NATSURL, "tl-master "+cfg.ID, m.log, cfg.Credentials.Options()...)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	if err := queue.Setup(ctx, js); err != nil {
		nc.Close()
		return nil, fmt.Errorf("master: %w", err)
	}
	if m.key, err = loadKey(ctx, js); err != nil {
		nc.Close()
		return nil, err
	}
	// The roster bucket, which agents with credentials may bind to, not create.
	if _, err := queue.AgentsKV(ctx, js); err != nil {
		m.log.Warn("cannot create the agents' roster; agents with credentials cannot announce themselves", "err", err)
	}
	// The big plans' object store, which clients with credentials may use, not create.
	if _, err := queue.PlanObjects(ctx, js); err != nil {
		m.log.Warn("cannot create the big plans' object store; clients with credentials cannot submit a plan over the message size", "err", err)
	}
	m.nc, m.js = nc, js
	return m, nil
}

// Rejected returns the malformed task messages agents reported, oldest first (at
// most the last 100).
func (m *Master) Rejected() []task.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.rejected)
}

// ID returns the master's id, the one its lease carries.
func (m *Master) ID() string { return m.cfg.ID }

// Leading reports whether this master is the leader: it holds the lease and
// handles the master stream's messages. At most one master leads at a time,
// except for the brief overlap the package documentation describes.
func (m *Master) Leading() bool { return m.leading.Load() }

// Run campaigns for the leader lease and, while it holds it, resumes the
// unfinished plans in the store and handles events and commands; when it loses
// the lease it stands by and campaigns again. It returns when ctx ends, releasing
// the lease if it holds it, and closes the NATS connection. An error means a term
// could not start (the store could not be read); the lease is released first.
func (m *Master) Run(ctx context.Context) error {
	defer m.nc.Close()
	m.log.Info("master started; campaigning for leadership", "id", m.cfg.ID, "lease_ttl", m.cfg.LeaseTTL)
	for {
		l, err := m.campaign(ctx)
		if err != nil {
			m.log.Info("master stopped", "id", m.cfg.ID)
			return nil // ctx ended
		}
		if err := m.lead(ctx, l); err != nil {
			return err
		}
	}
}

// lead runs one leadership term: it serves under a context that ends when ctx
// ends or the lease is lost, and releases the lease unless it was lost.
func (m *Master) lead(ctx context.Context, l *lease) error {
	lctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	kept := make(chan struct{})
	go func() { defer close(kept); m.keep(lctx, l, lost) }()
	m.leading.Store(true)
	m.log.Info("leading", "id", m.cfg.ID)
	ctrls := m.startControllers(lctx)
	err := m.serve(lctx)
	lost(nil)
	ctrls.Wait()
	<-kept // l is ours again
	m.leading.Store(false)
	if cause := context.Cause(lctx); errors.Is(cause, ErrLeaseLost) {
		m.log.Warn("lost the leader lease; standing by", "id", m.cfg.ID, "err", cause)
		return nil
	}
	m.release(l)
	if ctx.Err() != nil {
		return nil // stopping; serve's error, if any, came from that
	}
	return err
}

// startControllers starts Config.Controllers for a term; each is restarted
// after an error (with a pause that doubles up to a minute) until ctx ends.
func (m *Master) startControllers(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, c := range m.cfg.Controllers {
		wg.Go(func() {
			pause := time.Second
			for ctx.Err() == nil {
				err := c.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				m.log.Warn("controller stopped; restarting it", "controller", c.Name, "err", err, "in", pause)
				sleep(ctx, pause)
				pause = min(2*pause, time.Minute)
			}
		})
	}
	return &wg
}

// serve is a leadership term's work: it rebuilds the plan state from the store,
// then handles events and commands until ctx ends.
func (m *Master) serve(ctx context.Context) error {
	// A previous term's state may be stale: another master may have led since.
	clear(m.plans)
	m.s.reset()
	clear(m.queues)
	if err := m.resume(ctx); err != nil {
		return err
	}
	cons, err := m.js.Consumer(ctx, queue.MasterStream, queue.MasterConsumer)
	if err != nil {
		return fmt.Errorf("master: consumer %s: %w", queue.MasterConsumer, err)
	}
	m.log.Info("master running", "nats", redact.URL(m.cfg.NATSURL), "plans", len(m.plans))
	hk := make(chan struct{})
	go func() { defer close(hk); m.housekeep(ctx) }()
	defer func() { <-hk }()
	// A fetch does not see ctx end (below); bounding its wait bounds how long a
	// master that lost the lease goes on pulling messages.
	wait := min(m.cfg.Tick, m.cfg.LeaseTTL/3)
	lastTick := time.Now()
	var unacked []handled // applied in memory, acknowledged after the next write
	for ctx.Err() == nil {
		if time.Since(lastTick) >= m.cfg.Tick {
			m.tick(ctx)
			lastTick = time.Now()
		}
		more := m.pump(ctx)
		// Take what waits without waiting; wait for a message only when there
		// is nothing else to do (nothing to queue, nothing to write).
		batch, err := cons.FetchNoWait(m.cfg.Batch)
		n := 0
		if err == nil {
			n = m.apply(ctx, batch, &unacked)
		}
		if err == nil && n == 0 && !more && !m.flushDue(len(unacked)) {
			w := wait
			if len(m.s.dirty) > 0 || len(unacked) > 0 {
				w = min(w, max(m.cfg.FlushEvery-time.Since(m.s.flushed), time.Millisecond))
			}
			// FetchMaxWait, not FetchContext: a fetch cut short by its context drops
			// messages the server already sent, which then wait out their ack deadline.
			batch, err = cons.Fetch(1, jetstream.FetchMaxWait(w))
			if err == nil {
				m.apply(ctx, batch, &unacked)
			}
		}
		if err != nil && ctx.Err() == nil {
			m.log.Debug("fetch failed; retrying", "err", err)
			sleep(ctx, 250*time.Millisecond)
		}
		if m.flushDue(len(unacked)) || (len(unacked) > 0 && len(m.s.dirty) == 0) {
			m.settleMsgs(m.flush(ctx), unacked)
			unacked = unacked[:0]
		}
	}
	if errors.Is(context.Cause(ctx), ErrLeaseLost) {
		// Another master may lead now: write nothing; what was applied but not
		// written comes back to it.
		for _, h := range unacked {
			_ = h.msg.Nak()
		}
		return nil
	}
	// Stopping: write what was applied, briefly, then settle the messages.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m.settleMsgs(m.flush(fctx), unacked)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// resume loads the unfinished plans from the store.
func (m *Master) resume(ctx context.Context) error {
	ps, err := m.cfg.Store.Plans(ctx, true)
	if err != nil {
		return fmt.Errorf("master: resume: %w", err)
	}
	for _, p := range ps {
		if _, err := m.load(ctx, p.ID); err != nil {
			return fmt.Errorf("master: resume plan %s: %w", p.ID, err)
		}
		m.log.Info("resumed plan", "plan", p.ID, "status", p.Status)
	}
	return nil
}

// load reads a plan and its tasks from the store into m.plans.
func (m *Master) load(ctx context.Context, id string) (*planState, error) {
	rec, err := m.cfg.Store.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	var spec plan.Spec
	if err := json.Unmarshal([]byte(rec.SpecJSON), &spec); err != nil {
		return nil, fmt.Errorf("plan %s: stored spec: %w", id, err)
	}
	ts, err := m.cfg.Store.Tasks(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 && rec.Status == plan.Failed {
		// Rejected at submit (see reject): retrying it cannot help.
		return nil, fmt.Errorf("%w: plan %s was rejected when submitted, so none of its tasks ran: %s; submit a corrected plan", task.ErrMalformed, id, rec.Note)
	}
	ps := newPlanState(rec, &spec)
	for _, t := range ts {
		ps.adopt(t)
	}
	for _, t := range spec.Tasks {
		if ps.tasks[t.ID] == nil {
			return nil, fmt.Errorf("plan %s: task %s has no record", id, t.ID)
		}
	}
	m.hold(ps)
	// Its status may be behind its tasks' (the master stopped between the two writes).
	m.s.touched[id] = ps
	return ps, nil
}

// get returns the plan in hand, loading it from the store if needed.
func (m *Master) get(ctx context.Context, id string) (*planState, error) {
	if ps := m.plans[id]; ps != nil {
		return ps, nil
	}
	m.s.forgetFinished(id)
	return m.load(ctx, id)
}

// tick is the loop's periodic work: it forgets finished plans, settles the
// plans whose status could not be recorded, and fails tasks that waited too
// long on a queue no agent serves.
func (m *Master) tick(ctx context.Context) {
	kept := m.s.order[:0]
	for _, id := range m.s.order {
		ps := m.plans[id]
		if ps == nil {
			continue
		}
		if ps.rec.Status.Terminal() && len(ps.dirty) == 0 {
			delete(m.plans, id)
			m.s.rememberFinished(id)
			continue
		}
		kept = append(kept, id)
	}
	m.s.order = kept
	m.checkUnserved(ctx)
	m.checkLost(ctx)
}

// handled is a message applied in memory and what to do with it once the
// changes are written.
type handled struct {
	msg jetstream.Msg
	err error
}

// apply handles each message of batch in memory; the messages wait in unacked
// for the write (settleMsgs). It returns how many messages there were.
func (m *Master) apply(ctx context.Context, batch jetstream.MessageBatch, unacked *[]handled) int {
	n := 0
	for msg := range batch.Messages() {
		n++
		if ctx.Err() != nil {
			_ = msg.Nak() // for the next master
			continue
		}
		*unacked = append(*unacked, handled{msg: msg, err: m.handle(ctx, msg.Subject(), msg.Data())})
	}
	return n
}

// settleMsgs acknowledges the messages whose changes were written (flushErr
// nil), drops those the master cannot use, and hands back the others.
func (m *Master) settleMsgs(flushErr error, hs []handled) {
	if flushErr != nil {
		m.log.Warn("changes not recorded; their messages will come back", "messages", len(hs), "err", flushErr)
	}
	conflict := false
	for _, h := range hs {
		msg, err := h.msg, h.err
		switch {
		case err == nil && flushErr == nil:
			if err := msg.Ack(); err != nil {
				m.log.Warn("ack failed; the message may come back (handled idempotently)", "subject", msg.Subject(), "err", err)
			}
		case err != nil && (errors.Is(err, task.ErrMalformed) || errors.Is(err, status.ErrNotFound)):
			// Retrying cannot help: say what was wrong, drop the message.
			m.log.Error("dropped a message the master cannot use", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
		default:
			if err != nil {
				conflict = conflict || errors.Is(err, status.ErrConflict)
				m.log.Warn("message handling failed; it will come back", "subject", msg.Subject(), "err", err)
			}
			_ = msg.NakWithDelay(time.Second)
		}
	}
	if conflict {
		// Someone else wrote the records: reread them before the retry.
		m.drop()
	}
}

func (m *Master) handle(ctx context.Context, subject string, data []byte) error {
	if cmd, sender, ok := queue.IsControl(subject); ok {
		switch cmd {
		case CmdSubmit:
			var c SubmitCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: submit: %w", task.ErrMalformed, err)
			}
			c.owner = sender
			if c.Object != "" {
				return m.submitObject(ctx, &c)
			}
			return m.submit(ctx, &c)
		case CmdCancel:
			var c CancelCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: cancel: %w", task.ErrMalformed, err)
			}
			return m.cancel(ctx, c.Plan, sender)
		case CmdRetry:
			var c RetryCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: retry: %w", task.ErrMalformed, err)
			}
			return m.retry(ctx, &c, sender)
		}
		return fmt.Errorf("%w: unknown command %q", task.ErrMalformed, cmd)
	}
	e, err := task.DecodeEvent(data)
	if err != nil {
		return err
	}
	if e.Type == task.Rejected {
		m.log.Error("an agent rejected a malformed task message", "agent", e.Agent, "subject", e.Subject, "seq", e.Seq, "err", e.Error)
		m.mu.Lock()
		m.rejected = append(m.rejected, *e)
		if len(m.rejected) > 100 {
			m.rejected = m.rejected[1:]
		}
		m.mu.Unlock()
		return nil
	}
	if !m.verify(e) {
		// Not from the agent the task was delivered to: a forgery, or an agent
		// that got the task from a master before tokens. The token stays out of the log.
		m.log.Warn("dropped an event whose token does not verify (not sent by an agent the task was delivered to)",
			"event", e.Type, "plan", e.Plan, "task", e.Task, "dispatch", e.Dispatch, "agent", e.Agent, "token_given", e.Token != "")
		return nil
	}
	return m.event(ctx, e)
}

func (m *Master) submit(ctx context.Context, c *SubmitCmd) error {
	if !task.ValidName(c.Plan) {
		return fmt.Errorf("%w: submit: %q is not a plan id", task.ErrMalformed, c.Plan)
	}
	c.Spec.Defaults()
	if err := c.Spec.Validate(); err != nil {
		return m.reject(ctx, c, fmt.Errorf("%w: plan %s: %w", ErrRejected, c.Plan, err))
	}
	warnings, err := m.checkKinds(ctx, &c.Spec)
	if err != nil {
		return m.reject(ctx, c, err)
	}
	specJSON, err := json.Marshal(c.Spec)
	if err != nil {
		return m.reject(ctx, c, fmt.Errorf("%w: plan %s: params: %w", ErrRejected, c.Plan, err))
	}
	if len(specJSON) > MaxSpecBytes {
		return m.reject(ctx, c, fmt.Errorf("%w: plan %s: %d bytes as JSON, over the %d bytes a plan record may hold (the store's 16 MiB document limit): split the plan, or keep large params in the store and pass their names",
			ErrRejected, c.Plan, len(specJSON), MaxSpecBytes))
	}
	now := time.Now().UTC()
	rec := &status.Plan{ID: c.Plan, Name: c.Spec.Name, SpecJSON: string(specJSON), Status: plan.Running, Submitted: now, Updated: now, Owner: c.owner}
	var tasks []*status.Task
	for i, ts := range c.Spec.Tasks {
		t := &status.Task{
			Key: c.Plan + "/" + ts.ID, Plan: c.Plan, ID: ts.ID, Kind: ts.Kind, Queue: ts.Queue,
			Status: plan.Pending, MaxAttempts: ts.MaxAttempts, Updated: now, Index: i,
		}
		t.Record(status.Change{Time: now, Status: plan.Pending, Note: "submitted"})
		tasks = append(tasks, t)
	}
	if err := m.cfg.Store.CreatePlan(ctx, rec, tasks); err != nil {
		if errors.Is(err, status.ErrExists) {
			m.log.Info("plan already submitted; ignoring the repeat", "plan", c.Plan)
			m.answer(c.Plan, Verdict{Plan: c.Plan, Accepted: true, Warnings: warnings})
			return nil
		}
		return err
	}
	m.log.Info("plan submitted", "plan", c.Plan, "tasks", len(tasks))
	m.answer(c.Plan, Verdict{Plan: c.Plan, Accepted: true, Warnings: warnings})
	// The records in hand are those just written: no need to read them back.
	ps := newPlanState(rec, &c.Spec)
	for _, t := range tasks {
		ps.adopt(t)
	}
	m.hold(ps)
	m.schedule(ps)
	return nil
}

// reject records plan c as failed at submission, with why in its note, and
// answers the submitter. The plan has no task records: none was ever queued.
func (m *Master) reject(ctx context.Context, c *SubmitCmd, why error) error {
	m.log.Warn("plan rejected", "plan", c.Plan, "err", why)
	specJSON, _ := json.Marshal(c.Spec)
	now := time.Now().UTC()
	rec := &status.Plan{ID: c.Plan, Name: c.Spec.Name, SpecJSON: string(specJSON), Status: plan.Failed,
		Submitted: now, Updated: now, Finished: now, Note: why.Error()}
	if err := m.cfg.Store.CreatePlan(ctx, rec, nil); err != nil && !errors.Is(err, status.ErrExists) {
		return err
	}
	m.answer(c.Plan, Verdict{Plan: c.Plan, Error: why.Error()})
	return nil
}

// answer publishes the verdict on a submit; nobody may be listening (the
// submitter gave up waiting, or did not wait), and that is fine.
func (m *Master) answer(id string, v Verdict) {
	data, err := json.Marshal(v)
	if err == nil {
		err = m.nc.Publish(queue.VerdictSubject(id), data)
	}
	if err != nil {
		m.log.Warn("could not answer the submitter", "plan", id, "err", err)
	}
}

// checkKinds checks spec's kinds and parameters against what the agents
// announced: a kind no agent runs, or a parameter field a typed kind does not
// take, rejects the plan (an error wrapping ErrRejected). With no agent
// announced (or the announcements unreadable) the plan is accepted with a
// warning, and the agents check the tasks when they run them. Warnings also
// name the queues no agent running the kind serves now.
func (m *Master) checkKinds(ctx context.Context, spec *plan.Spec) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	agents, err := queue.ListAgents(lctx, m.js)
	cancel()
	if err != nil {
		w := fmt.Sprintf("could not read the agents' announcements (%v): task kinds and parameters are checked when the tasks run", err)
		m.log.Warn(w)
		return []string{w}, nil
	}
	if len(agents) == 0 {
		w := "no agent has announced itself yet: task kinds and parameters are checked when the tasks run"
		m.log.Warn(w, "plan", spec.Name)
		return []string{w}, nil
	}
	kinds := map[string]task.KindSpec{}
	queues := map[string]map[string]bool{} // kind -> queues served by agents that run it
	for _, a := range agents {
		specs := map[string]task.KindSpec{}
		for _, s := range a.Specs {
			specs[s.Kind] = s
		}
		for _, k := range a.Kinds {
			s, ok := specs[k]
			if !ok {
				s = task.KindSpec{Kind: k} // an agent that announces no fields: anything goes
			}
			cur, seen := kinds[k]
			switch {
			case !seen, cur.Typed && !s.Typed:
				kinds[k] = s
			case cur.Typed && s.Typed: // agents of different builds: the union of their fields
				for _, f := range s.Params {
					if !slices.Contains(cur.Params, f) {
						cur.Params = append(cur.Params, f)
					}
				}
				slices.Sort(cur.Params)
				kinds[k] = cur
			}
			if queues[k] == nil {
				queues[k] = map[string]bool{}
			}
			for _, q := range a.Queues {
				queues[k][q] = true
			}
		}
	}
	known := slices.Sorted(maps.Keys(kinds))
	var problems, warnings []string
	for _, t := range spec.Tasks {
		ks, ok := kinds[t.Kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("task %q: kind %q is not run by any of the %d agents announced; the kinds they run: %s", t.ID, t.Kind, len(agents), strings.Join(known, ", ")))
			continue
		}
		if err := ks.CheckParams(t.Params); err != nil {
			problems = append(problems, fmt.Sprintf("task %q: %v", t.ID, err))
		}
		if !queues[t.Kind][t.Queue] {
			warnings = append(warnings, fmt.Sprintf("task %q waits on queue %s: no agent running kind %s serves it now (they serve %s)", t.ID, t.Queue, t.Kind, strings.Join(slices.Sorted(maps.Keys(queues[t.Kind])), ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: plan %s: %s", ErrRejected, spec.Name, strings.Join(problems, "; "))
	}
	return warnings, nil
}

// schedule notes that ps changed: the loop queues its ready tasks (pump) and
// settles its status after the next write (flush).
func (m *Master) schedule(ps *planState) {
	m.s.touched[ps.rec.ID] = ps
}

func cloneTask(t *status.Task) *status.Task {
	c := *t
	c.History = slices.Clone(t.History)
	return &c
}

// settle recomputes the plan's status and saves it if it changed.
func (m *Master) settle(ctx context.Context, ps *planState) error {
	st := ps.status()
	if ps.rec.Status == plan.Cancelled && st != plan.Succeeded {
		st = plan.Cancelled
	}
	if st == ps.rec.Status {
		return nil
	}
	next := *ps.rec
	next.Status = st
	next.Updated = time.Now().UTC()
	next.Note = ""
	if st.Terminal() {
		next.Finished = next.Updated
		next.Note = summary(ps)
	}
	if err := m.cfg.Store.SavePlan(ctx, &next); err != nil {
		return err
	}
	ps.rec = &next
	m.log.Info("plan "+string(st), "plan", next.ID, "note", next.Note)
	return nil
}

// summary says, for a finished plan, what failed and what that blocked.
func summary(ps *planState) string {
	var parts []string
	for _, ts := range ps.spec.Tasks {
		t := ps.tasks[ts.ID]
		if t.Status != plan.Failed {
			continue
		}
		var blocked []string
		for _, d := range ps.downstream(ts.ID) {
			if ps.tasks[d].Status == plan.Blocked {
				blocked = append(blocked, d)
			}
		}
		s := fmt.Sprintf("task %s failed after %d attempts: %s", ts.ID, t.Attempt, t.Error)
		if len(blocked) > 0 {
			s += "; it blocks " + strings.Join(blocked, ", ")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n")
}

// event applies an agent's event to its task.
func (m *Master) event(ctx context.Context, e *task.Event) error {
	if m.s.finished[e.Plan] {
		// The plan finished (and was let go): news of it is late or repeated.
		m.log.Debug("event for a finished plan ignored", "plan", e.Plan, "task", e.Task, "event", e.Type)
		return nil
	}
	ps, err := m.get(ctx, e.Plan)
	if err != nil {
		return fmt.Errorf("event %s: %w", e.MsgID(), err)
	}
	cur := ps.tasks[e.Task]
	if cur == nil {
		return fmt.Errorf("%w: event %s: plan %s has no task %s", status.ErrNotFound, e.MsgID(), e.Plan, e.Task)
	}
	log := m.log.With("task", cur.Key, "attempt", e.Attempt, "agent", e.Agent)
	if cur.Status.Terminal() || e.Dispatch < cur.Dispatch || (cur.Status == plan.Pending && e.Dispatch == cur.Dispatch) {
		// A repeat, or news from a dispatch that is over (a retried task waits as
		// pending with its old dispatch number): already accounted for.
		log.Debug("stale event ignored", "event", e.Type, "status", cur.Status)
		return nil
	}
	t := cloneTask(cur)
	// A dispatch newer than the record: the master stopped between publishing it
	// and recording it, and the record catches up here.
	t.Dispatch = max(t.Dispatch, e.Dispatch)
	t.Attempt = max(t.Attempt, e.Attempt)
	t.Agent = e.Agent
	t.Updated = time.Now().UTC()
	ch := status.Change{Time: e.Time, Attempt: e.Attempt, Agent: e.Agent}
	switch e.Type {
	case task.Started:
		t.Status = plan.Running
		if t.Started.IsZero() {
			t.Started = e.Time
		}
		ch.Status = plan.Running
		log.Info("task running")
	case task.AttemptFailed:
		t.Error = e.Error
		ch.Status = t.Status
		ch.Note = "attempt failed, will retry: " + e.Error
		log.Warn("attempt failed", "err", e.Error)
	case task.Succeeded:
		t.Status = plan.Succeeded
		t.Output = string(e.Output)
		t.Error = ""
		ch.Status = plan.Succeeded
		log.Info("task succeeded")
	case task.Failed:
		t.Status = plan.Failed
		t.Error = e.Error
		ch.Status = plan.Failed
		ch.Note = e.Error
		log.Warn("task failed", "err", e.Error)
	case task.Cancelled:
		t.Status = plan.Cancelled
		ch.Status = plan.Cancelled
	}
	t.Record(ch)
	m.mark(ps, t)
	if t.Status == plan.Failed {
		m.block(ps, t.ID)
	}
	m.schedule(ps)
	return nil
}

// block marks the pending tasks downstream of failed as blocked by it.
func (m *Master) block(ps *planState, failed string) {
	for _, id := range ps.downstream(failed) {
		cur := ps.tasks[id]
		if cur.Status != plan.Pending {
			continue
		}
		t := cloneTask(cur)
		t.Status = plan.Blocked
		t.BlockedBy = failed
		t.Updated = time.Now().UTC()
		t.Record(status.Change{Time: t.Updated, Status: plan.Blocked, Note: "blocked by failed task " + failed})
		m.mark(ps, t)
	}
	m.schedule(ps)
}

func (m *Master) cancel(ctx context.Context, id, sender string) error {
	ps, err := m.get(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if !m.allowed(ps, sender, "cancel") {
		return nil
	}
	if ps.rec.Status.Terminal() {
		m.log.Info("cancel: plan already finished", "plan", id, "status", ps.rec.Status)
		m.answer(id, Verdict{Plan: id, Accepted: true, Warnings: []string{fmt.Sprintf("plan %s had already finished (%s)", id, ps.rec.Status)}})
		return nil
	}
	stream, err := m.js.Stream(ctx, queue.TasksStream)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	// Running tasks are told by broadcast; queued ones are taken off the queue.
	// The broadcast names the last task stored so far: a retry's tasks come
	// after it, and the agents run them.
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	if err := m.nc.Publish(queue.CancelSubject, queue.CancelMessage(id, info.State.LastSeq)); err != nil {
		return fmt.Errorf("cancel %s: broadcast: %w", id, err)
	}
	for _, ts := range ps.spec.Tasks {
		cur := ps.tasks[ts.ID]
		if cur.Status.Terminal() {
			continue
		}
		if cur.Status == plan.Queued && cur.Seq > 0 {
			if err := stream.DeleteMsg(ctx, cur.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				m.log.Debug("queued task not removed (an agent may hold it)", "task", cur.Key, "err", err)
			}
		}
		t := cloneTask(cur)
		t.Status = plan.Cancelled
		t.Updated = time.Now().UTC()
		t.Record(status.Change{Time: t.Updated, Status: plan.Cancelled, Note: "plan cancelled"})
		m.mark(ps, t)
	}
	// The tasks' records first: the plan's says they are all written.
	if err := m.flush(ctx); err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	next := *ps.rec
	next.Status = plan.Cancelled
	next.Updated = time.Now().UTC()
	next.Finished = next.Updated
	next.Note = "cancelled"
	if err := m.cfg.Store.SavePlan(ctx, &next); err != nil {
		return err
	}
	ps.rec = &next
	m.log.Info("plan cancelled", "plan", id)
	m.answer(id, Verdict{Plan: id, Accepted: true})
	return nil
}

// allowed reports whether sender (a client's id; "" for the master's
// credentials or a server without credentials) may cancel or retry plan ps: a
// client may touch only the plans it submitted. A refusal is logged and
// answered on the plan's verdict subject, where tl cancel and tl retry listen.
func (m *Master) allowed(ps *planState, sender, what string) bool {
	if sender == "" || sender == ps.rec.Owner {
		return true
	}
	by := "another client"
	if ps.rec.Owner == "" {
		by = "the master (a sweep or stream rule, or a client with the master's credentials)"
	}
	why := fmt.Sprintf("%s of plan %s refused: it was submitted by %s; a client may %s only its own plans (or use the master's credentials)", what, ps.rec.ID, by, what)
	m.log.Warn("command refused", "cmd", what, "plan", ps.rec.ID, "sender", sender, "owner", ps.rec.Owner)
	m.answer(ps.rec.ID, Verdict{Plan: ps.rec.ID, Error: why})
	return false
}

func (m *Master) retry(ctx context.Context, c *RetryCmd, sender string) error {
	ps, err := m.get(ctx, c.Plan)
	if err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	if !m.allowed(ps, sender, "retry") {
		return nil
	}
	want := map[string]bool{}
	for _, id := range c.Tasks {
		if ps.tasks[id] == nil {
			return fmt.Errorf("%w: retry: plan %s has no task %s", status.ErrNotFound, c.Plan, id)
		}
		want[id] = true
	}
	n := 0
	for _, ts := range ps.spec.Tasks {
		cur := ps.tasks[ts.ID]
		if len(want) > 0 && !want[ts.ID] && cur.Status != plan.Blocked {
			continue
		}
		if cur.Status != plan.Failed && cur.Status != plan.Blocked && cur.Status != plan.Cancelled {
			continue
		}
		t := cloneTask(cur)
		t.Status = plan.Pending
		t.AttemptBase = t.Attempt
		t.BlockedBy = ""
		t.Updated = time.Now().UTC()
		t.Record(status.Change{Time: t.Updated, Status: plan.Pending, Note: "retry requested"})
		m.mark(ps, t)
		n++
	}
	// Tasks downstream of a failure that was not retried stay blocked.
	for _, ts := range ps.spec.Tasks {
		if ps.tasks[ts.ID].Status == plan.Failed {
			m.block(ps, ts.ID)
		}
	}
	if n == 0 {
		m.log.Info("retry: nothing to retry", "plan", c.Plan)
		m.answer(c.Plan, Verdict{Plan: c.Plan, Accepted: true, Warnings: []string{"nothing to retry: no failed, blocked or cancelled task"}})
		return nil
	}
	// The tasks' records first: the plan's says they are all written.
	if err := m.flush(ctx); err != nil {
		return fmt.Errorf("retry %s: %w", c.Plan, err)
	}
	next := *ps.rec
	next.Status = plan.Running
	next.Finished = time.Time{}
	next.Note = ""
	next.Updated = time.Now().UTC()
	if err := m.cfg.Store.SavePlan(ctx, &next); err != nil {
		return err
	}
	ps.rec = &next
	m.hold(ps)
	m.log.Info("plan retried", "plan", c.Plan, "tasks", n)
	m.answer(c.Plan, Verdict{Plan: c.Plan, Accepted: true})
	m.schedule(ps)
	return nil
}
