package mltasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/train"
)

// TrainParams are the parameters of a train task. Every field is optional.
type TrainParams struct {
	// Arch names a network builder: the built-ins "mlp" and "cnn" (any input
	// shape, any number of classes) or one registered with
	// Kinds.RegisterArch. Architecture, a layers JSON (what layers.FromJSON
	// reads), is used instead when given. With neither, a fine-tune (Init)
	// rebuilds its model's architecture, and otherwise the arch is "mlp".
	Arch         string          `json:"arch"`
	Architecture json.RawMessage `json:"architecture,omitempty"`
	// Classes is the number of classes the built-in and registered builders
	// make; 0: the view's largest label plus one.
	Classes int `json:"classes"`
	// Width multiplies the hidden sizes of the builders (the built-in mlp's
	// 256 and 128 units, cnn's 32 and 64 filters and 128 units); 0: 1.
	// Dropout is the drop probability of their dropout layer, in [0, 1)
	// (0 removes it); unset: the builder's own (mlp 0.2, cnn 0.5). What a
	// hyper-parameter search varies besides the optimizer's settings.
	Width   float64  `json:"width"`
	Dropout *float64 `json:"dropout"`
	// Loss is "cross_entropy" (softmax over the network's logits, for a view
	// labelled by class ids) or "mse" (mean squared error against the
	// samples' target tensors, for a view whose samples carry targets: the
	// network's output must have the target's shape). Default: what the
	// view's labels are. A regression reports loss and mae, no accuracy.
	Loss string `json:"loss"`

	// Optimizer is adam (default), sgd, momentum, nesterov, rmsprop or
	// adagrad; Momentum its momentum (momentum, nesterov, rmsprop; default
	// 0.9).
	Optimizer string  `json:"optimizer"`
	Momentum  float64 `json:"momentum"`
	LR        float64 `json:"lr"`
	// Schedule changes the learning rate by step: "constant" (default),
	// "step", "exponential", "cosine", or an object with the details
	// (see Schedule).
	Schedule Schedule `json:"schedule"`
	// WeightDecay adds weight_decay·Σ‖w‖²/2 over the weights (not the
	// biases) to the loss.
	WeightDecay float64 `json:"weight_decay"`

	Batch int `json:"batch"`
	// Epochs (default 1) bounds the run in passes over the view, Steps in
	// optimizer steps; with both, the first reached ends it.
	Epochs int `json:"epochs"`
	Steps  int `json:"steps"`
	// EarlyStopping ends the run when a metric stops improving.
	EarlyStopping *EarlyStop `json:"early_stopping,omitempty"`

	// Device is "cpu" or "cuda"; default cuda on the cuda queue, else cpu.
	Device string `json:"device"`
	// Seed seeds the initial weights, dropout and the shuffle (default 1).
	Seed uint64 `json:"seed"`
	// Init fine-tunes a saved version: its weights are the starting point
	// (and, with no arch or architecture, its architecture the network).
	Init *InitRef `json:"init,omitempty"`

	// Limit trains on at most this many samples an epoch (0: all): the
	// first ones of the epoch's shuffled order, so another subset each
	// epoch when the view holds more.
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

	// CheckpointEvery saves the task's state (weights, optimizer state,
	// position) into the model store every so many steps, and
	// CheckpointMinutes every so many minutes (default 5; 0 turns either
	// off): an attempt after the agent died resumes from the last one.
	CheckpointEvery   int      `json:"checkpoint_every"`
	CheckpointMinutes *float64 `json:"checkpoint_minutes,omitempty"`
}

// InitRef names the model version a train task starts from.
type InitRef struct {
	Model   string `json:"model"`
	Version int64  `json:"version"`
	Alias   string `json:"alias"`
}

// EarlyStop stops training when Metric (default val_loss with a validation
// set, else loss) has not improved by more than MinDelta for Patience
// epochs (default 3). Mode is "min" or "max"; default min for a metric
// named like a loss or an error (mae, val_mae), else max.
type EarlyStop struct {
	Metric   string  `json:"metric"`
	Patience int     `json:"patience"`
	MinDelta float64 `json:"min_delta"`
	Mode     string  `json:"mode"`
}

// Schedule is a learning-rate schedule over optimizer steps. In params it
// is a name ("cosine") or an object ({"name": "step", "every": 1000,
// "factor": 0.5}).
//
//	constant     lr throughout
//	step         lr·factor^⌊step/every⌋; every default one epoch, factor 0.5
//	exponential  lr·rate^(step/every), ⌊⌋ with staircase; every default one epoch, rate 0.9
//	cosine       lr down to lr·alpha along half a cosine over steps (default the whole run)
type Schedule struct {
	Name      string  `json:"name"`
	Every     int     `json:"every,omitempty"`
	Factor    float64 `json:"factor,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	Staircase bool    `json:"staircase,omitempty"`
	Steps     int     `json:"steps,omitempty"`
	Alpha     float64 `json:"alpha,omitempty"`
}

// UnmarshalJSON takes a name or an object (unknown fields refused).
func (s *Schedule) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*s = Schedule{Name: name}
		return nil
	}
	type plain Schedule
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("schedule: want a name (constant, step, exponential, cosine) or an object with name, every, factor, rate, staircase, steps, alpha: %w", err)
	}
	*s = Schedule(p)
	return nil
}

// newTrainParams are the params before a task's are read: what a task
// leaves out keeps these values, so an explicit 0 is checked, not
// replaced. Epochs -1 means not given.
func newTrainParams() TrainParams {
	return TrainParams{Epochs: -1, Batch: 64, LR: 1e-3, Seed: 1, Optimizer: "adam", Momentum: 0.9, Schedule: Schedule{Name: "constant"}}
}

// defaults fills what depends on other params.
func (p *TrainParams) defaults() {
	if p.Epochs == -1 {
		p.Epochs = 1
		if p.Steps > 0 {
			p.Epochs = 0 // the step budget alone
		}
	}
	if p.Schedule.Name == "" {
		p.Schedule.Name = "constant"
	}
	if es := p.EarlyStopping; es != nil {
		if es.Metric == "" {
			es.Metric = "loss"
			if p.Validation != "" {
				es.Metric = "val_loss"
			}
		}
		if es.Patience == 0 {
			es.Patience = 3
		}
		if es.Mode == "" {
			es.Mode = "max"
			if strings.Contains(es.Metric, "loss") || strings.Contains(es.Metric, "perplexity") || strings.HasSuffix(es.Metric, metricMAE) {
				es.Mode = "min"
			}
		}
	}
}

// check says, naming the field, what is wrong with the params.
func (p *TrainParams) check() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("params.%s: "+format, append([]any{field}, args...)...))
	}
	if p.Epochs < 0 || (p.Epochs == 0 && p.Steps == 0) {
		bad("epochs", "%d, want >= 1 (or 0 with steps)", p.Epochs)
	}
	if p.Steps < 0 {
		bad("steps", "%d, want >= 1 (or 0: epochs alone)", p.Steps)
	}
	if p.Batch < 1 {
		bad("batch", "%d, want >= 1", p.Batch)
	}
	if !(p.LR > 0) || math.IsInf(p.LR, 0) {
		bad("lr", "%g, want > 0", p.LR)
	}
	if p.Limit < 0 {
		bad("limit", "%d, want >= 0", p.Limit)
	}
	if p.LogEvery < 0 {
		bad("log_every", "%d, want >= 0", p.LogEvery)
	}
	if p.Classes < 0 || p.Classes == 1 {
		bad("classes", "%d, want >= 2 (or 0: from the labels)", p.Classes)
	}
	if p.Width < 0 || p.Width > 64 || math.IsNaN(p.Width) {
		bad("width", "%g, want a multiplier in (0, 64] (or 0: 1)", p.Width)
	}
	if d := p.Dropout; d != nil && (*d < 0 || *d >= 1 || math.IsNaN(*d)) {
		bad("dropout", "%g, want a drop probability in [0, 1)", *d)
	}
	if len(p.Architecture) > 0 && (p.Width != 0 || p.Dropout != nil) {
		bad("width", "and params.dropout size the builders (params.arch); an architecture JSON fixes its own sizes")
	}
	switch p.Loss {
	case "", lossXent:
	case lossMSE:
		if p.Classes != 0 {
			bad("classes", "%d with loss %s: a regression's outputs are its targets' shape, not classes", p.Classes, lossMSE)
		}
	default:
		bad("loss", "%q, want %s (class ids) or %s (target tensors)", p.Loss, lossXent, lossMSE)
	}
	if p.WeightDecay < 0 {
		bad("weight_decay", "%g, want >= 0", p.WeightDecay)
	}
	if p.Momentum < 0 || p.Momentum >= 1 {
		bad("momentum", "%g, want in [0, 1)", p.Momentum)
	}
	switch p.Optimizer {
	case "adam", "sgd", "momentum", "nesterov", "rmsprop", "adagrad":
	default:
		bad("optimizer", "%q, want adam, sgd, momentum, nesterov, rmsprop or adagrad", p.Optimizer)
	}
	switch p.Device {
	case "", "cpu", GPUQueue:
	default:
		bad("device", "%q, want cpu or cuda", p.Device)
	}
	s := p.Schedule
	switch s.Name {
	case "constant", "step", "exponential", "cosine":
	default:
		bad("schedule", "%q, want constant, step, exponential or cosine", s.Name)
	}
	if s.Every < 0 || s.Steps < 0 || s.Factor < 0 || s.Rate < 0 || s.Alpha < 0 || s.Alpha > 1 {
		bad("schedule", "%+v: every, steps, factor and rate must not be negative, alpha in [0, 1]", s)
	}
	if es := p.EarlyStopping; es != nil {
		if es.Patience < 1 {
			bad("early_stopping.patience", "%d, want >= 1", es.Patience)
		}
		if es.MinDelta < 0 {
			bad("early_stopping.min_delta", "%g, want >= 0", es.MinDelta)
		}
		if es.Mode != "min" && es.Mode != "max" {
			bad("early_stopping.mode", "%q, want min or max", es.Mode)
		}
		// Which metrics a run has depends on its loss; with none given yet
		// (the view decides), both kinds', checked again once it has.
		have := []string{"loss"}
		if p.Loss != lossMSE {
			have = append(have, "accuracy")
		}
		if p.Loss != lossXent {
			have = append(have, metricMAE)
		}
		if p.Validation != "" {
			for _, m := range slices.Clone(have) {
				have = append(have, "val_"+m)
			}
		}
		if p.Schedule.Name != "constant" {
			have = append(have, "lr")
		}
		switch {
		case strings.HasPrefix(es.Metric, "val_") && p.Validation == "":
			bad("early_stopping.metric", "%q needs params.validation (a dataset to evaluate after every epoch)", es.Metric)
		case !slices.Contains(have, es.Metric):
			bad("early_stopping.metric", "%q, want one of %s", es.Metric, strings.Join(have, ", "))
		}
	}
	if in := p.Init; in != nil && in.Model == "" {
		bad("init.model", "empty: name the model to fine-tune from")
	}
	return errors.Join(errs...)
}

// The losses a train task minimises, and the regression's extra metric.
const (
	lossXent  = "cross_entropy"
	lossMSE   = "mse"
	metricMAE = "mae"
)

// optimizer makes the optimizer the params name.
func (p *TrainParams) optimizer(g *graph.Graph) optim.Optimizer {
	lr, mu := float32(p.LR), float32(p.Momentum)
	switch p.Optimizer {
	case "sgd":
		return optim.NewSGD(g, "sgd", lr)
	case "momentum":
		return optim.NewMomentum(g, "momentum", lr, mu, false)
	case "nesterov":
		return optim.NewMomentum(g, "nesterov", lr, mu, true)
	case "rmsprop":
		return optim.NewRMSProp(g, "rmsprop", lr, 0.9, mu, 1e-7)
	case "adagrad":
		return optim.NewAdagrad(g, "adagrad", lr, 0.1, 1e-7)
	}
	return optim.NewAdam(g, "adam", lr, 0.9, 0.999, 1e-8)
}

// schedule returns the learning-rate hook, or false for a constant rate.
// stepsPerEpoch and totalSteps may be -1 (unknown): the defaults that need
// them then fall back to 1000 steps.
func (p *TrainParams) schedule(opt optim.Optimizer, stepsPerEpoch, totalSteps int) (train.Hook, bool) {
	s := p.Schedule
	lr := float32(p.LR)
	orDefault := func(v, def int) int {
		if v > 0 {
			return v
		}
		if def > 0 {
			return def
		}
		return 1000
	}
	orF := func(v, def float64) float32 {
		if v > 0 {
			return float32(v)
		}
		return float32(def)
	}
	var sched optim.Schedule
	switch s.Name {
	case "step":
		sched = optim.StepDecay{Base: lr, Every: orDefault(s.Every, stepsPerEpoch), Factor: orF(s.Factor, 0.5)}
	case "exponential":
		sched = optim.ExponentialDecay{Base: lr, Rate: orF(s.Rate, 0.9), Steps: orDefault(s.Every, stepsPerEpoch), Staircase: s.Staircase}
	case "cosine":
		sched = optim.CosineDecay{Base: lr, Steps: orDefault(s.Steps, totalSteps), Alpha: float32(s.Alpha)}
	default:
		return train.Hook{}, false
	}
	return train.LearningRate(opt, sched), true
}

// record is the params as saved with the model version.
func (p *TrainParams) record(arch string) map[string]any {
	m := map[string]any{"arch": arch, "epochs": p.Epochs, "batch": p.Batch, "lr": p.LR, "seed": p.Seed,
		"optimizer": p.Optimizer, "schedule": p.Schedule.Name}
	if p.Loss != "" {
		m["loss"] = p.Loss
	}
	if p.Steps > 0 {
		m["steps"] = p.Steps
	}
	if p.WeightDecay > 0 {
		m["weight_decay"] = p.WeightDecay
	}
	if p.Limit > 0 {
		m["limit"] = p.Limit
	}
	if p.Width > 0 {
		m["width"] = p.Width
	}
	if p.Dropout != nil {
		m["dropout"] = *p.Dropout
	}
	return m
}

// EvalParams are the parameters of an evaluate task.
type EvalParams struct {
	Version int64  `json:"version"`
	Alias   string `json:"alias"`
	Limit   int    `json:"limit"`
	// Batch is the evaluation batch (default 256); Device as TrainParams.
	Batch  int    `json:"batch"`
	Device string `json:"device"`
}
