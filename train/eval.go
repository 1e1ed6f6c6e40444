package train

import (
	"context"
	"fmt"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
)

// Evaluator computes a model's loss and metrics over a data set with an
// inference-mode executor (dropout off, batch norm on moving averages). It
// shares the graph's variables, so it sees the weights as trained so far.
type Evaluator struct {
	cfg     Config
	exe     runner
	cpuExe  *graph.Executor
	feeds   []graph.Feed
	label   int
	classes int
	metrics int // the index of Config.Metrics' first output
	carry   *carrier
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
	targets := []*graph.Node{cfg.Loss}
	ev := &Evaluator{cfg: cfg, label: -1}
	if cfg.Logits != nil {
		targets = append(targets, cfg.Logits)
		ev.label = labelIndex(&cfg)
		ev.classes = cfg.Logits.Shape()[1]
	}
	ev.metrics = len(targets)
	for _, m := range cfg.Metrics {
		targets = append(targets, m.Node)
	}
	for _, in := range cfg.Inputs {
		ev.feeds = append(ev.feeds, graph.Feed{Node: in})
	}
	ev.carry, targets, ev.feeds = newCarrier(cfg.Carry, targets, ev.feeds)
	exe, cpuExe, err := newRunner(cfg, opts, targets)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ev.exe, ev.cpuExe = exe, cpuExe
	ev.carry.dev, _ = exe.(*graph.DeviceExecutor)
	return ev, nil
}

// Close stops the evaluator's executor.
func (ev *Evaluator) Close() {
	if ev.cpuExe != nil {
		ev.cpuExe.Close()
	}
}

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
		for i := range ev.cfg.Inputs {
			ev.feeds[i].Value = b.Tensors[i]
		}
		ev.carry.prepare(ev.feeds, b.Size)
		outs, err := ev.exe.Run(ev.feeds...)
		if err == nil {
			err = ev.carry.keep(outs)
		}
		if err != nil {
			return Result{}, fmt.Errorf("train: evaluating batch %d: %w", b.Index, err)
		}
		loss.Add(float64(outs[0].Float32s()[0]), b.Size)
		for i := range mets {
			mets[i].Add(float64(outs[ev.metrics+i].Float32s()[0]), b.Size)
		}
		if ev.label >= 0 {
			logits, labels := outs[1].Float32s(), b.Tensors[ev.label].Int32s()
			acc.Add(float64(Correct(logits, labels, ev.classes))/float64(b.Size), b.Size)
			if ev.cfg.TopK > 1 {
				topk.Add(float64(CorrectTopK(logits, labels, ev.classes, ev.cfg.TopK))/float64(b.Size), b.Size)
			}
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
