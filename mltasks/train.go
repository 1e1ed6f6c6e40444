package mltasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// train is the "train" kind: prepareTrain checks and builds everything
// (nothing is written to the store when it fails), then trainJob.execute
// trains and saves. What cannot get better by retrying (no such dataset,
// invalid parameters, samples the network cannot take) fails at once: the
// error is task.Permanent.
func (k *Kinds) train(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	j, err := k.prepareTrain(ctx, run)
	if err != nil {
		return nil, err
	}
	defer j.close()
	return j.execute(ctx)
}

// trainJob is a train task ready to run.
type trainJob struct {
	run  *task.Run
	t    *task.Task
	p    TrainParams
	db   *store.DB
	ms   *models.Store
	log  *slog.Logger
	arch string // what params.arch said, or "architecture" / the parent's

	g      *graph.Graph
	net    *layers.Layer
	opt    optim.Optimizer
	cfg    train.Config
	loop   *train.Loop
	data   *viewBatches
	val    *viewBatches
	valEv  *train.Evaluator
	parent *models.Model // the version fine-tuned from, or nil
	epochs int           // the epochs Run is asked for

	// What the run did, set by its hooks.
	completed int  // epochs completed
	budgetHit bool // params.steps ended the run

	closers []func()
}

func (j *trainJob) close() {
	for i := len(j.closers) - 1; i >= 0; i-- {
		j.closers[i]()
	}
}

// fail wraps err with the task's name, keeping it Permanent if it was.
func (j *trainJob) fail(err error) error {
	return fmt.Errorf("mltasks: train task %s: %w", j.t.ID, err)
}

// prepareTrain reads the params, checks the views on the server, builds the
// network (loading the fine-tune's weights), the optimizer and the loop.
// It writes nothing to the store.
func (k *Kinds) prepareTrain(ctx context.Context, run *task.Run) (_ *trainJob, err error) {
	t := run.Task
	j := &trainJob{run: run, t: t, log: run.Logger(), p: newTrainParams()}
	defer func() {
		if err != nil {
			j.close()
		}
	}()
	if err := run.Params(&j.p); err != nil {
		return nil, err
	}
	p := &j.p
	p.defaults()
	if t.Input == "" || t.Model == "" {
		return nil, task.Permanent(fmt.Errorf("mltasks: train task %s needs an input dataset and a model name (got input %q, model %q)", t.ID, t.Input, t.Model))
	}
	if err := p.check(); err != nil {
		return nil, task.Permanent(j.fail(err))
	}
	if err := store.ValidateName("model", t.Model); err != nil {
		return nil, task.Permanent(j.fail(err))
	}
	if _, ok := k.archs[p.Arch]; p.Arch != "" && len(p.Architecture) == 0 && !ok {
		return nil, task.Permanent(j.fail(fmt.Errorf("params.arch: unknown arch %q: want one of %s, or params.architecture (a layers JSON)", p.Arch, k.archs.names())))
	}
	if j.db, err = storeOf(run); err != nil {
		return nil, err
	}
	coll, err := k.samples(ctx, j.db)
	if err != nil {
		return nil, j.fail(err)
	}
	ds, info, err := openView(ctx, j.db, coll, t.Input)
	if err != nil {
		return nil, j.fail(err)
	}
	if p.Loss == "" {
		p.Loss = lossXent
		if info.regression() {
			p.Loss = lossMSE
		}
		// Again: which metrics early stopping may watch depends on the loss.
		if err := p.check(); err != nil {
			return nil, task.Permanent(j.fail(err))
		}
	}
	if err := checkLoss(info, p.Loss); err != nil {
		return nil, j.fail(err)
	}
	if j.ms, err = models.New(ctx, j.db, models.Options{}); err != nil {
		return nil, j.fail(err)
	}
	var initWeights []byte
	if in := p.Init; in != nil {
		l, err := j.ms.Load(ctx, models.Ref{Name: in.Model, Version: in.Version, Alias: in.Alias})
		if errors.Is(err, models.ErrNotFound) {
			return nil, task.Permanent(j.fail(fmt.Errorf("params.init: %w (list the versions with tl models %s)", err, in.Model)))
		}
		if err != nil {
			return nil, j.fail(fmt.Errorf("params.init: %w", err))
		}
		j.parent, initWeights = l.Model, l.Weights
	}

	j.g = graph.New(p.Seed)
	if j.net, j.arch, err = k.network(j.g, p, info, j.parent); err != nil {
		return nil, task.Permanent(j.fail(err))
	}
	ins := j.net.InputLayers()
	if len(ins) != 1 {
		return nil, task.Permanent(j.fail(fmt.Errorf("the network has %d inputs; the train kind feeds one (the samples)", len(ins))))
	}
	x := ins[0].Output()
	logits := j.net.Output()
	regression := p.Loss == lossMSE
	if !regression && (len(logits.Shape()) != 2 || logits.Shape()[1] < 2) {
		return nil, task.Permanent(j.fail(fmt.Errorf("the network's output %s is %v; the train kind wants logits (batch, classes >= 2)", j.net.Name(), logits.Shape())))
	}
	if regression && logits.Value().DType != tensor.Float32 {
		return nil, task.Permanent(j.fail(fmt.Errorf("the network's output %s is %v; loss %s wants float32", j.net.Name(), logits.Value().DType, lossMSE)))
	}
	classes := 0
	var target tensor.Shape // one example's target as fed, for a regression
	if regression {
		target = logits.Shape()[1:].Clone()
	} else {
		classes = logits.Shape()[1]
	}
	if err := checkInput(info, ins[0].Name(), x.Shape(), x.Value().DType); err != nil {
		return nil, j.fail(err)
	}
	if err := checkTargets(ctx, coll, ds, info, p.Loss, j.net.Name(), logits.Shape()); err != nil {
		return nil, j.fail(err)
	}
	vo := viewOptions{Batch: p.Batch, Limit: p.Limit, Shuffle: true, Seed: p.Seed, Cache: true, Classes: classes, Target: target}
	j.data = newViewBatches(ds, info, x.Shape(), x.Value().DType, vo)
	if p.Validation != "" {
		vds, vinfo, err := openView(ctx, j.db, coll, p.Validation)
		if err == nil {
			err = checkInput(vinfo, ins[0].Name(), x.Shape(), x.Value().DType)
		}
		if err == nil {
			err = checkTargets(ctx, coll, vds, vinfo, p.Loss, j.net.Name(), logits.Shape())
		}
		if err != nil {
			return nil, j.fail(fmt.Errorf("params.validation: %w", err))
		}
		j.val = newViewBatches(vds, vinfo, x.Shape(), x.Value().DType, viewOptions{Batch: 256, Cache: true, Classes: classes, Target: target})
	}
	if j.parent != nil {
		// Before the optimizer and the device copy: they start from these.
		src := fmt.Sprintf("model %s v%d", j.parent.Name, j.parent.Version)
		if _, err := modelio.DecodeWeights(initWeights, j.net.AllParams(), modelio.Source(src)); err != nil {
			return nil, task.Permanent(j.fail(fmt.Errorf("params.init: the weights of %s do not fit the network: %w", src, err)))
		}
	}

	labels, loss, metrics := lossOf(j.g, p.Loss, logits)
	j.opt = p.optimizer(j.g)
	step, err := optim.MinimizeWith(j.opt, loss, optim.MinimizeOptions{Vars: j.net.Trainable(), WeightDecay: float32(p.WeightDecay)})
	if err != nil {
		return nil, j.fail(err)
	}
	// The loss reported is the data's, without the weight decay: what a
	// validation loss compares with.
	j.cfg = train.Config{Inputs: []*graph.Node{x, labels}, Loss: loss, Update: step.Update, Metrics: metrics}
	if !regression {
		j.cfg.Logits, j.cfg.Labels = logits, labels
	}
	release, err := placeOn(k.device, t, p.Device, j.g, &j.cfg)
	if err != nil {
		return nil, err
	}
	j.closers = append(j.closers, release)
	if j.loop, err = train.New(j.cfg); err != nil {
		return nil, j.fail(err)
	}
	j.closers = append(j.closers, j.loop.Close)
	if j.val != nil {
		if j.valEv, err = j.loop.NewEvaluator(); err != nil {
			return nil, j.fail(err)
		}
		j.closers = append(j.closers, j.valEv.Close)
	}
	j.epochs = p.Epochs
	if spe := j.data.Batches(); p.Steps > 0 && spe > 0 {
		need := (p.Steps + spe - 1) / spe
		if j.epochs == 0 || need < j.epochs {
			j.epochs = need
		}
	} else if j.epochs == 0 {
		j.epochs = math.MaxInt32 // an unknown epoch length: the step budget ends the run
	}
	return j, nil
}

// lossOf is the label placeholder, the loss and the extra metrics of a
// network whose output is out: class ids and softmax cross-entropy, or
// float32 targets of out's shape, their mean squared error and mean
// absolute error.
func lossOf(g *graph.Graph, loss string, out *graph.Node) (labels, l *graph.Node, metrics []train.Metric) {
	if loss != lossMSE {
		labels = g.Placeholder("label", tensor.Int32, -1)
		return labels, graph.SparseSoftmaxCrossEntropy(out, labels), nil
	}
	shape := out.Shape().Clone()
	shape[0] = -1
	labels = g.Placeholder("target", tensor.Float32, shape...)
	mae := graph.ReduceMean(graph.Abs(graph.Sub(out, labels)))
	return labels, graph.MeanSquaredError(out, labels), []train.Metric{{Name: metricMAE, Node: mae}}
}

// network builds the network the params ask for: an architecture JSON, a
// registered builder, or the fine-tuned version's architecture. It returns
// the arch's name for the record.
func (k *Kinds) network(g *graph.Graph, p *TrainParams, info viewInfo, parent *models.Model) (*layers.Layer, string, error) {
	if len(p.Architecture) > 0 {
		net, err := layers.FromJSON(g, p.Architecture)
		if err != nil {
			return nil, "", fmt.Errorf("params.architecture: %w", err)
		}
		return net, "architecture", nil
	}
	if p.Arch == "" && parent != nil {
		net, err := layers.FromJSON(g, parent.Architecture)
		if err != nil {
			return nil, "", fmt.Errorf("params.init: rebuilding the architecture of %s v%d: %w", parent.Name, parent.Version, err)
		}
		name, _ := parent.Params["arch"].(string)
		if name == "" {
			name = "architecture"
		}
		return net, name, nil
	}
	name := p.Arch
	if name == "" {
		name = "mlp"
	}
	b, ok := k.archs[name]
	if !ok {
		return nil, "", fmt.Errorf("params.arch: unknown arch %q: want one of %s, or params.architecture (a layers JSON)", name, k.archs.names())
	}
	in := ArchInput{Shape: info.Payload.Shape, DType: info.Payload.dtype(), Classes: p.Classes, Width: p.Width, Dropout: p.Dropout}
	if p.Loss == lossMSE {
		// One output per target value: a builder's (batch, Classes) fits a
		// target of one axis (or a scalar); others need their own builder.
		in.Target = slices.Clone(info.Target.Shape)
		in.Classes = max(1, tensor.Shape(in.Target).Size())
	} else if in.Classes == 0 {
		in.Classes = max(2, info.MaxLabel+1)
	}
	net, err := b(g, in)
	if err != nil {
		return nil, "", fmt.Errorf("params.arch %s on dataset %q (sample %q, %v): %w", name, info.Name, info.Payload.Key, info.Payload, err)
	}
	if net == nil {
		return nil, "", fmt.Errorf("params.arch %s: the builder returned no network", name)
	}
	return net, name, net.Err()
}

// hooks are every hook of the run, in the order they must run: the
// validation first (early stopping and the events read its values).
func (j *trainJob) hooks(w *events.Writer) []train.Hook {
	p := &j.p
	var hs []train.Hook
	total := j.epochs * max(j.data.Batches(), 0)
	if p.Steps > 0 {
		total = p.Steps
	}
	if h, ok := p.schedule(j.opt, j.data.Batches(), total); ok {
		hs = append(hs, h)
	}
	if j.valEv != nil {
		hs = append(hs, train.Evaluate(j.valEv, j.val, "val_"))
	}
	if es := p.EarlyStopping; es != nil {
		hs = append(hs, train.EarlyStopping(es.Metric, es.Mode == "min", es.Patience, es.MinDelta))
	}
	partial := false
	hs = append(hs, train.Hook{Name: "budget",
		StepEnd: func(_ context.Context, s *train.State) error {
			if p.Steps > 0 && s.Step >= p.Steps {
				j.budgetHit = true
				partial = s.StepsPerEpoch < 0 || s.StepInEpoch < s.StepsPerEpoch
				return train.ErrStop
			}
			return nil
		},
		EpochEnd: func(_ context.Context, s *train.State) error {
			if !partial { // from the epoch's number: a resumed run counts the epochs before it
				j.completed = s.Epoch + 1
			}
			return nil
		},
	})
	return append(hs, eventHooks(w, j.run, p.LogEvery, j.log, map[string]any{
		"arch": j.arch, "epochs": p.Epochs, "steps": p.Steps, "batch": p.Batch, "lr": p.LR, "seed": p.Seed,
		"optimizer": p.Optimizer, "examples": j.data.Examples(),
	})...)
}

// execute trains and saves the version; its events are the run's curves.
func (j *trainJob) execute(ctx context.Context) (json.RawMessage, error) {
	t, p := j.t, &j.p
	// One version per task: an attempt that saved it and died before
	// reporting leaves it for this one to return.
	if m, err := savedVersion(ctx, j.ms, t.Model, t.Key()); err != nil {
		return nil, j.fail(err)
	} else if m != nil {
		return j.savedBefore(ctx, m)
	}
	ck, at, resumed, err := j.resume(ctx)
	if err != nil {
		return nil, err
	}
	w, err := events.NewWriter(j.db, events.Options{Model: t.Model, Run: ck.run})
	if err != nil {
		return nil, j.fail(fmt.Errorf("events: %w", err))
	}
	defer closeEvents(ctx, w, j.log)
	j.loop.Use(j.hooks(w)...)
	if ck.enabled() {
		j.loop.Use(ck.hook(w.Run()))
	}

	j.log.Info("training started", "model", t.Model, "run", w.Run(), "dataset", t.Input, "examples", j.data.Examples(),
		"epochs", j.epochs, "steps", p.Steps, "steps_per_epoch", j.data.Batches(), "arch", j.arch)
	start := time.Now()
	st, err := j.loop.RunAt(ctx, j.data, at, j.epochs)
	if err != nil {
		return nil, j.fail(err)
	}
	secs := time.Since(start).Seconds()
	m, err := j.save(ctx, st, w.Run())
	if err != nil {
		return nil, err
	}
	ck.clear(ctx)
	// The run names the version it produced (and the version its run).
	if err := markVersion(ctx, j.ms, w, t, p.Alias, st.Step, m); err != nil {
		return nil, j.fail(err)
	}
	acc, lossV := st.Values[train.MetricAccuracy], st.Values[train.MetricLoss]
	stopped := st.Stopped && !j.budgetHit
	// A regression has mae where a classifier has accuracy.
	score, scoreV := train.MetricAccuracy, acc
	if p.Loss == lossMSE {
		score, scoreV = metricMAE, st.Values[metricMAE]
	}
	j.log.Info("trained", "model", m.Name, "version", m.Version, "run", w.Run(), score, round4(scoreV), "loss", round4(lossV),
		"epochs", j.completed, "steps", st.Step, "stopped_early", stopped, "seconds", math.Round(secs))
	out := map[string]any{"model": m.Name, "version": m.Version, "run": w.Run(),
		"epochs": j.completed, "steps": st.Step, "examples": j.data.Examples(), "seconds": secs, "stopped_early": stopped,
		"metrics": st.Values, score: scoreV, "loss": lossV}
	if resumed {
		out["resumed_from_step"] = at.Step
	}
	return json.Marshal(out)
}

// save stores the trained weights as the model's next version, with the
// architecture JSON (what evaluate and a fine-tune rebuild) and lineage.
func (j *trainJob) save(ctx context.Context, st *train.State, runID string) (*models.Model, error) {
	t, p := j.t, &j.p
	if j.cfg.Device != nil { // the trained weights are on the GPU
		if err := j.cfg.Device.Pull(); err != nil {
			return nil, j.fail(err)
		}
	}
	arch, err := j.net.MarshalJSON()
	if err != nil {
		return nil, j.fail(err)
	}
	var weights bytes.Buffer
	if err := modelio.WriteWeights(&weights, j.net.AllParams(), nil); err != nil {
		return nil, j.fail(err)
	}
	metrics := map[string]float64{"train_loss": st.Values[train.MetricLoss]}
	if p.Loss == lossMSE {
		metrics["train_"+metricMAE] = st.Values[metricMAE]
	} else {
		metrics["train_accuracy"] = st.Values[train.MetricAccuracy]
	}
	for _, k := range []string{"val_accuracy", "val_loss", "val_" + metricMAE} {
		if v, ok := st.Values[k]; ok {
			metrics[k] = v
		}
	}
	lin := models.Lineage{Dataset: t.Input, Task: t.Key(), Run: runID}
	if j.parent != nil {
		lin.Parent = j.parent.ID
	}
	m, err := j.ms.Save(ctx, models.Spec{Name: t.Model, Architecture: arch, Params: p.record(j.arch), Metrics: metrics, Lineage: lin}, &weights)
	if err != nil {
		return nil, fmt.Errorf("mltasks: saving model %s: %w", t.Model, err)
	}
	return m, nil
}
