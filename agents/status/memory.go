package status

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Memory is a Store in memory: for tests, and for masters that keep no history.
type Memory struct {
	mu    sync.Mutex
	plans map[string]*Plan
	tasks map[string][]*Task // plan id -> tasks in plan order
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{plans: map[string]*Plan{}, tasks: map[string][]*Task{}}
}

// CreatePlan implements Store.
func (m *Memory) CreatePlan(_ context.Context, p *Plan, tasks []*Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.plans[p.ID]; ok {
		return fmt.Errorf("plan %s: %w", p.ID, ErrExists)
	}
	m.plans[p.ID] = clonePlan(p)
	ts := make([]*Task, len(tasks))
	for i, t := range tasks {
		ts[i] = cloneTask(t)
	}
	m.tasks[p.ID] = ts
	return nil
}

// SavePlan implements Store.
func (m *Memory) SavePlan(_ context.Context, p *Plan) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.plans[p.ID]
	if !ok {
		return fmt.Errorf("plan %s: %w", p.ID, ErrNotFound)
	}
	if old.Rev != p.Rev {
		return fmt.Errorf("plan %s at revision %d, stored %d: %w", p.ID, p.Rev, old.Rev, ErrConflict)
	}
	p.Rev++
	m.plans[p.ID] = clonePlan(p)
	return nil
}

// SaveTask implements Store.
func (m *Memory) SaveTask(_ context.Context, t *Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.tasks[t.Plan]
	i := slices.IndexFunc(ts, func(x *Task) bool { return x.Key == t.Key })
	if i < 0 {
		return fmt.Errorf("task %s: %w", t.Key, ErrNotFound)
	}
	if ts[i].Rev != t.Rev {
		return fmt.Errorf("task %s at revision %d, stored %d: %w", t.Key, t.Rev, ts[i].Rev, ErrConflict)
	}
	t.Rev++
	ts[i] = cloneTask(t)
	return nil
}

// SaveTasks implements Store: each task as SaveTask does, stopping at the first error.
func (m *Memory) SaveTasks(ctx context.Context, ts []*Task) error {
	for _, t := range ts {
		if err := m.SaveTask(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Plan implements Store.
func (m *Memory) Plan(_ context.Context, id string) (*Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.plans[id]
	if !ok {
		return nil, fmt.Errorf("plan %s: %w", id, ErrNotFound)
	}
	return clonePlan(p), nil
}

// Plans implements Store.
func (m *Memory) Plans(_ context.Context, active bool) ([]*Plan, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Plan
	for _, p := range m.plans {
		if !active || !p.Status.Terminal() {
			out = append(out, clonePlan(p))
		}
	}
	sortPlans(out)
	return out, nil
}

// Tasks implements Store.
func (m *Memory) Tasks(_ context.Context, planID string) ([]*Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts, ok := m.tasks[planID]
	if !ok {
		return nil, fmt.Errorf("plan %s: %w", planID, ErrNotFound)
	}
	out := make([]*Task, len(ts))
	for i, t := range ts {
		out[i] = cloneTask(t)
	}
	return out, nil
}
