package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// Controller advances the running sweeps: it records the results of their
// tasks, decides, and submits what it decided. Run it on the leading master
// (Master gives the master.Controller); one runs at a time, and a second one
// in a brief overlap of leaders is harmless: records are saved
// revision-checked and plans submitted under ids derived from the decision.
type Controller struct {
	DB     *store.DB
	Status status.Store
	JS     jetstream.JetStream
	Log    *slog.Logger
	// Poll is the pause between passes; default 1s.
	Poll time.Duration
}

// ControllerConfig is what Master needs to connect a Controller.
type ControllerConfig struct {
	DB          *store.DB
	Status      status.Store
	NATSURL     string
	Credentials *queue.Credentials
	Log         *slog.Logger
	Poll        time.Duration
}

// Master returns the controller as work of the leading master
// (master.Config.Controllers): it connects to NATS when the term starts.
func Master(cfg ControllerConfig) master.Controller {
	return master.Controller{Name: "sweep", Run: func(ctx context.Context) error {
		nc, js, err := queue.Connect(ctx, cfg.NATSURL, "tl master: sweeps", cfg.Log, cfg.Credentials.Options()...)
		if err != nil {
			return fmt.Errorf("sweep controller: connect to NATS: %w", err)
		}
		defer nc.Close()
		c := &Controller{DB: cfg.DB, Status: cfg.Status, JS: js, Log: cfg.Log, Poll: cfg.Poll}
		return c.Run(ctx)
	}}
}

// Run advances the sweeps every Poll until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	poll := c.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for {
		if err := c.Step(ctx); err != nil && ctx.Err() == nil {
			c.log().Warn("sweep controller pass failed; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (c *Controller) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// Step makes one pass over the running sweeps.
func (c *Controller) Step(ctx context.Context) error {
	r := newRecords(c.DB)
	sws, err := r.list(ctx, KindSweep, true)
	if err != nil {
		return err
	}
	var errs []error
	for _, sw := range sws {
		if err := c.advance(ctx, r, sw); err != nil {
			errs = append(errs, fmt.Errorf("sweep %s: %w", sw.Name, err))
		}
	}
	return errors.Join(errs...)
}

// advance acts on what was decided and not yet done, records the results
// that came in, decides, saves the decisions, and acts on them.
func (c *Controller) advance(ctx context.Context, r *records, sw *Sweep) error {
	s, err := sw.Spec()
	if err != nil {
		return err
	}
	// A previous pass (or master) may have died between deciding and acting.
	if err := c.act(ctx, r, sw, s); err != nil {
		return err
	}
	changed, err := c.observe(ctx, sw, s)
	if err != nil {
		return err
	}
	n := sw.decide(s, time.Now().UTC())
	if !changed && n == 0 {
		return nil
	}
	// Decided before acted on: the decisions are in the store first.
	if err := r.save(ctx, sw); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil // someone else advanced it: read it again next pass
		}
		return err
	}
	for _, d := range sw.Decisions[len(sw.Decisions)-n:] {
		c.log().Info("sweep decision", "sweep", sw.Name, "seq", d.Seq, "action", d.Action, "trial", d.Trial, "rung", d.Rung, "why", d.Why)
	}
	return c.act(ctx, r, sw, s)
}

// act carries out the decisions not yet acted on, in order, and saves the
// record once they are. Each action is idempotent.
func (c *Controller) act(ctx context.Context, r *records, sw *Sweep, s *Spec) error {
	acted := false
	for i := range sw.Decisions {
		d := &sw.Decisions[i]
		if d.Acted {
			continue
		}
		switch d.Action {
		case ActStart, ActPromote:
			spec, err := sw.trialPlan(s, d.Trial, d.Rung)
			if err != nil {
				return err
			}
			if _, err := master.SubmitAs(ctx, c.JS, d.Plan, spec); err != nil {
				return fmt.Errorf("submit trial %d rung %d: %w", d.Trial, d.Rung, err)
			}
		case ActHalt:
			for _, t := range sw.Trials {
				for _, rg := range t.Rungs {
					if rg.State == Running {
						if err := master.Cancel(ctx, c.JS, rg.Plan); err != nil {
							return fmt.Errorf("cancel trial %d rung %d: %w", t.N, rg.K, err)
						}
					}
				}
			}
		case ActBest:
			if sw.Best != nil && sw.Best.Version > 0 {
				ms, err := models.New(ctx, c.DB, models.Options{})
				if err != nil {
					return err
				}
				if err := ms.Alias(ctx, sw.Best.Model, sw.Best.Alias, sw.Best.Version); err != nil {
					return fmt.Errorf("alias the best version: %w", err)
				}
			}
		case ActFinish:
			sw.State = d.Outcome
			if d.Outcome != Finished {
				sw.Note = d.Why
			}
		}
		d.Acted, acted = true, true
	}
	if !acted {
		return nil
	}
	if err := r.save(ctx, sw); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// trialPlan is the one-task plan of trial n's rung k.
func (sw *Sweep) trialPlan(s *Spec, n, k int) (*plan.Spec, error) {
	if n < 0 || n >= len(sw.Trials) || k >= len(sw.Trials[n].Rungs) {
		return nil, fmt.Errorf("decision names trial %d rung %d, which the record lacks", n, k)
	}
	t := &sw.Trials[n]
	params := maps.Clone(s.Base.Params)
	if params == nil {
		params = map[string]any{}
	}
	// The point again from the spec, not the record: values read back from
	// BSON (objects, lists) would not travel as the JSON the spec gave.
	maps.Copy(params, s.Point(t.N))
	params["epochs"] = t.Rungs[k].Epochs
	if s.Base.Validation != "" {
		params["validation"] = s.Base.Validation
	}
	if k > 0 && sw.Init {
		params["init"] = map[string]any{"model": s.Base.Model, "version": t.Rungs[k-1].Version}
	}
	return &plan.Spec{Name: "sweep-" + sw.Name, Tasks: []plan.TaskSpec{{
		ID: "train", Kind: s.Base.Kind, Queue: s.Base.Queue, Input: s.Base.Input, Model: s.Base.Model,
		Params: params, MaxAttempts: s.Base.MaxAttempts, Timeout: s.Base.Timeout,
	}}}, nil
}

// observe records the rungs whose plans ended; it reports whether any did.
func (c *Controller) observe(ctx context.Context, sw *Sweep, s *Spec) (bool, error) {
	changed := false
	for n := range sw.Trials {
		for k, rg := range sw.Trials[n].Rungs {
			if rg.State != Running {
				continue
			}
			p, err := c.Status.Plan(ctx, rg.Plan)
			if errors.Is(err, status.ErrNotFound) {
				continue // the master has not taken it yet
			}
			if err != nil {
				return changed, err
			}
			if !p.Status.Terminal() {
				continue
			}
			rg, err = c.result(ctx, s, p, rg)
			if err != nil {
				return changed, err
			}
			sw.finishRung(s, n, k, rg)
			changed = true
		}
	}
	return changed, nil
}

// result reads a finished rung's outcome from its plan's task.
func (c *Controller) result(ctx context.Context, s *Spec, p *status.Plan, rg Rung) (Rung, error) {
	ts, err := c.Status.Tasks(ctx, p.ID)
	if err != nil {
		return rg, err
	}
	if p.Status != plan.Succeeded || len(ts) == 0 {
		rg.State, rg.Error = Failed, string(p.Status)
		if len(ts) > 0 && ts[0].Error != "" {
			rg.Error += ": " + ts[0].Error
		} else if p.Note != "" {
			rg.Error += ": " + p.Note
		}
		return rg, nil
	}
	out, err := ParseOutput(ts[0].Output)
	if err != nil {
		rg.State, rg.Error = Failed, err.Error()
		return rg, nil
	}
	rg.Version, rg.Run, rg.Seconds = out.Version, out.Run, out.Seconds
	v, ok := out.Metric(s.Metric)
	if !ok && out.Version > 0 { // older train kinds: the version's metrics
		ms, err := models.New(ctx, c.DB, models.Options{})
		if err != nil {
			return rg, err
		}
		m, err := ms.Get(ctx, models.Ref{Name: out.Model, Version: out.Version})
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return rg, err
		}
		if m != nil {
			v, ok = m.Metrics[s.Metric]
		}
	}
	if !ok {
		rg.State, rg.Error = Failed, fmt.Sprintf("the train task reported no %s (output %s)", s.Metric, ts[0].Output)
		return rg, nil
	}
	rg.State, rg.Metric = Done, v
	return rg, nil
}

// Output is a train task's output as the sweep reads it.
type Output struct {
	Model   string             `json:"model"`
	Version int64              `json:"version"`
	Run     string             `json:"run"`
	Seconds float64            `json:"seconds"`
	Metrics map[string]float64 `json:"metrics"`
	top     map[string]any
}

// ParseOutput reads a train (or evaluate) task's output.
func ParseOutput(s string) (*Output, error) {
	var o Output
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return nil, fmt.Errorf("task output %q: %w", s, err)
	}
	_ = json.Unmarshal([]byte(s), &o.top)
	return &o, nil
}

// Metric is name from the output's "metrics", else a top-level number of
// that name (the train kind before it had "metrics").
func (o *Output) Metric(name string) (float64, bool) {
	if v, ok := o.Metrics[name]; ok {
		return v, true
	}
	v, ok := o.top[name].(float64)
	return v, ok
}
