package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// ErrStop is returned by a hook to end training cleanly after the current
// step (early stopping): Run then returns no error and State.Stopped is true.
var ErrStop = errors.New("train: stop requested")

// ErrDiverged is wrapped by Run's error when the loss becomes NaN or infinite.
var ErrDiverged = errors.New("train: the loss is not finite")

// Config says what a Loop trains.
type Config struct {
	// Inputs are the placeholders fed by a batch, in the order of its tensors:
	// Inputs[i] gets Batch.Tensors[i].
	Inputs []*graph.Node
	// Loss is the scalar loss; its value is reported as the "loss" metric.
	Loss *graph.Node
	// Update is the optimizer's step (optim.Minimize's node). Evaluators ignore it.
	Update *graph.Node
	// Logits (N, classes) and Labels (one of Inputs: int32 (N,)), when both are
	// set, add the "accuracy" metric, and "top<K>_accuracy" when TopK > 1.
	Logits *graph.Node
	Labels *graph.Node
	TopK   int
	// Metrics are scalar nodes (a regression's mean absolute error) averaged
	// over the examples as the loss is, and reported under their names by
	// the loop and by evaluators.
	Metrics []Metric
	// Options compile the plans; Training is set for the loop and cleared for
	// evaluators. A nil Pool: the loop starts one, shared with its evaluators.
	Options graph.Options
	// Device, when set, runs the steps on a device (a GPU: Loss.Graph().OnDevice
	// of a cuda.Device) instead of the CPU. The variables then live on the
	// device; the loop copies them to the host at the end of every epoch (before
	// the epoch-end hooks: checkpoints save the trained weights) and of Run.
	// Hooks that change variables on the host call State.Changed (the
	// learning-rate hooks do); outside Run, use Device.Push and Device.Pull.
	Device *graph.OnDevice
	// Carry maps targets to placeholders of the same shape (not among Inputs):
	// stateful truncated backpropagation through time, as ptb_word_lm does.
	// Each step feeds a carried placeholder with its target's value at the
	// previous step, zero at the start of every epoch, after ResetCarry, and
	// when the batch size changes; unknown dimensions of the placeholder are
	// the batch size. On a Device the state stays there (DeviceOptions.Carry).
	// Evaluators carry too, from zero at the start of every Evaluate.
	Carry map[*graph.Node]*graph.Node
}

// runner is a graph.Executor or a graph.DeviceExecutor.
type runner = graph.Runner

// newRunner compiles targets on the CPU or on cfg.Device; done releases it.
func newRunner(cfg Config, opts graph.Options, targets []*graph.Node) (r runner, cpu *graph.Executor, err error) {
	if cfg.Device != nil {
		if cfg.Device.Graph() != cfg.Loss.Graph() {
			return nil, nil, errors.New("train: Config.Device holds another graph than the Loss's")
		}
		return cfg.Device.NewExecutor(graph.DeviceOptions{Training: opts.Training, Carry: cfg.Carry}, targets...), nil, nil
	}
	exe, err := cfg.Loss.Graph().NewExecutor(opts, targets...)
	if err != nil {
		return nil, nil, err
	}
	return exe, exe, nil
}

func (c *Config) check(training bool) error {
	if c.Loss == nil || len(c.Inputs) == 0 {
		return errors.New("train: Config needs Inputs and a Loss")
	}
	if training && c.Update == nil {
		return errors.New("train: Config needs an Update (optim.Minimize's node) to train")
	}
	if (c.Logits == nil) != (c.Labels == nil) {
		return errors.New("train: Config: set both Logits and Labels, or neither")
	}
	if c.Labels != nil && labelIndex(c) < 0 {
		return fmt.Errorf("train: Config: Labels (%s) is not one of Inputs", c.Labels.Name())
	}
	if err := c.checkCarry(); err != nil {
		return err
	}
	if err := c.checkMetrics(); err != nil {
		return err
	}
	if c.Logits != nil && len(c.Logits.Shape()) != 2 {
		return &tensor.ShapeError{Op: "train.Config", Arg: "Logits", Got: c.Logits.Shape(), Want: "(N, classes)"}
	}
	return nil
}

// Metric is a scalar node reported, averaged over the examples, as Name.
type Metric struct {
	Name string
	Node *graph.Node
}

// checkMetrics says what is wrong with c.Metrics, if anything.
func (c *Config) checkMetrics() error {
	seen := map[string]bool{MetricLoss: true, MetricAccuracy: true}
	for i, m := range c.Metrics {
		if m.Name == "" || m.Node == nil {
			return fmt.Errorf("train: Config.Metrics[%d]: expected a name and a node", i)
		}
		if seen[m.Name] {
			return fmt.Errorf("train: Config.Metrics[%d]: name %q is taken (loss, accuracy and each metric once)", i, m.Name)
		}
		seen[m.Name] = true
		if m.Node.Shape().Size() != 1 {
			return &tensor.ShapeError{Op: "train.Config", Arg: "Metrics[" + m.Name + "]", Got: m.Node.Shape(), Want: "a scalar"}
		}
	}
	return nil
}

func labelIndex(c *Config) int {
	for i, in := range c.Inputs {
		if in == c.Labels {
			return i
		}
	}
	return -1
}

// Metric names the loop and evaluators report.
const (
	MetricLoss     = "loss"
	MetricAccuracy = "accuracy"
)

// TopKName is the metric name of top-k accuracy ("top5_accuracy").
func TopKName(k int) string { return "top" + strconv.Itoa(k) + "_accuracy" }

// State is what hooks see and change. Values hold the metrics: during an epoch
// the running averages over its examples so far ("loss", "accuracy",
// "top5_accuracy"); hooks add their own (Evaluate adds "val_loss", ...).
type State struct {
	Epoch         int // the current epoch, from 0
	Epochs        int // the number of epochs Run was asked for
	Step          int // steps completed since Run started (global)
	StepInEpoch   int // steps completed in this epoch
	StepsPerEpoch int
	Examples      int // examples trained on in this epoch so far
	Batch         *feed.Batch
	Loss          float32 // the last step's loss
	Outputs       []*tensor.Tensor
	Values        map[string]float64
	Start         time.Time // when Run started
	EpochStart    time.Time
	Stopped       bool // a hook returned ErrStop

	device *graph.OnDevice // the loop's device, or nil
}

// Changed tells the loop that a hook changed these variables on the host (a
// learning rate): when the loop runs on a device, their device copies are
// updated before the next step. On the CPU it does nothing.
func (s *State) Changed(vars ...*graph.Node) error {
	if s.device == nil {
		return nil
	}
	return s.device.PushVars(vars...)
}

// Hook reacts to the events of a Loop. Every function may be nil. Hooks run in
// the order they were added; an error ends Run with that error (ErrStop ends it
// cleanly).
type Hook struct {
	Name       string
	TrainStart func(ctx context.Context, s *State) error
	EpochStart func(ctx context.Context, s *State) error
	StepStart  func(ctx context.Context, s *State) error
	StepEnd    func(ctx context.Context, s *State) error
	EpochEnd   func(ctx context.Context, s *State) error
	TrainEnd   func(ctx context.Context, s *State) error
}

// Loop trains a graph over the batches of a feed.Loader, calling hooks around
// every step and epoch. It compiles one plan per batch shape and, with no hooks,
// allocates nothing per step.
type Loop struct {
	stepper
	cfg     Config
	pool    *par.Pool
	ownPool bool
	hooks   []Hook
	// rngStep numbers the steps for dropout (graph.Options.Step): the global
	// step, so a run resumed at step n draws the uninterrupted run's masks.
	rngStep uint64
}

// New prepares a loop (plans are compiled on the first step).
func New(cfg Config) (*Loop, error) {
	if err := cfg.check(true); err != nil {
		return nil, err
	}
	l := &Loop{cfg: cfg}
	if cfg.Options.Pool == nil {
		l.pool = par.NewPool(cfg.Options.Threads)
		l.ownPool = true
		l.cfg.Options.Pool = l.pool
	}
	opts := l.cfg.Options
	opts.Training = true
	if opts.Step == nil {
		opts.Step = &l.rngStep
	}
	st, err := newStepper(&cfg, opts, cfg.Update)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("train: %w", err)
	}
	l.stepper = st
	return l, nil
}

// Use adds hooks, run after those already added.
func (l *Loop) Use(hooks ...Hook) *Loop {
	l.hooks = append(l.hooks, hooks...)
	return l
}

// ResetCarry zeroes the state Config.Carry carries: the next step starts a new
// sequence (the loop does it at the start of every epoch). Call it from a hook
// or between runs.
func (l *Loop) ResetCarry() { l.carry.reset() }

// Executor is the training executor (to reach its plans); nil when the loop
// runs on a Device.
func (l *Loop) Executor() *graph.Executor { return l.cpuExe }

// Close stops the loop's executor and worker pool. A device's plans stay with
// the OnDevice (its Close releases them).
func (l *Loop) Close() {
	l.stepper.close()
	if l.ownPool {
		l.pool.Close()
		l.ownPool = false
	}
}

// NewEvaluator returns an evaluator of the loop's loss and metrics in inference
// mode (dropout off, batch norm on moving averages), sharing the loop's worker
// pool and variables.
func (l *Loop) NewEvaluator() (*Evaluator, error) {
	return NewEvaluator(l.cfg)
}

type event int

const (
	evTrainStart event = iota
	evEpochStart
	evStepStart
	evStepEnd
	evEpochEnd
	evTrainEnd
)

func (e event) String() string {
	names := [...]string{"TrainStart", "EpochStart", "StepStart", "StepEnd", "EpochEnd", "TrainEnd"}
	return names[min(e, evTrainEnd)]
}

func (l *Loop) fire(ctx context.Context, ev event, s *State) error {
	for i := range l.hooks {
		h := &l.hooks[i]
		fn := [...]func(context.Context, *State) error{h.TrainStart, h.EpochStart, h.StepStart, h.StepEnd, h.EpochEnd, h.TrainEnd}[ev]
		if fn == nil {
			continue
		}
		if err := fn(ctx, s); err != nil {
			if errors.Is(err, ErrStop) {
				s.Stopped = true
				continue
			}
			return fmt.Errorf("train: hook %q at %s (epoch %d, step %d): %w", h.Name, ev, s.Epoch, s.Step, err)
		}
	}
	return nil
}

// Run trains for epochs epochs over loader and returns the final state. The
// batches' tensors feed Config.Inputs in order. It stops early when ctx is
// cancelled (returning ctx's error) or a hook returns ErrStop.
func (l *Loop) Run(ctx context.Context, loader feed.Batches, epochs int) (*State, error) {
	return l.RunFrom(ctx, loader, 0, epochs)
}

// RunAt resumes a run at a Position (see RunFrom and Position) and goes on
// until epoch epochs. Load the checkpoint's variables before calling it.
func (l *Loop) RunAt(ctx context.Context, loader feed.Batches, at Position, epochs int) (*State, error) {
	first := at.Epoch
	if n := len(loader.Specs()); n != len(l.cfg.Inputs) {
		return nil, fmt.Errorf("train: the loader's batches have %d tensors, Config.Inputs has %d", n, len(l.cfg.Inputs))
	}
	if first < 0 || first > epochs || at.Batch < 0 || at.Step < 0 || at.Examples < 0 {
		return nil, fmt.Errorf("train: resuming at epoch %d of %d, batch %d, step %d, examples %d: expected 0 <= epoch <= epochs and no negative count", first, epochs, at.Batch, at.Step, at.Examples)
	}
	s := &State{Epochs: epochs, StepsPerEpoch: loader.Batches(), Step: at.Step, Values: map[string]float64{}, Start: time.Now(), device: l.cfg.Device}
	var loss, acc, topk Mean
	mets := make([]Mean, len(l.cfg.Metrics))
	topName := ""
	if l.cfg.TopK > 1 {
		topName = TopKName(l.cfg.TopK)
	}
	if err := l.fire(ctx, evTrainStart, s); err != nil {
		return s, err
	}
	for e := first; e < epochs && !s.Stopped; e++ {
		s.Epoch, s.StepInEpoch, s.Examples, s.EpochStart = e, 0, 0, time.Now()
		loss.Reset()
		acc.Reset()
		topk.Reset()
		for i := range mets {
			mets[i].Reset()
		}
		l.carry.reset()
		if err := l.fire(ctx, evEpochStart, s); err != nil {
			return s, err
		}
		it := loader.Epoch(ctx, e)
		if e == first && at.Batch > 0 {
			// The epoch's order depends only on the seed and e: skip what the
			// checkpoint had done, and take up its running metrics.
			if err := skip(it, at.Batch); err != nil {
				return s, fmt.Errorf("train: resuming epoch %d at batch %d: %w", e, at.Batch, err)
			}
			s.StepInEpoch, s.Examples = at.Batch, at.Examples
			resumeMean(&loss, s, MetricLoss, at)
			resumeMean(&acc, s, MetricAccuracy, at)
			resumeMean(&topk, s, topName, at)
			for i, m := range l.cfg.Metrics {
				resumeMean(&mets[i], s, m.Name, at)
			}
		}
		for !s.Stopped && it.Next() {
			b := it.Batch()
			s.Batch = b
			if err := l.fire(ctx, evStepStart, s); err != nil {
				it.Close()
				return s, err
			}
			l.rngStep = uint64(s.Step) + 1
			outs, err := l.run(b)
			if err != nil {
				it.Close()
				return s, fmt.Errorf("train: epoch %d, step %d: %w", e, s.Step, err)
			}
			s.Outputs = outs
			s.Loss = outs[0].Float32s()[0]
			if math.IsNaN(float64(s.Loss)) || math.IsInf(float64(s.Loss), 0) {
				it.Close()
				return s, fmt.Errorf("%w: %v at epoch %d, step %d", ErrDiverged, s.Loss, e, s.Step)
			}
			loss.Add(float64(s.Loss), b.Size)
			s.Values[MetricLoss] = loss.Value()
			for i, m := range l.cfg.Metrics {
				mets[i].Add(float64(outs[l.metrics+i].Float32s()[0]), b.Size)
				s.Values[m.Name] = mets[i].Value()
			}
			if l.label >= 0 {
				l.score(outs, b, l.cfg.TopK, &acc, &topk)
				s.Values[MetricAccuracy] = acc.Value()
				if topName != "" {
					s.Values[topName] = topk.Value()
				}
			}
			s.Step++
			s.StepInEpoch++
			s.Examples += b.Size
			if err := l.fire(ctx, evStepEnd, s); err != nil {
				it.Close()
				return s, err
			}
		}
		it.Close()
		s.Batch = nil
		if err := it.Err(); err != nil {
			return s, fmt.Errorf("train: epoch %d: %w", e, err)
		}
		if err := ctx.Err(); err != nil {
			return s, fmt.Errorf("train: epoch %d: %w", e, err)
		}
		if err := l.pull(); err != nil {
			return s, err
		}
		if err := l.fire(ctx, evEpochEnd, s); err != nil {
			return s, err
		}
	}
	if err := l.pull(); err != nil {
		return s, err
	}
	if err := l.fire(ctx, evTrainEnd, s); err != nil {
		return s, err
	}
	return s, nil
}

// pull brings a device's variables to the host before the epoch-end and
// train-end hooks, which save and evaluate them (Checkpoint, SaveBest), and
// before Run returns. Hooks at other events see the host copies of the last
// epoch's end.
func (l *Loop) pull() error {
	if l.cfg.Device == nil {
		return nil
	}
	if err := l.cfg.Device.Pull(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
