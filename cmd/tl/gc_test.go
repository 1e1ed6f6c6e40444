package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// The master's GC removes the checkpoints of tasks that are over (and of
// plans it has no record of), and keeps those of tasks that may still run.
func TestStoreGCRemovesCheckpointsOfFinishedTasks(t *testing.T) {
	ctx := storetest.Context(t)
	db := storetest.Backends()[0].Open(t)
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.CreatePlan(ctx, &status.Plan{ID: "p1", Name: "p", Status: plan.Running, Submitted: now, Updated: now}, []*status.Task{
		{Key: "p1/done", Plan: "p1", ID: "done", Kind: "train", Status: plan.Succeeded, Updated: now},
		{Key: "p1/failed", Plan: "p1", ID: "failed", Kind: "train", Status: plan.Failed, Updated: now},
		{Key: "p1/running", Plan: "p1", ID: "running", Kind: "train", Status: plan.Running, Updated: now},
		{Key: "p1/pending", Plan: "p1", ID: "pending", Kind: "train", Status: plan.Pending, Updated: now},
	}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"p1/done", "p1/failed", "p1/running", "p1/pending", "gone/train"} {
		if _, err := ms.SaveCheckpoint(ctx, models.Checkpoint{Task: key, Step: 1}, bytes.NewReader([]byte("state"))); err != nil {
			t.Fatal(err)
		}
	}
	gc := storeGC(ms, st)
	if n, err := gc(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("GC within the grace = %d, %v; want nothing removed", n, err)
	}
	if n, err := gc(ctx, -time.Minute); err != nil || n != 3 {
		t.Fatalf("GC = %d, %v; want 3 checkpoints removed (done, failed, a plan not recorded)", n, err)
	}
	for key, kept := range map[string]bool{"p1/done": false, "p1/failed": false, "gone/train": false, "p1/running": true, "p1/pending": true} {
		_, err := ms.GetCheckpoint(ctx, key)
		if kept && err != nil {
			t.Errorf("checkpoint of %s: %v, want it kept", key, err)
		}
		if !kept && !errors.Is(err, models.ErrNotFound) {
			t.Errorf("checkpoint of %s: %v, want it removed", key, err)
		}
	}
}
