package train

import (
	"context"
	"fmt"

	"github.com/tlgo/tl/feed"
)

// Evaluator computes a model's loss and metrics over a data set with an
// inference-mode executor (dropout off, batch norm on moving averages). It
// shares the graph's variables, so it sees the weights as trained so far.
type Evaluator struct {
	stepper
	cfg Config
}

// NewEvaluator prepares an evaluator of cfg's Loss (and, with Logits and Labels,
// accuracy); Update is ignored. With cfg.Options.Pool nil it starts its own
// worker pool; one made by Loop.NewEvaluator shares the loop's, so close it
// before the loop.
func NewEvaluator(cfg Config) (*Evaluator, error) {
	if err := cfg.check(false); err != nil {
		return nil, err
	}
	opts := cfg.Options
	opts.Training = false
	st, err := newStepper(&cfg, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &Evaluator{stepper: st, cfg: cfg}, nil
}

// Close stops the evaluator's executor.
func (ev *Evaluator) Close() { ev.stepper.close() }

// Result is what Evaluate measures: the mean loss, the accuracies when the
// config has logits and labels, and Config.Metrics by name, over Examples
// examples.
type Result struct {
	Loss, Accuracy, TopK float64
	K                    int
	Examples             int
	Metrics              map[string]float64
	hasAcc               bool
}

// Values returns the result as named metrics with a prefix ("val_" gives
// "val_loss", "val_accuracy").
func (r Result) Values(prefix string) map[string]float64 {
	m := map[string]float64{prefix + MetricLoss: r.Loss}
	if r.hasAcc {
		m[prefix+MetricAccuracy] = r.Accuracy
		if r.K > 1 {
			m[prefix+TopKName(r.K)] = r.TopK
		}
	}
	for k, v := range r.Metrics {
		m[prefix+k] = v
	}
	return m
}

// Evaluate runs one epoch of loader (which should not shuffle or augment
// randomly) and averages over every example.
func (ev *Evaluator) Evaluate(ctx context.Context, loader feed.Batches) (Result, error) {
	var loss, acc, topk Mean
	mets := make([]Mean, len(ev.cfg.Metrics))
	ev.carry.reset()
	it := loader.Epoch(ctx, 0)
	defer it.Close()
	for it.Next() {
		b := it.Batch()
		outs, err := ev.run(b)
		if err != nil {
			return Result{}, fmt.Errorf("train: evaluating batch %d: %w", b.Index, err)
		}
		loss.Add(float64(outs[0].Float32s()[0]), b.Size)
		for i := range mets {
			mets[i].Add(float64(outs[ev.metrics+i].Float32s()[0]), b.Size)
		}
		if ev.label >= 0 {
			ev.score(outs, b, ev.cfg.TopK, &acc, &topk)
		}
	}
	it.Close()
	if err := it.Err(); err != nil {
		return Result{}, fmt.Errorf("train: evaluating: %w", err)
	}
	r := Result{Loss: loss.Value(), Examples: loss.Count(), K: ev.cfg.TopK}
	if len(mets) > 0 {
		r.Metrics = make(map[string]float64, len(mets))
		for i, m := range ev.cfg.Metrics {
			r.Metrics[m.Name] = mets[i].Value()
		}
	}
	if ev.label >= 0 {
		r.Accuracy, r.TopK, r.hasAcc = acc.Value(), topk.Value(), true
	}
	return r, nil
}

// Evaluate is a hook that evaluates after every epoch and stores the results in
// State.Values with prefix ("val_loss", "val_accuracy" for "val_"). Put it
// before hooks that read them (EarlyStopping, Logger).
func Evaluate(ev *Evaluator, loader feed.Batches, prefix string) Hook {
	return Hook{Name: "evaluate", EpochEnd: func(ctx context.Context, s *State) error {
		r, err := ev.Evaluate(ctx, loader)
		if err != nil {
			return err
		}
		for k, v := range r.Values(prefix) {
			s.Values[k] = v
		}
		return nil
	}}
}
