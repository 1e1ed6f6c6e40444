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

	// leading is true from winning the lease until the master stopped handling
	// messages after losing or releasing it.
	leading atomic.Bool
	// holdLease is a test seam: while set, the master neither renews nor takes
	// the lease, as if cut off from the server.
	holdLease atomic.Bool

	mu       sync.Mutex // guards rejected
	rejected []task.Event
}

type planState struct {
	rec   *status.Plan
	spec  *plan.Spec
	tasks map[string]*status.Task
	// st mirrors each task's status; kept by adopt so that the rules of package
	// plan run without building a map per event.
	st map[string]plan.Status
}

func (p *planState) states() map[string]plan.Status { return p.st }

// adopt makes t the task's record in hand.
func (p *planState) adopt(t *status.Task) {
	p.tasks[t.ID] = t
	p.st[t.ID] = t.Status
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
	err := m.serve(lctx)
	lost(nil)
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

// serve is a leadership term's work: it rebuilds the plan state from the store,
// then handles events and commands until ctx ends.
func (m *Master) serve(ctx context.Context) error {
	// A previous term's state may be stale: another master may have led since.
	clear(m.plans)
	if err := m.resume(ctx); err != nil {
		return err
	}
	cons, err := m.js.Consumer(ctx, queue.MasterStream, queue.MasterConsumer)
	if err != nil {
		return fmt.Errorf("master: consumer %s: %w", queue.MasterConsumer, err)
	}
	m.log.Info("master running", "nats", redact.URL(m.cfg.NATSURL), "plans", len(m.plans))
	// A fetch does not see ctx end (below); bounding its wait bounds how long a
	// master that lost the lease goes on pulling messages.
	wait := min(m.cfg.Tick, m.cfg.LeaseTTL/3)
	lastTick := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastTick) >= m.cfg.Tick {
			m.tick(ctx)
			lastTick = time.Now()
		}
		// FetchMaxWait, not FetchContext: a fetch cut short by its context drops
		// messages the server already sent, which then wait out their ack deadline.
		batch, err := cons.Fetch(m.cfg.Batch, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() == nil {
				m.log.Debug("fetch failed; retrying", "err", err)
				sleep(ctx, 250*time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			if ctx.Err() != nil {
				_ = msg.Nak() // for the next master
				continue
			}
			m.handleMsg(ctx, msg)
		}
	}
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
	m.tick(ctx)
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
	ps := &planState{rec: rec, spec: &spec, tasks: map[string]*status.Task{}, st: map[string]plan.Status{}}
	for _, t := range ts {
		ps.adopt(t)
	}
	for _, t := range spec.Tasks {
		if ps.tasks[t.ID] == nil {
			return nil, fmt.Errorf("plan %s: task %s has no record", id, t.ID)
		}
	}
	m.plans[id] = ps
	return ps, nil
}

// get returns the plan in hand, loading it from the store if needed.
func (m *Master) get(ctx context.Context, id string) (*planState, error) {
	if ps := m.plans[id]; ps != nil {
		return ps, nil
	}
	return m.load(ctx, id)
}

// tick queues ready tasks of every plan in hand and forgets finished plans.
func (m *Master) tick(ctx context.Context) {
	for id, ps := range m.plans {
		if ps.rec.Status.Terminal() {
			delete(m.plans, id)
			continue
		}
		if err := m.schedule(ctx, ps); err != nil {
			m.log.Warn("scheduling postponed", "plan", id, "err", err)
		}
	}
}

func (m *Master) handleMsg(ctx context.Context, msg jetstream.Msg) {
	err := m.handle(ctx, msg.Subject(), msg.Data())
	switch {
	case err == nil:
	case errors.Is(err, task.ErrMalformed) || errors.Is(err, status.ErrNotFound):
		// Retrying cannot help: say what was wrong, drop the message.
		m.log.Error("dropped a message the master cannot use", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	default:
		if errors.Is(err, status.ErrConflict) {
			// Someone else wrote the records: reread them before the retry.
			for id := range m.plans {
				delete(m.plans, id)
			}
		}
		m.log.Warn("message handling failed; it will come back", "subject", msg.Subject(), "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := msg.Ack(); err != nil {
		m.log.Warn("ack failed; the message may come back (handled idempotently)", "subject", msg.Subject(), "err", err)
	}
}

func (m *Master) handle(ctx context.Context, subject string, data []byte) error {
	if cmd, ok := queue.IsControl(subject); ok {
		switch cmd {
		case CmdSubmit:
			var c SubmitCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: submit: %w", task.ErrMalformed, err)
			}
			return m.submit(ctx, &c)
		case CmdCancel:
			var c CancelCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: cancel: %w", task.ErrMalformed, err)
			}
			return m.cancel(ctx, c.Plan)
		case CmdRetry:
			var c RetryCmd
			if err := json.Unmarshal(data, &c); err != nil {
				return fmt.Errorf("%w: retry: %w", task.ErrMalformed, err)
			}
			return m.retry(ctx, &c)
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
	now := time.Now().UTC()
	rec := &status.Plan{ID: c.Plan, Name: c.Spec.Name, SpecJSON: string(specJSON), Status: plan.Running, Submitted: now, Updated: now}
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
	ps, err := m.load(ctx, c.Plan)
	if err != nil {
		return err
	}
	return m.schedule(ctx, ps)
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

// schedule queues the plan's ready tasks and settles the plan's status.
func (m *Master) schedule(ctx context.Context, ps *planState) error {
	if ps.rec.Status.Terminal() {
		return nil
	}
	for _, id := range plan.Ready(ps.spec, ps.states()) {
		if err := m.dispatch(ctx, ps, id); err != nil {
			return err
		}
	}
	return m.settle(ctx, ps)
}

// dispatch puts one task on its queue, then records it as queued.
func (m *Master) dispatch(ctx context.Context, ps *planState, id string) error {
	spec := ps.spec.Task(id)
	rec := ps.tasks[id]
	msg := &task.Task{
		Plan: ps.rec.ID, ID: id, Kind: spec.Kind, Queue: spec.Queue,
		Input: spec.Input, Model: spec.Model, Output: spec.Output,
		MaxAttempts: spec.MaxAttempts, AttemptBase: rec.AttemptBase, Dispatch: rec.Dispatch + 1,
		Timeout: spec.Timeout,
	}
	msg.Token = Token(m.key, msg.Plan, msg.ID, msg.Dispatch)
	if len(spec.Params) > 0 {
		p, err := json.Marshal(spec.Params)
		if err != nil {
			return fmt.Errorf("task %s: params: %w", rec.Key, err)
		}
		msg.Params = p
	}
	for _, d := range spec.Deps {
		if out := ps.tasks[d].Output; out != "" {
			if msg.Upstream == nil {
				msg.Upstream = map[string]json.RawMessage{}
			}
			msg.Upstream[d] = json.RawMessage(out)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !m.queues[msg.Queue] {
		// Agents with credentials only bind to a queue's consumer: the master
		// creates it (an existing one keeps its settings).
		if _, err := m.js.Consumer(pctx, queue.TasksStream, queue.ConsumerName(msg.Queue)); errors.Is(err, jetstream.ErrConsumerNotFound) {
			_, err = queue.EnsureQueue(pctx, m.js, msg.Queue, 0)
			if err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("task %s: consumer of queue %s: %w", rec.Key, msg.Queue, err)
		}
		if m.queues == nil {
			m.queues = map[string]bool{}
		}
		m.queues[msg.Queue] = true
	}
	seq, err := queue.PublishTask(pctx, m.js, msg)
	cancel()
	if err != nil {
		return err
	}
	next := cloneTask(rec)
	next.Dispatch = msg.Dispatch
	next.Seq = seq
	next.Status = plan.Queued
	next.Updated = time.Now().UTC()
	next.Record(status.Change{Time: next.Updated, Status: plan.Queued, Note: fmt.Sprintf("dispatch %d on queue %s", msg.Dispatch, msg.Queue)})
	if err := m.save(ctx, ps, next); err != nil {
		return err
	}
	m.log.Info("task queued", "task", rec.Key, "queue", msg.Queue, "dispatch", msg.Dispatch)
	return nil
}

func cloneTask(t *status.Task) *status.Task {
	c := *t
	c.History = slices.Clone(t.History)
	return &c
}

// save writes a task record and adopts it.
func (m *Master) save(ctx context.Context, ps *planState, t *status.Task) error {
	if err := m.cfg.Store.SaveTask(ctx, t); err != nil {
		return err
	}
	ps.adopt(t)
	return nil
}

// settle recomputes the plan's status and saves it if it changed.
func (m *Master) settle(ctx context.Context, ps *planState) error {
	st := plan.PlanStatus(ps.spec, ps.states())
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
		for _, d := range plan.Downstream(ps.spec, ts.ID) {
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
	if err := m.save(ctx, ps, t); err != nil {
		return err
	}
	if t.Status == plan.Failed {
		if err := m.block(ctx, ps, t.ID); err != nil {
			return err
		}
	}
	return m.schedule(ctx, ps)
}

// block marks the pending tasks downstream of failed as blocked by it.
func (m *Master) block(ctx context.Context, ps *planState, failed string) error {
	for _, id := range plan.Downstream(ps.spec, failed) {
		cur := ps.tasks[id]
		if cur.Status != plan.Pending {
			continue
		}
		t := cloneTask(cur)
		t.Status = plan.Blocked
		t.BlockedBy = failed
		t.Updated = time.Now().UTC()
		t.Record(status.Change{Time: t.Updated, Status: plan.Blocked, Note: "blocked by failed task " + failed})
		if err := m.save(ctx, ps, t); err != nil {
			return err
		}
	}
	return nil
}

func (m *Master) cancel(ctx context.Context, id string) error {
	ps, err := m.get(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if ps.rec.Status.Terminal() {
		m.log.Info("cancel: plan already finished", "plan", id, "status", ps.rec.Status)
		return nil
	}
	stream, err := m.js.Stream(ctx, queue.TasksStream)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	// Running tasks are told by broadcast; queued ones are taken off the queue.
	if err := m.nc.Publish(queue.CancelSubject, []byte(id)); err != nil {
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
		if err := m.save(ctx, ps, t); err != nil {
			return err
		}
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
	return nil
}

func (m *Master) retry(ctx context.Context, c *RetryCmd) error {
	ps, err := m.get(ctx, c.Plan)
	if err != nil {
		return fmt.Errorf("retry: %w", err)
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
		if err := m.save(ctx, ps, t); err != nil {
			return err
		}
		n++
	}
	// Tasks downstream of a failure that was not retried stay blocked.
	for _, ts := range ps.spec.Tasks {
		if ps.tasks[ts.ID].Status == plan.Failed {
			if err := m.block(ctx, ps, ts.ID); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		m.log.Info("retry: nothing to retry", "plan", c.Plan)
		return nil
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
	m.plans[c.Plan] = ps
	m.log.Info("plan retried", "plan", c.Plan, "tasks", n)
	return m.schedule(ctx, ps)
}
