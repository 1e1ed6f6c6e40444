package status

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tlgo/tl/agents/plan"
)

// ErrNotFound is returned for a plan that is not recorded.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a record changed since it was read.
var ErrConflict = errors.New("record changed since it was read (is another master running?)")

// ErrExists is returned when creating a plan whose id is taken.
var ErrExists = errors.New("already exists")

// Plan is a plan's record.
type Plan struct {
	ID        string      `bson:"_id" json:"id"`
	Name      string      `bson:"name" json:"name"`
	SpecJSON  string      `bson:"spec" json:"-"`
	Status    plan.Status `bson:"status" json:"status"`
	Submitted time.Time   `bson:"submitted" json:"submitted"`
	Updated   time.Time   `bson:"updated" json:"updated"`
	Finished  time.Time   `bson:"finished,omitempty" json:"finished,omitzero"`
	Note      string      `bson:"note,omitempty" json:"note,omitempty"`
	// Owner is the id of the client credentials that submitted the plan ("":
	// the master's, or a server without credentials); only that client may
	// cancel or retry it.
	Owner   string `bson:"owner,omitempty" json:"owner,omitempty"`
	Rev     int64  `bson:"rev" json:"-"`
	Project string `bson:"project" json:"-"`
}

// Task is a task's record within a plan.
type Task struct {
	// Key is "plan/task".
	Key    string      `bson:"_id" json:"key"`
	Plan   string      `bson:"plan" json:"plan"`
	ID     string      `bson:"task" json:"id"`
	Kind   string      `bson:"kind" json:"kind"`
	Queue  string      `bson:"queue" json:"queue"`
	Status plan.Status `bson:"status" json:"status"`
	// Dispatch counts the times the task was queued; AttemptBase is the attempts
	// used before the current dispatch; Attempt is the latest attempt seen.
	Dispatch    int    `bson:"dispatch" json:"dispatch"`
	AttemptBase int    `bson:"attempt_base" json:"attempt_base"`
	Attempt     int    `bson:"attempt" json:"attempt"`
	MaxAttempts int    `bson:"max_attempts" json:"max_attempts"`
	Seq         uint64 `bson:"seq" json:"-"`
	Agent       string `bson:"agent,omitempty" json:"agent,omitempty"`
	// Output is the task's result as JSON.
	Output    string    `bson:"output,omitempty" json:"output,omitempty"`
	Error     string    `bson:"error,omitempty" json:"error,omitempty"`
	BlockedBy string    `bson:"blocked_by,omitempty" json:"blocked_by,omitempty"`
	Started   time.Time `bson:"started,omitempty" json:"started,omitzero"`
	Updated   time.Time `bson:"updated" json:"updated"`
	History   []Change  `bson:"history" json:"history"`
	// Index is the task's position in the plan.
	Index   int    `bson:"index" json:"-"`
	Rev     int64  `bson:"rev" json:"-"`
	Project string `bson:"project" json:"-"`
}

// Change is one entry of a task's status history.
type Change struct {
	Time    time.Time   `bson:"time" json:"time"`
	Status  plan.Status `bson:"status" json:"status"`
	Attempt int         `bson:"attempt,omitempty" json:"attempt,omitempty"`
	Agent   string      `bson:"agent,omitempty" json:"agent,omitempty"`
	Note    string      `bson:"note,omitempty" json:"note,omitempty"`
}

// MaxHistory bounds a task's history; the oldest entries go first.
const MaxHistory = 64

// Record appends c to t's history, keeping at most MaxHistory entries.
func (t *Task) Record(c Change) {
	t.History = append(t.History, c)
	if n := len(t.History) - MaxHistory; n > 0 {
		t.History = slices.Delete(t.History, 0, n)
	}
}

// Store records plans and tasks. Implementations are safe for concurrent use.
type Store interface {
	// CreatePlan records a new plan and its tasks (ErrExists if the id is taken).
	CreatePlan(ctx context.Context, p *Plan, tasks []*Task) error
	// SavePlan replaces p if its stored revision is p.Rev, and increments p.Rev.
	SavePlan(ctx context.Context, p *Plan) error
	// SaveTask replaces t if its stored revision is t.Rev, and increments t.Rev.
	SaveTask(ctx context.Context, t *Task) error
	// SaveTasks replaces several task records in one round trip (the master
	// batches a fetch's worth of state changes), incrementing each Rev. Whether
	// stored revisions are checked depends on the store (Mongo does not: its
	// writer is the leading master, see Mongo.SaveTasks). On error some may be
	// saved: the caller rereads the records.
	SaveTasks(ctx context.Context, ts []*Task) error
	// Plan returns one plan (ErrNotFound if none).
	Plan(ctx context.Context, id string) (*Plan, error)
	// Plans returns the plans, newest first; only unfinished ones if active.
	Plans(ctx context.Context, active bool) ([]*Plan, error)
	// Tasks returns a plan's tasks in plan order.
	Tasks(ctx context.Context, planID string) ([]*Task, error)
}

func clonePlan(p *Plan) *Plan { c := *p; return &c }

func cloneTask(t *Task) *Task {
	c := *t
	c.History = slices.Clone(t.History)
	return &c
}

func sortPlans(ps []*Plan) {
	slices.SortFunc(ps, func(a, b *Plan) int {
		if c := b.Submitted.Compare(a.Submitted); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return 1
		}
		return -1
	})
}

// Progress says how far a plan's tasks are: "2/5 done, 1 running, 2 queued".
func Progress(ts []*Task) string {
	n := map[plan.Status]int{}
	for _, t := range ts {
		n[t.Status]++
	}
	s := fmt.Sprintf("%d/%d done", n[plan.Succeeded], len(ts))
	for _, st := range []plan.Status{plan.Running, plan.Queued, plan.Pending, plan.Failed, plan.Blocked, plan.Cancelled} {
		if n[st] > 0 {
			s += fmt.Sprintf(", %d %s", n[st], st)
		}
	}
	return s
}
