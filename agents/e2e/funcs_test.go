package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Collections written by the test functions.
const (
	runsColl    = "e2e_runs"    // one document per attempt that started work
	effectsColl = "e2e_effects" // the task's effect: one document per task key, ever
)

// workParams are the parameters of the "work" kind.
type workParams struct {
	MS         int     `json:"ms"`          // how long the work takes
	FirstMS    int     `json:"first_ms"`    // how long it takes on attempt 1 (to be interrupted)
	Value      float64 `json:"value"`       // reported in the output
	FailUntil  int     `json:"fail_until"`  // attempts up to this one fail
	AlwaysFail bool    `json:"always_fail"` // every attempt fails
}

// registry holds the test kinds; the agent processes run exactly these.
func registry() *task.Registry {
	r := task.NewRegistry()
	r.MustRegister("noop", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		return json.Marshal(map[string]any{"agent": run.Agent})
	})
	r.MustRegister("work", work)
	// train and evaluate, for the kill -9 of an agent mid-training (resume_test.go).
	if err := mltasks.Register(r); err != nil {
		panic(err)
	}
	return r
}

// work records the attempt, makes the task's effect idempotently (an insert keyed by
// the task: a second run finds it done), takes its time, and reports.
func work(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	var p workParams
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	db, ok := run.Services.(*store.DB)
	if !ok {
		return nil, task.Permanent(errors.New("work: the agent has no database"))
	}
	key := run.Task.Key()
	_, err := db.Collection(runsColl).InsertOne(ctx, bson.D{
		{Key: "_id", Value: fmt.Sprintf("%s/a%d/%s", key, run.Attempt, run.Agent)},
		{Key: "task", Value: key}, {Key: "attempt", Value: run.Attempt}, {Key: "agent", Value: run.Agent},
	})
	if err != nil {
		return nil, fmt.Errorf("record run: %w", err)
	}
	if p.AlwaysFail || run.Attempt <= p.FailUntil {
		return nil, fmt.Errorf("disk on fire (attempt %d)", run.Attempt)
	}
	_, err = db.Collection(effectsColl).InsertOne(ctx, bson.D{
		{Key: "_id", Value: key}, {Key: "task", Value: key}, {Key: "attempt", Value: run.Attempt}, {Key: "agent", Value: run.Agent},
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return nil, fmt.Errorf("effect: %w", err)
	}
	d := time.Duration(p.MS) * time.Millisecond
	if run.Attempt == 1 && p.FirstMS > 0 {
		d = time.Duration(p.FirstMS) * time.Millisecond
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var upstream []string
	sum := p.Value
	for k, raw := range run.Task.Upstream {
		upstream = append(upstream, k)
		var o struct{ Value float64 }
		if json.Unmarshal(raw, &o) == nil {
			sum += o.Value
		}
	}
	slices.Sort(upstream)
	return json.Marshal(map[string]any{
		"agent": run.Agent, "attempt": run.Attempt, "input": run.Task.Input, "model": run.Task.Model,
		"output": run.Task.Output, "upstream": upstream, "value": sum,
	})
}
