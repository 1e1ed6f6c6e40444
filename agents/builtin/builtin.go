// Package builtin holds the task kinds every agent binary built here can run
// whatever else it registers: small, safe utilities for checking a deployment.
//
//	noop   returns its parameters
//	sleep  waits params.duration ("1s"), stopping early if the task is cancelled
//	fail   fails with params.message (to see retries and failure reports work)
//
// The training kinds (train, evaluate, predict) come from the engine's packages and
// are registered next to these by the binaries that link them.
package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tlgo/tl/agents/task"
)

// Register adds the built-in kinds to r. sleep and fail are registered with
// their params types, so the master refuses unknown fields for them at submit;
// noop takes anything.
func Register(r *task.Registry) error {
	if err := r.Register("noop", noop); err != nil {
		return err
	}
	if err := r.RegisterWithParams("sleep", sleep, sleepParams{}); err != nil {
		return err
	}
	return r.RegisterWithParams("fail", fail, failParams{})
}

type sleepParams struct {
	Duration task.Duration `json:"duration"`
}

type failParams struct {
	Message string `json:"message"`
}

func noop(_ context.Context, run *task.Run) (json.RawMessage, error) {
	if len(run.Task.Params) == 0 {
		return json.RawMessage(`{}`), nil
	}
	return run.Task.Params, nil
}

func sleep(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	var p sleepParams
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Duration(p.Duration))
	defer t.Stop()
	select {
	case <-t.C:
		return json.Marshal(map[string]any{"slept": time.Duration(p.Duration).String(), "agent": run.Agent})
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func fail(_ context.Context, run *task.Run) (json.RawMessage, error) {
	var p failParams
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	if p.Message == "" {
		p.Message = "failed on purpose (kind fail)"
	}
	return nil, errors.New(p.Message)
}
