// Package mltasks holds the machine-learning task kinds agents run: train and
// evaluate. They join the four modules of the library: a task names an input
// dataset (the dataset module), a model (the model module) and parameters; the
// kind reads the samples, builds the network from the layers catalogue or from an
// architecture JSON, trains it with the train loop, and saves the result as a new
// version of the model, with its metrics and lineage, in the same store.
//
// The kinds need the agent's store: an agent started with a MongoDB URL (or the
// local master's endpoints) hands its *store.DB to every task function.
//
//	train     Input: dataset name; Model: model name to save; params: TrainParams.
//	          Output: {"model", "version", "run", "accuracy", "loss", "examples", "seconds"}.
//	evaluate  Input: dataset name; Model: model name (latest version, or
//	          params.version / params.alias). Output: {"accuracy", "loss", "examples"};
//	          the metrics are also recorded on the model version as "<input>_accuracy".
//
// Both are registered with their params types, so agents announce the
// parameter fields and the master rejects a plan with an unknown one when it is
// submitted.
//
// A train task records its run's curves as events (package events, through
// package trainevents), under the model's name and a fresh run ID: loss and
// speed every few steps, the epoch's accuracy, the validation loss and accuracy
// per epoch when params.validation names a dataset. The saved version's lineage
// names the run, and the run's last event names the version; an evaluate task
// adds its result to that run as a test point. `tl runs MODEL` and `tl curve
// MODEL` read them back. Inside an epoch the task logs its progress (examples/s,
// ETA) on the agent's log.
//
// Errors that retrying cannot cure are task.Permanent, so the task fails at once
// instead of using its attempts: a dataset or model that does not exist,
// invalid parameters, samples the network cannot take.
//
// Tasks on the "cuda" queue (an agent started with --queues cuda on a GPU node)
// train and evaluate on the GPU: the network runs on the CUDA backend, the
// weights are pulled back to the host before they are saved. One device per
// agent process, opened on the first such task; device tasks run one at a time.
//
// Both are idempotent per task key in their effect on what readers see: a train
// task that runs twice saves two versions, each whole, and lineage names the task.
package mltasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/trainevents"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// GPUQueue is the queue whose tasks run on the GPU.
const GPUQueue = "cuda"

// Options configure the kinds.
type Options struct {
	// OpenDevice opens the device for tasks on GPUQueue; nil means GPU 0
	// through cuda.Open (or the emulator named by TL_CUDA_EMULATOR).
	OpenDevice func() (graph.Device, error)
}

// Register adds the kinds "train" and "evaluate" to r.
func Register(r *task.Registry) error { return RegisterWith(r, Options{}) }

// RegisterWith adds the kinds with options.
func RegisterWith(r *task.Registry, o Options) error {
	k := &kinds{open: o.OpenDevice}
	if k.open == nil {
		k.open = openGPU
	}
	if err := r.RegisterWithParams("train", k.train, TrainParams{}); err != nil {
		return err
	}
	return r.RegisterWithParams("evaluate", k.evaluate, EvalParams{})
}

// kinds holds the device the GPU tasks share.
type kinds struct {
	open func() (graph.Device, error)
	// mu serialises GPU tasks: they share one stream, and a plan captured while
	// another task launches would record that task's work.
	mu     sync.Mutex
	dev    graph.Device
	devErr error
	tried  bool
}

// device returns the GPU for a task on GPUQueue (locking k.mu: call release), or
// nil for any other queue.
func (k *kinds) device(t *task.Task) (graph.Device, func(), error) {
	if t.Queue != GPUQueue {
		return nil, func() {}, nil
	}
	k.mu.Lock()
	if !k.tried {
		k.tried = true
		k.dev, k.devErr = k.open()
	}
	if k.devErr != nil {
		k.mu.Unlock()
		return nil, nil, fmt.Errorf("mltasks: task %s is on the %s queue but this agent has no usable GPU: %w", t.ID, GPUQueue, k.devErr)
	}
	return k.dev, k.mu.Unlock, nil
}

// Train runs a train task on the CPU, or on a GPU opened for it when the task
// is on GPUQueue.
func Train(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	return (&kinds{open: openGPU}).train(ctx, run)
}

// Evaluate runs an evaluate task, as Train.
func Evaluate(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	return (&kinds{open: openGPU}).evaluate(ctx, run)
}

// openGPU opens GPU 0; it returns a nil interface, not a nil *cuda.Device, on
// failure.
func openGPU() (graph.Device, error) {
	d, err := cuda.Open(cuda.Config{})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// TrainParams are the parameters of a train task.
type TrainParams struct {
	// Arch is a built-in network for 28×28×1 images in 10 classes: "mlp" or
	// "cnn". Architecture, a layers JSON, is used instead when given.
	Arch         string          `json:"arch"`
	Architecture json.RawMessage `json:"architecture,omitempty"`
	Epochs       int             `json:"epochs"`
	Batch        int             `json:"batch"`
	LR           float64         `json:"lr"`
	Seed         uint64          `json:"seed"`
	// Limit trains on at most this many samples (0: all).
	Limit int `json:"limit"`
	// Alias, if set, is pointed at the saved version ("latest-train", "best").
	Alias string `json:"alias"`
	// Validation names a dataset evaluated after every epoch: its loss and
	// accuracy are recorded as the run's validation curve (and the last ones
	// as the version's val_loss and val_accuracy metrics).
	Validation string `json:"validation"`
	// LogEvery is how many steps lie between the progress lines logged and the
	// training events recorded; 0: about ten lines and fifty events an epoch.
	LogEvery int `json:"log_every"`
}

// EvalParams are the parameters of an evaluate task.
type EvalParams struct {
	Version int64  `json:"version"`
	Alias   string `json:"alias"`
	Limit   int    `json:"limit"`
}

func storeOf(run *task.Run) (*store.DB, error) {
	db, ok := run.Services.(*store.DB)
	if !ok || db == nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: task %s (%s) needs the agent's store: start the agent with --mongo or next to a local master", run.Task.ID, run.Task.Kind))
	}
	return db, nil
}

// train is the "train" kind. What cannot get better by retrying (no such
// dataset, invalid parameters, a dataset the network cannot read) fails at
// once: the error is task.Permanent.
func (k *kinds) train(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	t := run.Task
	p := TrainParams{Arch: "mlp", Epochs: 1, Batch: 64, LR: 1e-3, Seed: 1}
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	if t.Input == "" || t.Model == "" {
		return nil, task.Permanent(fmt.Errorf("mltasks: train task %s needs an input dataset and a model name (got input %q, model %q)", t.ID, t.Input, t.Model))
	}
	if p.Epochs < 1 || p.Batch < 1 || p.LR <= 0 || p.Limit < 0 || p.LogEvery < 0 {
		return nil, task.Permanent(fmt.Errorf("mltasks: train task %s: params epochs %d, batch %d and lr %g must be positive, limit %d and log_every %d not negative", t.ID, p.Epochs, p.Batch, p.LR, p.Limit, p.LogEvery))
	}
	if err := store.ValidateName("model", t.Model); err != nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: train task %s: %w", t.ID, err))
	}
	db, err := storeOf(run)
	if err != nil {
		return nil, err
	}
	log := run.Logger()
	g := graph.New(p.Seed)
	net, err := network(g, p)
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: train task %s: %w", t.ID, err))
	}
	log.Info("reading dataset", "dataset", t.Input, "limit", p.Limit)
	x, y, err := readDataset(ctx, db, t.Input, net.InputLayers()[0].Shape(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("mltasks: train task %s: %w", t.ID, err)
	}
	labels := g.Placeholder("label", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), labels)
	update, err := optim.Minimize(optim.NewAdam(g, "adam", float32(p.LR), 0.9, 0.999, 1e-8), loss, net.Trainable()...)
	if err != nil {
		return nil, err
	}
	src, err := feed.FromTensors(x, y)
	if err != nil {
		return nil, err
	}
	loader, err := feed.NewLoader(src, p.Batch, feed.Shuffle(p.Seed))
	if err != nil {
		return nil, err
	}
	var valLoader *feed.Loader
	if p.Validation != "" {
		vx, vy, err := readDataset(ctx, db, p.Validation, net.InputLayers()[0].Shape(), 0)
		if err != nil {
			return nil, fmt.Errorf("mltasks: train task %s: params.validation: %w", t.ID, err)
		}
		vsrc, err := feed.FromTensors(vx, vy)
		if err != nil {
			return nil, err
		}
		if valLoader, err = feed.NewLoader(vsrc, 256); err != nil {
			return nil, err
		}
	}
	dev, release, err := k.device(t)
	if err != nil {
		return nil, err
	}
	defer release()
	cfg := train.Config{Inputs: []*graph.Node{net.InputLayers()[0].Output(), labels},
		Loss: loss, Update: update, Logits: net.Output(), Labels: labels}
	if dev != nil {
		cfg.Device = g.OnDevice(dev)
		defer cfg.Device.Close()
	}
	loop, err := train.New(cfg)
	if err != nil {
		return nil, err
	}
	defer loop.Close()
	if valLoader != nil {
		ev, err := loop.NewEvaluator()
		if err != nil {
			return nil, err
		}
		defer ev.Close()
		loop.Use(train.Evaluate(ev, valLoader, "val_"))
	}

	// The run's curves: what tl runs and tl curve read back.
	w, err := events.NewWriter(db, events.Options{Model: t.Model})
	if err != nil {
		return nil, fmt.Errorf("mltasks: train task %s: events: %w", t.ID, err)
	}
	defer closeEvents(ctx, w, log)
	eventEvery := p.LogEvery
	loop.Use(
		trainevents.Hook(w, trainevents.Options{Every: eventEvery, Fields: map[string]any{
			"task": t.Key(), "attempt": run.Attempt, "agent": run.Agent, "dataset": t.Input,
			"arch": p.Arch, "epochs": p.Epochs, "batch": p.Batch, "lr": p.LR, "seed": p.Seed, "examples": x.Shape()[0],
		}}),
		train.LogProgress(log, p.LogEvery),
	)
	log.Info("training started", "model", t.Model, "run", w.Run(), "dataset", t.Input, "examples", x.Shape()[0],
		"epochs", p.Epochs, "steps_per_epoch", loader.Batches(), "arch", p.Arch)
	start := time.Now()
	st, err := loop.Run(ctx, loader, p.Epochs)
	if err != nil {
		return nil, fmt.Errorf("mltasks: train task %s: %w", t.ID, err)
	}
	if cfg.Device != nil { // the trained weights are on the GPU
		if err := cfg.Device.Pull(); err != nil {
			return nil, fmt.Errorf("mltasks: train task %s: %w", t.ID, err)
		}
	}
	secs := time.Since(start).Seconds()
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return nil, err
	}
	arch, err := net.MarshalJSON()
	if err != nil {
		return nil, err
	}
	weights, cleanup, err := weightsFile(ctx, net.AllParams())
	if err != nil {
		return nil, err
	}
	defer cleanup()
	acc, lossV := st.Values["accuracy"], st.Values["loss"]
	metrics := map[string]float64{"train_accuracy": acc, "train_loss": lossV}
	for _, k := range []string{"val_accuracy", "val_loss"} {
		if v, ok := st.Values[k]; ok {
			metrics[k] = v
		}
	}
	m, err := ms.Save(ctx, models.Spec{
		Name: t.Model, Architecture: arch,
		Params:  map[string]any{"arch": p.Arch, "epochs": p.Epochs, "batch": p.Batch, "lr": p.LR, "seed": p.Seed},
		Metrics: metrics,
		Lineage: models.Lineage{Dataset: t.Input, Task: t.Key(), Run: w.Run()},
	}, weights)
	if err != nil {
		return nil, fmt.Errorf("mltasks: saving model %s: %w", t.Model, err)
	}
	// The run names the version it produced (and the version its run).
	w.Log(events.Event{Phase: events.Train, Step: int64(st.Step), Fields: map[string]any{"model_version": m.Version, "task": t.Key()}})
	if p.Alias != "" {
		if err := ms.Alias(ctx, t.Model, p.Alias, m.Version); err != nil {
			return nil, err
		}
	}
	log.Info("trained", "model", m.Name, "version", m.Version, "run", w.Run(), "accuracy", round4(acc), "loss", round4(lossV), "seconds", math.Round(secs))
	return json.Marshal(map[string]any{"model": m.Name, "version": m.Version, "run": w.Run(), "accuracy": acc, "loss": lossV,
		"examples": x.Shape()[0], "seconds": secs})
}

// closeEvents writes the events still queued, even when the task was cancelled:
// the curve up to the interruption is worth keeping.
func closeEvents(ctx context.Context, w *events.Writer, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := w.Close(cctx); err != nil {
		log.Warn("training events not all written", "run", w.Run(), "err", err)
	}
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// evaluate is the "evaluate" kind.
func (k *kinds) evaluate(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	t := run.Task
	var p EvalParams
	if err := run.Params(&p); err != nil {
		return nil, err
	}
	if t.Input == "" || t.Model == "" {
		return nil, task.Permanent(fmt.Errorf("mltasks: evaluate task %s needs an input dataset and a model (got input %q, model %q)", t.ID, t.Input, t.Model))
	}
	if p.Limit < 0 || p.Version < 0 {
		return nil, task.Permanent(fmt.Errorf("mltasks: evaluate task %s: params version %d and limit %d must not be negative", t.ID, p.Version, p.Limit))
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
	net, err := layers.FromJSON(g, m.Architecture)
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: model %s v%d: rebuilding its architecture: %w", m.Name, m.Version, err))
	}
	if err := loadWeights(ctx, m.Weights, net.AllParams()); err != nil {
		return nil, fmt.Errorf("mltasks: model %s v%d: %w", m.Name, m.Version, err)
	}
	x, y, err := readDataset(ctx, db, t.Input, net.InputLayers()[0].Shape(), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("mltasks: evaluate task %s: %w", t.ID, err)
	}
	labels := g.Placeholder("label", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), labels)
	dev, release, err := k.device(t)
	if err != nil {
		return nil, err
	}
	defer release()
	cfg := train.Config{Inputs: []*graph.Node{net.InputLayers()[0].Output(), labels},
		Loss: loss, Logits: net.Output(), Labels: labels}
	if dev != nil {
		cfg.Device = g.OnDevice(dev)
		defer cfg.Device.Close()
	}
	ev, err := train.NewEvaluator(cfg)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	src, err := feed.FromTensors(x, y)
	if err != nil {
		return nil, err
	}
	loader, err := feed.NewLoader(src, 256)
	if err != nil {
		return nil, err
	}
	res, err := ev.Evaluate(ctx, loader)
	if err != nil {
		return nil, err
	}
	metrics := map[string]float64{t.Input + "_accuracy": res.Accuracy, t.Input + "_loss": res.Loss}
	if err := ms.SetMetrics(ctx, m.Name, m.Version, metrics); err != nil {
		return nil, err
	}
	logEvaluation(ctx, db, m.Model, t, res, run.Logger())
	return json.Marshal(map[string]any{"model": m.Name, "version": m.Version, "accuracy": res.Accuracy, "loss": res.Loss, "examples": res.Examples})
}

// logEvaluation adds the evaluation to the curves of the run that trained the
// version (phase test, at the run's last step), so that tl curve shows it
// next to the training curve. A version saved without a run gets none.
func logEvaluation(ctx context.Context, db *store.DB, m *models.Model, t *task.Task, res train.Result, log *slog.Logger) {
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
	w.Log(events.Event{Phase: events.Test, Step: step, Values: map[string]float64{"accuracy": res.Accuracy, "loss": res.Loss},
		Fields: map[string]any{"dataset": t.Input, "task": t.Key(), "model_version": m.Version}})
	closeEvents(ctx, w, log)
}

// network builds the model a train task asks for.
func network(g *graph.Graph, p TrainParams) (*layers.Layer, error) {
	if len(p.Architecture) > 0 {
		return layers.FromJSON(g, p.Architecture)
	}
	x := layers.Input(g, "image", -1, 28, 28, 1)
	var net *layers.Layer
	switch p.Arch {
	case "mlp":
		h := layers.Flatten(x, "flatten")
		h = layers.Dense(h, "fc1", 256, layers.ReLU)
		h = layers.Dropout(h, "drop1", 0.8)
		h = layers.Dense(h, "fc2", 128, layers.ReLU)
		net = layers.Dense(h, "logits", 10)
	case "cnn":
		h := layers.Conv2D(x, "conv1", 32, 3, 3, layers.Same, layers.ReLU)
		h = layers.MaxPool2D(h, "pool1", 2, 2)
		h = layers.Conv2D(h, "conv2", 64, 3, 3, layers.Same, layers.ReLU)
		h = layers.MaxPool2D(h, "pool2", 2, 2)
		h = layers.Flatten(h, "flatten")
		h = layers.Dense(h, "fc1", 128, layers.ReLU)
		h = layers.Dropout(h, "drop1", 0.5)
		net = layers.Dense(h, "logits", 10)
	default:
		return nil, fmt.Errorf("unknown arch %q: want mlp, cnn, or an architecture JSON", p.Arch)
	}
	return net, net.Err()
}

// readDataset reads a dataset's samples into an input tensor shaped like the
// network's input (uint8 payloads scaled to [0, 1]) and an int32 label tensor.
func readDataset(ctx context.Context, db *store.DB, name string, in tensor.Shape, limit int) (*tensor.Tensor, *tensor.Tensor, error) {
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		return nil, nil, err
	}
	ds, err := coll.Dataset(ctx, name)
	if errors.Is(err, dataset.ErrNotFound) {
		have, lerr := coll.Datasets(ctx)
		hint := "there are none: import one with tl import ... --define " + name
		switch {
		case lerr != nil:
			hint = "listing the datasets failed: " + lerr.Error()
		case len(have) > 0:
			hint = "the datasets there: " + strings.Join(have, ", ")
		}
		return nil, nil, task.Permanent(fmt.Errorf("dataset %q not found in project %q (%s): %w", name, db.Project(), hint, err))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	row := tensor.Shape(in[1:]).Size()
	var xs []float32
	var ys []int32
	for s, err := range ds.Samples(ctx, dataset.ReadOptions{Limit: limit}) {
		if err != nil {
			return nil, nil, fmt.Errorf("reading dataset %q: %w", name, err)
		}
		v, err := values(s)
		if err != nil {
			return nil, nil, task.Permanent(fmt.Errorf("dataset %q sample %q: %w", name, s.Key, err))
		}
		if len(v) != row {
			return nil, nil, task.Permanent(fmt.Errorf("dataset %q sample %q has %d values, the network's input %v takes %d", name, s.Key, len(v), in, row))
		}
		xs = append(xs, v...)
		ys = append(ys, int32(s.Label))
	}
	if len(ys) == 0 {
		return nil, nil, task.Permanent(fmt.Errorf("dataset %q has no samples", name))
	}
	x, err := tensor.FromFloat32(xs, append([]int{len(ys)}, in[1:]...)...)
	if err != nil {
		return nil, nil, err
	}
	y, err := tensor.FromInt32(ys, len(ys))
	return x, y, err
}

func values(s dataset.Sample) ([]float32, error) {
	if s.Tensor == nil {
		if s.Bytes == nil {
			return nil, errors.New("no payload")
		}
		v := make([]float32, len(s.Bytes))
		for i, b := range s.Bytes {
			v[i] = float32(b) / 255
		}
		return v, nil
	}
	switch t := s.Tensor; {
	case t.Float32 != nil:
		return t.Float32, nil
	case t.Uint8 != nil:
		v := make([]float32, len(t.Uint8))
		for i, b := range t.Uint8 {
			v[i] = float32(b) / 255
		}
		return v, nil
	case t.Int32 != nil:
		v := make([]float32, len(t.Int32))
		for i, b := range t.Int32 {
			v[i] = float32(b)
		}
		return v, nil
	}
	return nil, errors.New("empty tensor payload")
}

// weightsFile writes vars as safetensors to a temporary file and opens it.
func weightsFile(ctx context.Context, vars []*graph.Node) (*os.File, func(), error) {
	dir, err := os.MkdirTemp("", "tl-weights-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "model.safetensors")
	if err := modelio.SaveWeights(ctx, path, vars, nil); err != nil {
		cleanup()
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, func() { f.Close(); cleanup() }, nil
}

func loadWeights(ctx context.Context, weights []byte, vars []*graph.Node) error {
	dir, err := os.MkdirTemp("", "tl-weights-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(path, weights, 0o600); err != nil {
		return err
	}
	_, err = modelio.LoadWeights(ctx, path, vars)
	return err
}
