package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

// Scheduling at scale: what the master keeps so that its work per event, per
// dispatch and per loop does not grow with the size of a plan or with history.
//
//   - A plan's state counts its tasks by status and keeps, per task, how many
//     dependencies have not succeeded yet, and a queue of the tasks that became
//     ready: an event costs the task's dependents, not the plan's size.
//   - Task changes are recorded in batches (status.Store.SaveTasks): changes are
//     applied in memory, marked dirty, and written together at most every
//     Config.FlushEvery; the messages that caused them are acknowledged only
//     after the write, so a crash loses nothing (they come back). A task that
//     is queued, started and finished between two writes costs one write.
//     A dispatch alone is written lazily, after lazyQueued, unless the task
//     changes again first: a short task costs one write in all. A master that
//     stops before then finds the task pending and queues it again under the
//     same message id, which the stream's de-duplication drops.
//   - Dispatch is bounded: each loop iteration queues at most
//     Config.DispatchBatch tasks, taken from the plans in turn, and a plan has
//     at most Config.Window tasks queued or running, so that a 10,000-task plan
//     neither stalls the loop nor fills the queues ahead of a small plan
//     submitted after it.
//
// Concurrency: all of it belongs to the Run goroutine (no lock); the
// housekeeping goroutine (housekeep.go) touches none of it.

// planState is a plan in hand.
type planState struct {
	rec   *status.Plan
	spec  *plan.Spec
	tasks map[string]*status.Task
	// st mirrors each task's status, for the rules of package plan.
	st map[string]plan.Status
	// index is a task's position in spec.Tasks; down[i] are the positions of
	// the tasks that depend on task i, and wait[i] counts task i's
	// dependencies that have not succeeded.
	index map[string]int
	down  [][]int
	wait  []int
	// count is the number of tasks in each status.
	count map[plan.Status]int
	// ready holds positions of tasks that became pending with no dependency
	// left, in the order they did; inReady marks them (an entry may be stale:
	// it is checked when taken).
	ready   []int
	inReady []bool
	// dirty are the ids of tasks changed since the last write; lazy, those of
	// them changed only by their dispatch, and when (see lazyQueued).
	dirty map[string]bool
	lazy  map[string]time.Time
}

// lazyQueued is how long a task's dispatch may go unwritten while nothing else
// happens to the task.
const lazyQueued = time.Second

// newPlanState makes the state of plan rec (spec decoded) with no task records
// yet; adopt each record next.
func newPlanState(rec *status.Plan, spec *plan.Spec) *planState {
	n := len(spec.Tasks)
	p := &planState{
		rec: rec, spec: spec,
		tasks: make(map[string]*status.Task, n), st: make(map[string]plan.Status, n),
		index: make(map[string]int, n), down: make([][]int, n), wait: make([]int, n),
		count: map[plan.Status]int{}, inReady: make([]bool, n), dirty: map[string]bool{}, lazy: map[string]time.Time{},
	}
	for i, t := range spec.Tasks {
		p.index[t.ID] = i
	}
	for i, t := range spec.Tasks {
		p.wait[i] = len(t.Deps)
		for _, d := range t.Deps {
			j := p.index[d]
			p.down[j] = append(p.down[j], i)
		}
	}
	return p
}

// taskSpec returns the spec of task id (which must exist).
func (p *planState) taskSpec(id string) *plan.TaskSpec { return &p.spec.Tasks[p.index[id]] }

// adopt makes t the task's record in hand, keeping the counts and the ready
// queue.
func (p *planState) adopt(t *status.Task) {
	i, ok := p.index[t.ID]
	if !ok {
		return
	}
	old, had := p.st[t.ID]
	p.tasks[t.ID] = t
	p.st[t.ID] = t.Status
	if had {
		p.count[old]--
	}
	p.count[t.Status]++
	switch {
	case old != plan.Succeeded && t.Status == plan.Succeeded:
		for _, d := range p.down[i] {
			if p.wait[d]--; p.wait[d] == 0 {
				p.push(d)
			}
		}
	case had && old == plan.Succeeded && t.Status != plan.Succeeded:
		for _, d := range p.down[i] {
			p.wait[d]++
		}
	}
	if t.Status == plan.Pending && p.wait[i] == 0 {
		p.push(i)
	}
}

func (p *planState) push(i int) {
	if !p.inReady[i] {
		p.inReady[i] = true
		p.ready = append(p.ready, i)
	}
}

// hasReady reports whether a task may be ready (an entry may be stale).
func (p *planState) hasReady() bool { return len(p.ready) > 0 }

// takeReady removes and returns up to n tasks that are pending with all their
// dependencies succeeded, in the order they became so.
func (p *planState) takeReady(n int) []string {
	var out []string
	for len(out) < n && len(p.ready) > 0 {
		i := p.ready[0]
		p.ready = p.ready[1:]
		p.inReady[i] = false
		id := p.spec.Tasks[i].ID
		if p.st[id] == plan.Pending && p.wait[i] == 0 {
			out = append(out, id)
		}
	}
	if len(p.ready) == 0 {
		p.ready = nil // let the array go
	}
	return out
}

// active counts the plan's tasks on a queue or on an agent.
func (p *planState) active() int { return p.count[plan.Queued] + p.count[plan.Running] }

// status derives the plan's status from the counts, as plan.PlanStatus does
// from the tasks.
func (p *planState) status() plan.Status {
	if p.count[plan.Pending]+p.count[plan.Queued]+p.count[plan.Running] > 0 {
		return plan.Running
	}
	switch {
	case p.count[plan.Succeeded] == len(p.spec.Tasks):
		return plan.Succeeded
	case p.count[plan.Failed]+p.count[plan.Blocked] > 0:
		return plan.Failed
	case p.count[plan.Cancelled] > 0:
		return plan.Cancelled
	}
	return plan.Running
}

// downstream returns, in plan order, every task that depends on id directly or not.
func (p *planState) downstream(id string) []string {
	seen := make([]bool, len(p.spec.Tasks))
	stack := []int{p.index[id]}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range p.down[i] {
			if !seen[d] {
				seen[d] = true
				stack = append(stack, d)
			}
		}
	}
	var out []string
	for i, s := range seen {
		if s && p.spec.Tasks[i].ID != id {
			out = append(out, p.spec.Tasks[i].ID)
		}
	}
	return out
}

// sched is the scheduler's state in Master; the Run goroutine's alone.
type sched struct {
	// order lists the plans in hand in arrival order; next is where the next
	// dispatch round starts, so that plans take turns.
	order []string
	next  int
	// dirty are the plans with task changes not yet written; touched, the plans
	// whose status may have changed (settled after the write).
	dirty   map[string]*planState
	touched map[string]*planState
	flushed time.Time
	// finished remembers recently finished plans (a bounded ring), so that a
	// late or repeated event for one is dropped without reading the store.
	finished     map[string]bool
	finishedRing []string
	// unservedSince is when each queue was first seen with no agent serving it.
	unservedSince map[string]time.Time
	// missingSince is when each running task's agent was first seen missing
	// from the roster (checkLost).
	missingSince map[string]time.Time
}

// maxFinished bounds sched.finished.
const maxFinished = 4096

func (s *sched) reset() {
	s.order, s.next = nil, 0
	s.dirty = map[string]*planState{}
	s.touched = map[string]*planState{}
	if s.finished == nil {
		s.finished = map[string]bool{}
	}
	s.unservedSince = map[string]time.Time{}
	s.missingSince = map[string]time.Time{}
}

func (s *sched) forgetFinished(id string) { delete(s.finished, id) }

func (s *sched) rememberFinished(id string) {
	if s.finished[id] {
		return
	}
	s.finished[id] = true
	s.finishedRing = append(s.finishedRing, id)
	if len(s.finishedRing) > maxFinished {
		delete(s.finished, s.finishedRing[0])
		s.finishedRing = s.finishedRing[1:]
	}
}

// hold puts ps in hand.
func (m *Master) hold(ps *planState) {
	if _, ok := m.plans[ps.rec.ID]; !ok {
		m.s.order = append(m.s.order, ps.rec.ID)
	}
	m.plans[ps.rec.ID] = ps
	m.s.forgetFinished(ps.rec.ID)
}

// drop forgets every plan in hand: after a failed write the records in hand
// may be ahead of the store, and are read again when next needed.
func (m *Master) drop() {
	clear(m.plans)
	m.s.order, m.s.next = nil, 0
	clear(m.s.dirty)
	clear(m.s.touched)
}

// mark records t in hand and marks it for the next write.
func (m *Master) mark(ps *planState, t *status.Task) {
	ps.adopt(t)
	ps.dirty[t.ID] = true
	delete(ps.lazy, t.ID)
	m.s.dirty[ps.rec.ID] = ps
	m.s.touched[ps.rec.ID] = ps
}

// markDispatched is mark for a dispatch: written lazily (see lazyQueued).
func (m *Master) markDispatched(ps *planState, t *status.Task) {
	lazy := !ps.dirty[t.ID]
	m.mark(ps, t)
	if lazy {
		ps.lazy[t.ID] = time.Now()
	}
}

// flushDue reports whether the changes in hand should be written now.
func (m *Master) flushDue(pendingAcks int) bool {
	if len(m.s.dirty) == 0 && len(m.s.touched) == 0 {
		return false
	}
	return pendingAcks >= m.cfg.MaxUnacked || time.Since(m.s.flushed) >= m.cfg.FlushEvery
}

// flush writes the dirty task records in one batch, then settles the touched
// plans. On error the plans in hand are dropped (see drop).
func (m *Master) flush(ctx context.Context) error {
	now := time.Now()
	m.s.flushed = now
	var ts []*status.Task
	for _, ps := range m.s.dirty {
		for id := range ps.dirty {
			if at, ok := ps.lazy[id]; ok && now.Sub(at) < lazyQueued {
				continue
			}
			ts = append(ts, ps.tasks[id])
		}
	}
	if len(ts) > 0 {
		if err := m.cfg.Store.SaveTasks(ctx, ts); err != nil {
			m.drop()
			return fmt.Errorf("master: record %d task changes: %w", len(ts), err)
		}
	}
	for pid, ps := range m.s.dirty {
		for id := range ps.dirty {
			if at, ok := ps.lazy[id]; ok && now.Sub(at) < lazyQueued {
				continue
			}
			delete(ps.dirty, id)
			delete(ps.lazy, id)
		}
		if len(ps.dirty) == 0 {
			delete(m.s.dirty, pid)
		}
	}
	for id, ps := range m.s.touched {
		if err := m.settle(ctx, ps); err != nil {
			m.log.Warn("plan status not recorded; retried at the next tick", "plan", id, "err", err)
			continue
		}
		delete(m.s.touched, id)
	}
	return nil
}

// pump queues ready tasks: at most DispatchBatch in all, the plans taking turns,
// none with more than Window tasks queued or running. It reports whether
// tasks were left ready that it could have queued now (the caller does not
// wait for messages then).
func (m *Master) pump(ctx context.Context) (more bool) {
	budget := m.cfg.DispatchBatch
	var items []*dispatchItem
	n := len(m.s.order)
	if n == 0 {
		return false
	}
	start := m.s.next % n
	// Plans take turns, a share of the budget each, until it is spent or no
	// plan can take more.
	for budget > 0 {
		progress := false
		share := max(budget/n, 1)
		for k := range n {
			id := m.s.order[(start+k)%n]
			ps := m.plans[id]
			if ps == nil || ps.rec.Status.Terminal() || !ps.hasReady() {
				continue
			}
			room := min(share, budget, m.cfg.Window-ps.active()-countPlan(items, ps))
			if room <= 0 {
				continue
			}
			for _, tid := range ps.takeReady(room) {
				items = append(items, &dispatchItem{ps: ps, id: tid})
				budget--
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	m.s.next = start + 1
	if len(items) == 0 {
		return false
	}
	m.dispatchAll(ctx, items)
	if budget > 0 {
		return false
	}
	for _, ps := range m.plans {
		if ps.hasReady() && ps.active() < m.cfg.Window && !ps.rec.Status.Terminal() {
			return true
		}
	}
	return false
}

func countPlan(items []*dispatchItem, ps *planState) int {
	n := 0
	for _, it := range items {
		if it.ps == ps {
			n++
		}
	}
	return n
}

type dispatchItem struct {
	ps  *planState
	id  string
	msg *task.Task
	ack jetstream.PubAckFuture
	err error
}

// dispatchAll publishes the items' tasks without waiting for each ack, then
// records those the stream took as queued; a task that could not be published
// stays pending and ready, tried again at the next round (the message id makes
// a repeat harmless).
func (m *Master) dispatchAll(ctx context.Context, items []*dispatchItem) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, it := range items {
		it.msg, it.err = m.taskMsg(it.ps, it.id)
		if it.err == nil {
			it.err = m.ensureQueue(pctx, it.msg.Queue)
		}
		if it.err != nil {
			continue
		}
		data, err := it.msg.Encode()
		if err != nil {
			it.err = err
			continue
		}
		if limit := m.nc.MaxPayload(); int64(len(data)) > limit {
			it.err = fmt.Errorf("%w: task %s is %d bytes on the wire (its params and its dependencies' outputs), over the server's max payload of %d bytes: keep large data in the store and pass its name",
				task.ErrMalformed, it.msg.Key(), len(data), limit)
			continue
		}
		it.ack, it.err = m.js.PublishAsync(queue.TaskSubject(it.msg.Queue), data,
			jetstream.WithMsgID(it.msg.MsgID()), jetstream.WithExpectStream(queue.TasksStream))
	}
	for _, it := range items {
		var seq uint64
		if it.err == nil {
			select {
			case pa := <-it.ack.Ok():
				seq = pa.Sequence
			case it.err = <-it.ack.Err():
			case <-pctx.Done():
				it.err = fmt.Errorf("no ack from the stream: %w", pctx.Err())
			}
		}
		rec := it.ps.tasks[it.id]
		if it.err != nil {
			if errors.Is(it.err, task.ErrMalformed) {
				m.failTask(it.ps, rec, it.err.Error())
				continue
			}
			m.log.Warn("task not queued; retried at the next round", "task", rec.Key, "err", it.err)
			it.ps.push(it.ps.index[it.id])
			continue
		}
		next := cloneTask(rec)
		next.Dispatch = it.msg.Dispatch
		next.Seq = seq
		next.Status = plan.Queued
		next.Updated = time.Now().UTC()
		next.Record(status.Change{Time: next.Updated, Status: plan.Queued, Note: fmt.Sprintf("dispatch %d on queue %s", it.msg.Dispatch, it.msg.Queue)})
		m.markDispatched(it.ps, next)
		m.log.Debug("task queued", "task", rec.Key, "queue", it.msg.Queue, "dispatch", it.msg.Dispatch)
	}
}

// taskMsg is the message that dispatches task id of ps once more.
func (m *Master) taskMsg(ps *planState, id string) (*task.Task, error) {
	spec := ps.taskSpec(id)
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
			return nil, fmt.Errorf("%w: task %s: params: %w", task.ErrMalformed, rec.Key, err)
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
	return msg, nil
}

// ensureQueue sets up queue q's consumer with this master's ack deadline, once
// a term: the queue's delivery settings are the master's, the same for every
// agent (agents only bind to the consumer).
func (m *Master) ensureQueue(ctx context.Context, q string) error {
	if m.queues[q] {
		return nil
	}
	if _, err := queue.EnsureQueue(ctx, m.js, q, m.cfg.AckWait); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if m.queues == nil {
		m.queues = map[string]bool{}
	}
	m.queues[q] = true
	return nil
}

// failTask fails task rec for good with why, blocks what depends on it, and
// takes its message off the queue if it is there.
func (m *Master) failTask(ps *planState, rec *status.Task, why string) {
	t := cloneTask(rec)
	t.Status = plan.Failed
	t.Error = why
	t.Updated = time.Now().UTC()
	t.Record(status.Change{Time: t.Updated, Status: plan.Failed, Note: why})
	m.mark(ps, t)
	m.block(ps, t.ID)
	m.log.Warn("task failed", "task", t.Key, "err", why)
}

// checkUnserved fails the queued tasks that have waited longer than their
// plan's unserved_timeout on a queue no agent has served for that long; the
// roster is the agents bucket (queue.ListAgents).
func (m *Master) checkUnserved(ctx context.Context) {
	waiting := map[string]bool{}
	for _, ps := range m.plans {
		if ps.count[plan.Queued] == 0 {
			continue
		}
		for _, t := range ps.tasks {
			if t.Status == plan.Queued {
				waiting[t.Queue] = true
			}
		}
	}
	if len(waiting) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	agents, err := queue.ListAgents(lctx, m.js)
	cancel()
	if err != nil {
		m.log.Debug("cannot read the agents' roster; unserved queues not checked", "err", err)
		return
	}
	served := map[string]bool{}
	for _, a := range agents {
		for _, q := range a.Queues {
			served[q] = true
		}
	}
	now := time.Now()
	for q := range m.s.unservedSince {
		if served[q] || !waiting[q] {
			delete(m.s.unservedSince, q)
		}
	}
	for q := range waiting {
		if !served[q] {
			if _, ok := m.s.unservedSince[q]; !ok {
				m.s.unservedSince[q] = now
				m.log.Warn("tasks wait on a queue no agent serves", "queue", q)
			}
		}
	}
	stream, serr := m.js.Stream(ctx, queue.TasksStream)
	for _, ps := range m.plans {
		if ps.count[plan.Queued] == 0 || ps.rec.Status.Terminal() {
			continue
		}
		limit := ps.spec.Unserved()
		for _, ts := range ps.spec.Tasks {
			t := ps.tasks[ts.ID]
			since, unserved := m.s.unservedSince[t.Queue]
			if t.Status != plan.Queued || !unserved {
				continue
			}
			if t.Updated.After(since) {
				since = t.Updated
			}
			if now.Sub(since) < limit {
				continue
			}
			if serr == nil && t.Seq > 0 {
				if err := stream.DeleteMsg(ctx, t.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					m.log.Debug("unserved task's message not removed", "task", t.Key, "err", err)
				}
			}
			m.failTask(ps, t, fmt.Sprintf("waited %v on queue %s, which no agent served (the plan's unserved_timeout is %v): start an agent with --queues %s and run tl retry %s",
				now.Sub(since).Round(time.Second), t.Queue, limit, t.Queue, ps.rec.ID))
		}
	}
}
