package status_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store/storetest"
)

// conformance runs the same checks on any Store.
func conformance(t *testing.T, s status.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := &status.Plan{ID: "p1", Name: "p", SpecJSON: `{"name":"p"}`, Status: plan.Running, Submitted: now, Updated: now}
	tasks := []*status.Task{
		{Key: "p1/b", Plan: "p1", ID: "b", Kind: "train", Queue: "cpu", Status: plan.Pending, Index: 0},
		{Key: "p1/a", Plan: "p1", ID: "a", Kind: "train", Queue: "cpu", Status: plan.Pending, Index: 1},
	}
	if err := s.CreatePlan(ctx, p, tasks); err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	if err := s.CreatePlan(ctx, p, tasks); !errors.Is(err, status.ErrExists) {
		t.Fatalf("CreatePlan twice: got %v, want ErrExists", err)
	}
	old := &status.Plan{ID: "p0", Name: "p", SpecJSON: `{}`, Status: plan.Succeeded, Submitted: now.Add(-time.Hour), Updated: now}
	if err := s.CreatePlan(ctx, old, nil); err != nil {
		t.Fatalf("CreatePlan p0: %v", err)
	}

	ts, err := s.Tasks(ctx, "p1")
	if err != nil || len(ts) != 2 || ts[0].ID != "b" || ts[1].ID != "a" {
		t.Fatalf("Tasks = %v, %v; want b, a in plan order", ts, err)
	}
	a := ts[1]
	a.Status = plan.Succeeded
	a.Output = `{"acc":0.9}`
	a.Record(status.Change{Time: now, Status: plan.Succeeded, Attempt: 1})
	if err := s.SaveTask(ctx, a); err != nil {
		t.Fatalf("SaveTask: %v", err)
	}
	stale := *ts[1]
	stale.Rev = 0
	if err := s.SaveTask(ctx, &stale); !errors.Is(err, status.ErrConflict) {
		t.Fatalf("SaveTask with a stale revision: got %v, want ErrConflict", err)
	}
	// A batch: both records written, their revisions counted.
	ts, _ = s.Tasks(ctx, "p1")
	ts[0].Status, ts[0].Seq = plan.Queued, 7
	rev0, rev1 := ts[0].Rev, ts[1].Rev
	if err := s.SaveTasks(ctx, ts); err != nil {
		t.Fatalf("SaveTasks: %v", err)
	}
	if ts[0].Rev != rev0+1 || ts[1].Rev != rev1+1 {
		t.Fatalf("SaveTasks revisions %d, %d; want %d, %d", ts[0].Rev, ts[1].Rev, rev0+1, rev1+1)
	}
	if back, _ := s.Tasks(ctx, "p1"); back[0].Status != plan.Queued || back[0].Seq != 7 || back[1].Status != plan.Succeeded || back[0].Rev != ts[0].Rev {
		t.Fatalf("after SaveTasks: %+v", back[0])
	}
	if err := s.SaveTasks(ctx, []*status.Task{{Key: "p1/zz", Plan: "p1", ID: "zz"}}); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("SaveTasks of an unknown task: got %v, want ErrNotFound", err)
	}
	missing := &status.Task{Key: "p1/zz", Plan: "p1", ID: "zz"}
	if err := s.SaveTask(ctx, missing); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("SaveTask of an unknown task: got %v, want ErrNotFound", err)
	}
	ts, _ = s.Tasks(ctx, "p1")
	if ts[1].Status != plan.Succeeded || ts[1].Output != `{"acc":0.9}` || len(ts[1].History) != 1 {
		t.Fatalf("task a after save = %+v", ts[1])
	}

	got, err := s.Plan(ctx, "p1")
	if err != nil || got.SpecJSON != `{"name":"p"}` {
		t.Fatalf("Plan = %+v, %v", got, err)
	}
	got.Status = plan.Succeeded
	if err := s.SavePlan(ctx, got); err != nil {
		t.Fatalf("SavePlan: %v", err)
	}
	if _, err := s.Plan(ctx, "nope"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("Plan(nope): got %v, want ErrNotFound", err)
	}
	if _, err := s.Tasks(ctx, "nope"); !errors.Is(err, status.ErrNotFound) {
		t.Fatalf("Tasks(nope): got %v, want ErrNotFound", err)
	}
	all, err := s.Plans(ctx, false)
	if err != nil || len(all) != 2 || all[0].ID != "p1" {
		t.Fatalf("Plans(all) = %v, %v; want p1 then p0", all, err)
	}
	got.Status = plan.Running
	if err := s.SavePlan(ctx, got); err != nil {
		t.Fatalf("SavePlan: %v", err)
	}
	active, err := s.Plans(ctx, true)
	if err != nil || len(active) != 1 || active[0].ID != "p1" {
		t.Fatalf("Plans(active) = %v, %v; want p1", active, err)
	}
}

func TestMemory(t *testing.T) { conformance(t, status.NewMemory()) }

func TestMongo(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		s, err := status.NewMongo(storetest.Context(t), db)
		if err != nil {
			t.Fatal(err)
		}
		conformance(t, s)
	})
}

func TestRecordBoundsHistory(t *testing.T) {
	var tk status.Task
	for i := range status.MaxHistory + 10 {
		tk.Record(status.Change{Attempt: i})
	}
	if len(tk.History) != status.MaxHistory || tk.History[0].Attempt != 10 {
		t.Fatalf("history has %d entries starting at attempt %d; want %d from 10", len(tk.History), tk.History[0].Attempt, status.MaxHistory)
	}
}
