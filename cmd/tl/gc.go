package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store/models"
)

// storeGC is the leader's garbage collection of the store (--gc-every,
// --gc-grace): weights no model references, then the checkpoints of train
// tasks that are over (see taskOver) and were not updated for the grace.
func storeGC(weights *models.Store, st status.Store) func(ctx context.Context, grace time.Duration) (int, error) {
	over := taskOver(st)
	return func(ctx context.Context, grace time.Duration) (int, error) {
		n, err := weights.GC(ctx, grace)
		if err != nil {
			return n, err
		}
		k, err := weights.GCCheckpoints(ctx, grace, over)
		return n + k, err
	}
}

// taskOver says whether the task a checkpoint belongs to ("plan/task") will
// not run again: its plan is not recorded, or the task's status is terminal
// (succeeded, failed, blocked, cancelled). A failed task retried (tl retry)
// within the grace is pending again by then and keeps its checkpoint.
func taskOver(st status.Store) func(ctx context.Context, key string) (bool, error) {
	return func(ctx context.Context, key string) (bool, error) {
		planID, taskID, ok := strings.Cut(key, "/")
		if !ok {
			return true, nil // no task of a plan wrote it
		}
		if _, err := st.Plan(ctx, planID); errors.Is(err, status.ErrNotFound) {
			return true, nil
		} else if err != nil {
			return false, fmt.Errorf("plan %s: %w", planID, err)
		}
		ts, err := st.Tasks(ctx, planID)
		if err != nil {
			return false, fmt.Errorf("tasks of plan %s: %w", planID, err)
		}
		for _, t := range ts {
			if t.ID == taskID {
				return t.Status.Terminal(), nil
			}
		}
		return true, nil
	}
}
