package train

import (
	"fmt"
	"slices"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// carrier runs Config.Carry: stateful truncated backpropagation through time.
// Each carried placeholder is fed from a buffer the carrier owns; on the CPU the
// buffer takes the value of its target after every step, on a device the plan
// keeps the state on the device (graph.DeviceOptions.Carry) and reads the
// buffer, zero, only on the first step after a reset.
type carrier struct {
	links []carryLink
	dev   *graph.DeviceExecutor // the runner on a device, else nil
	batch int                   // the batch size the buffers are shaped for
}

type carryLink struct {
	from, to *graph.Node
	out      int // index of from among the runner's outputs
	feed     int // index of to among the runner's feeds
	buf      *tensor.Tensor
}

// checkCarry reports a Carry the loop cannot run: a nil node, a target that is
// not a placeholder, shapes or types that differ, a placeholder fed by a batch.
func (c *Config) checkCarry() error {
	for from, to := range c.Carry {
		if from == nil || to == nil {
			return fmt.Errorf("train: Config.Carry has a nil node (from %v, to %v)", from, to)
		}
		if to.Op().Type() != "Placeholder" {
			return fmt.Errorf("train: Config.Carry into %s (%s): want a placeholder", to.Name(), to.Op().Type())
		}
		if from.Graph() != c.Loss.Graph() || to.Graph() != c.Loss.Graph() {
			return fmt.Errorf("train: Config.Carry from %s into %s: not the Loss's graph", from.Name(), to.Name())
		}
		if !from.Shape().Equal(to.Shape()) || from.Value().DType != to.Value().DType {
			return &tensor.ShapeError{Op: "train.Config.Carry", Arg: from.Name(), Got: from.Shape(),
				Want: fmt.Sprintf("the shape and type of placeholder %s, %v", to.Name(), to.Value())}
		}
		if slices.Contains(c.Inputs, to) {
			return fmt.Errorf("train: Config.Carry into %s, which is one of Inputs (fed by the batches)", to.Name())
		}
	}
	return nil
}

// newCarrier appends the carried targets to targets and their placeholders to
// feeds, in a fixed order (the map's is random).
func newCarrier(carry map[*graph.Node]*graph.Node, targets []*graph.Node, feeds []graph.Feed) (*carrier, []*graph.Node, []graph.Feed) {
	c := &carrier{}
	for from, to := range carry {
		c.links = append(c.links, carryLink{from: from, to: to})
	}
	slices.SortFunc(c.links, func(a, b carryLink) int { return a.to.ID() - b.to.ID() })
	for i := range c.links {
		c.links[i].out = len(targets)
		targets = append(targets, c.links[i].from)
		c.links[i].feed = len(feeds)
		feeds = append(feeds, graph.Feed{Node: c.links[i].to})
	}
	return c, targets, feeds
}

// prepare feeds the carried placeholders for a step of batch examples: the
// buffers, shaped with batch for every unknown dimension, allocated (zero)
// only when the batch size changes, which starts a new sequence.
func (c *carrier) prepare(feeds []graph.Feed, batch int) {
	if len(c.links) == 0 {
		return
	}
	if batch != c.batch {
		for i := range c.links {
			l := &c.links[i]
			shape := l.to.Shape().Clone()
			for d := range shape {
				if shape[d] < 0 {
					shape[d] = batch
				}
			}
			l.buf = tensor.New(l.to.Value().DType, shape...)
		}
		c.batch = batch
		if c.dev != nil {
			c.dev.ResetCarry()
		}
	}
	for _, l := range c.links {
		feeds[l.feed].Value = l.buf
	}
}

// keep copies the carried targets of a CPU step into the buffers.
func (c *carrier) keep(outs []*tensor.Tensor) error {
	for _, l := range c.links {
		v := outs[l.out]
		if v == nil { // on a device the state stayed there
			continue
		}
		if err := l.buf.CopyFrom(v); err != nil {
			return fmt.Errorf("train: carrying %s into %s: %w", l.from.Name(), l.to.Name(), err)
		}
	}
	return nil
}

// reset zeroes the state: the next step starts a new sequence.
func (c *carrier) reset() {
	for _, l := range c.links {
		if l.buf == nil {
			continue
		}
		if l.buf.DType() == tensor.Float32 {
			clear(l.buf.Float32s())
		} else {
			clear(l.buf.Int32s())
		}
	}
	if c.dev != nil {
		c.dev.ResetCarry()
	}
}
