package train

import (
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// stepper is what a Loop and an Evaluator both run a batch through: one
// runner of the loss, the logits (when set), an update (the loop's) and the
// metrics, the feeds of Config.Inputs and of the carried state.
type stepper struct {
	exe     runner
	cpuExe  *graph.Executor // exe on the CPU, else nil
	inputs  int             // feeds[:inputs] are Config.Inputs
	feeds   []graph.Feed
	label   int // the index of Labels among the inputs; -1: no accuracy
	classes int
	metrics int // the index of Config.Metrics' first output
	carry   *carrier
}

// newStepper compiles the step of cfg with opts (on cfg.Device when set); its
// outputs are the loss, the logits when set, update when not nil, the metrics.
func newStepper(cfg *Config, opts graph.Options, update *graph.Node) (stepper, error) {
	s := stepper{inputs: len(cfg.Inputs), label: -1}
	targets := []*graph.Node{cfg.Loss}
	if cfg.Logits != nil {
		targets = append(targets, cfg.Logits)
		s.label = labelIndex(cfg)
		s.classes = cfg.Logits.Shape()[1]
	}
	if update != nil {
		targets = append(targets, update)
	}
	s.metrics = len(targets)
	for _, m := range cfg.Metrics {
		targets = append(targets, m.Node)
	}
	for _, in := range cfg.Inputs {
		s.feeds = append(s.feeds, graph.Feed{Node: in})
	}
	s.carry, targets, s.feeds = newCarrier(cfg.Carry, targets, s.feeds)
	var err error
	if s.exe, s.cpuExe, err = newRunner(*cfg, opts, targets); err != nil {
		return stepper{}, err
	}
	s.carry.dev, _ = s.exe.(*graph.DeviceExecutor)
	return s, nil
}

// run feeds b and the carried state and runs the step.
func (s *stepper) run(b *feed.Batch) ([]*tensor.Tensor, error) {
	for i := range s.inputs {
		s.feeds[i].Value = b.Tensors[i]
	}
	s.carry.prepare(s.feeds, b.Size)
	outs, err := s.exe.Run(s.feeds...)
	if err == nil {
		err = s.carry.keep(outs)
	}
	return outs, err
}

// score adds the accuracy of the step's logits on b to acc, and its top-k
// accuracy to topk when k > 1. Call it only when s.label >= 0.
func (s *stepper) score(outs []*tensor.Tensor, b *feed.Batch, k int, acc, topk *Mean) {
	logits, labels := outs[1].Float32s(), b.Tensors[s.label].Int32s()
	acc.Add(float64(Correct(logits, labels, s.classes))/float64(b.Size), b.Size)
	if k > 1 {
		topk.Add(float64(CorrectTopK(logits, labels, s.classes, k))/float64(b.Size), b.Size)
	}
}

// close stops the CPU executor (a device's plans stay with the OnDevice).
func (s *stepper) close() {
	if s.cpuExe != nil {
		s.cpuExe.Close()
	}
}
