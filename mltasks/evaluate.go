package mltasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// evaluate is the "evaluate" kind: the saved version's architecture and
// weights, over the view streamed as the train kind streams it.
func (k *Kinds) evaluate(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	t := run.Task
	var p EvalParams
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	if t.Input == "" || t.Model == "" {
		return nil, task.Permanent(fmt.Errorf("mltasks: evaluate task %s needs an input dataset and a model (got input %q, model %q)", t.ID, t.Input, t.Model))
	}
	if p.Batch == 0 {
		p.Batch = 256
	}
	if p.Limit < 0 || p.Version < 0 || p.Batch < 0 || (p.Device != "" && p.Device != "cpu" && p.Device != GPUQueue) {
		return nil, task.Permanent(fmt.Errorf("mltasks: evaluate task %s: params version %d, limit %d and batch %d must not be negative, device %q cpu or cuda", t.ID, p.Version, p.Limit, p.Batch, p.Device))
	}
	db, err := storeOf(run)
	if err != nil {
		return nil, err
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return nil, err
	}
	m, err := ms.Load(ctx, models.Ref{Name: t.Model, Version: p.Version, Alias: p.Alias})
	if errors.Is(err, models.ErrNotFound) {
		return nil, task.Permanent(fmt.Errorf("mltasks: evaluate task %s: %w (a train task saves it: list them with tl models)", t.ID, err))
	}
	if err != nil {
		return nil, fmt.Errorf("mltasks: evaluate task %s: %w", t.ID, err)
	}
	g := graph.New(1)
	net, err := layers.FromJSON(g, m.Architecture, layers.MaxParams(min(len(m.Weights)/2, layers.DefaultMaxParams)))
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: model %s v%d: rebuilding its architecture: %w", m.Name, m.Version, err))
	}
	if _, err := modelio.DecodeWeights(m.Weights, net.AllParams(), modelio.Source(fmt.Sprintf("model %s v%d", m.Name, m.Version))); err != nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: model %s v%d: %w", m.Name, m.Version, err))
	}
	ins := net.InputLayers()
	logits := net.Output()
	coll, err := k.samples(ctx, db)
	if err != nil {
		return nil, err
	}
	// The view says what is measured: a view whose samples carry targets
	// evaluates a regression (mse, mae), one of class ids a classifier.
	ds, info, err := openView(ctx, db, coll, t.Input)
	if err != nil {
		return nil, fmt.Errorf("mltasks: evaluate task %s: model %s v%d: %w", t.ID, m.Name, m.Version, err)
	}
	lossName, classes := lossXent, 0
	var target tensor.Shape
	if info.regression() {
		lossName = lossMSE
		if len(ins) != 1 || len(logits.Shape()) < 1 || logits.Value().DType != tensor.Float32 {
			return nil, task.Permanent(fmt.Errorf("mltasks: model %s v%d has %d inputs and output %v of %v; evaluate on targets takes one input and a float32 output (batch, ...)", m.Name, m.Version, len(ins), logits.Shape(), logits.Value().DType))
		}
		target = logits.Shape()[1:].Clone()
	} else {
		if len(ins) != 1 || len(logits.Shape()) != 2 {
			return nil, task.Permanent(fmt.Errorf("mltasks: model %s v%d has %d inputs and output %v; evaluate takes one input and logits (batch, classes)", m.Name, m.Version, len(ins), logits.Shape()))
		}
		classes = logits.Shape()[1]
	}
	x := ins[0].Output()
	err = checkInput(info, ins[0].Name(), x.Shape(), x.Value().DType)
	if err == nil {
		err = checkTargets(ctx, coll, ds, info, lossName, net.Name(), logits.Shape())
	}
	if err != nil {
		return nil, fmt.Errorf("mltasks: evaluate task %s: model %s v%d: %w", t.ID, m.Name, m.Version, err)
	}
	data := newViewBatches(ds, info, x.Shape(), x.Value().DType, viewOptions{Batch: p.Batch, Limit: p.Limit, Cache: true, Classes: classes, Target: target})
	labels, loss, extra := lossOf(g, lossName, logits)
	cfg := train.Config{Inputs: []*graph.Node{x, labels}, Loss: loss, Metrics: extra}
	if !info.regression() {
		cfg.Logits, cfg.Labels = logits, labels
	}
	release, err := placeOn(k.device, t, p.Device, g, &cfg)
	if err != nil {
		return nil, err
	}
	defer release()
	ev, err := train.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	res, err := ev.Evaluate(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("mltasks: evaluate task %s: %w", t.ID, err)
	}
	values := res.Values("")
	metrics := map[string]float64{}
	for k, v := range values {
		metrics[t.Input+"_"+k] = v
	}
	if err := ms.SetMetrics(ctx, m.Name, m.Version, metrics); err != nil {
		return nil, err
	}
	logEvaluation(ctx, db, m.Model, t, values, run.Logger())
	out := map[string]any{"model": m.Name, "version": m.Version, "loss": res.Loss, "examples": res.Examples, "metrics": values}
	if info.regression() {
		out[metricMAE] = values[metricMAE]
	} else {
		out["accuracy"] = res.Accuracy
	}
	return json.Marshal(out)
}

// logEvaluation adds the evaluation to the curves of the run that trained the
// version (phase test, at the run's last step), so that tl curve shows it
// next to the training curve. A version saved without a run gets none.
func logEvaluation(ctx context.Context, db *store.DB, m *models.Model, t *task.Task, values map[string]float64, log *slog.Logger) {
	if m.Lineage.Run == "" {
		return
	}
	evs, err := events.Find(ctx, db, events.Query{Model: m.Name, Run: m.Lineage.Run})
	if err != nil {
		log.Warn("evaluation not added to the training curves", "run", m.Lineage.Run, "err", err)
		return
	}
	var step int64
	for _, e := range evs {
		step = max(step, e.Step)
	}
	w, err := events.NewWriter(db, events.Options{Model: m.Name, Run: m.Lineage.Run})
	if err != nil {
		log.Warn("evaluation not added to the training curves", "run", m.Lineage.Run, "err", err)
		return
	}
	w.Log(events.Event{Phase: events.Test, Step: step, Values: values,
		Fields: map[string]any{"dataset": t.Input, "task": t.Key(), "model_version": m.Version}})
	closeEvents(ctx, w, log)
}
