package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// noiseOp makes random tensors shaped like its input (read for its shape only):
// a dropout mask (0 or 1/keep) or Gaussian noise. In plans compiled for
// inference it makes the neutral value (a mask of ones, zero noise), so a
// network switches mode by being compiled again, not rebuilt.
type noiseOp struct {
	mask   bool    // dropout mask; else Gaussian noise
	keep   float32 // mask: probability of keeping an element
	stddev float32 // noise: standard deviation
}

func (o *noiseOp) Type() string {
	if o.mask {
		return "DropoutMask"
	}
	return "GaussianNoise"
}

func (o *noiseOp) Infer(in []graph.Value) (graph.Value, error) {
	if len(in) != 1 || in[0].DType != tensor.Float32 {
		return graph.Value{}, fmt.Errorf("%s needs one float32 input, got %v", o.Type(), in)
	}
	return graph.F32(in[0].Shape...), nil
}

func (o *noiseOp) ShapeOnly(int) bool { return true }

func (o *noiseOp) Compile(c *graph.KernelCtx, _ []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	d := out.Float32s()
	if !c.Training {
		v := float32(0)
		if o.mask {
			v = 1
		}
		return graph.KernelFunc(func() {
			for i := range d {
				d[i] = v
			}
		}), nil
	}
	rng := tensor.NewRand(c.Seed)
	if o.mask {
		keep, scale := float64(o.keep), 1/o.keep
		return graph.KernelFunc(func() {
			for i := range d {
				if rng.Float64() < keep {
					d[i] = scale
				} else {
					d[i] = 0
				}
			}
		}), nil
	}
	std := float64(o.stddev)
	return graph.KernelFunc(func() {
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
	}), nil
}

// Grad: the random tensor does not depend on the input's values.
func (o *noiseOp) Grad(n, dy *graph.Node) []*graph.Node { return []*graph.Node{nil} }

// dropoutMask returns a mask shaped like x: in training, each element 1/keep
// with probability keep and 0 otherwise; in inference, ones.
func dropoutMask(x *graph.Node, keep float32) *graph.Node {
	return x.Graph().Apply(&noiseOp{mask: true, keep: keep}, x)
}

// gaussianNoise returns N(0, stddev²) noise shaped like x in training, zeros in
// inference.
func gaussianNoise(x *graph.Node, stddev float32) *graph.Node {
	return x.Graph().Apply(&noiseOp{stddev: stddev}, x)
}

// zerosOp makes zeros of shape (rows of its input, width): the starting state
// of a recurrent layer, whose batch is known only at run time. It reads its
// input's shape only and passes no gradient back.
type zerosOp struct{ width int }

func (o *zerosOp) Type() string { return "BatchZeros" }

func (o *zerosOp) Infer(in []graph.Value) (graph.Value, error) {
	if len(in) != 1 || len(in[0].Shape) == 0 {
		return graph.Value{}, fmt.Errorf("BatchZeros needs an input with a batch axis, got %v", in)
	}
	return graph.F32(in[0].Shape[0], o.width), nil
}

func (o *zerosOp) ShapeOnly(int) bool { return true }

func (o *zerosOp) Compile(_ *graph.KernelCtx, _ []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	d := out.Float32s()
	return graph.KernelFunc(func() { clear(d) }), nil
}

func (o *zerosOp) Grad(n, dy *graph.Node) []*graph.Node { return []*graph.Node{nil} }

// batchZeros returns zeros of shape (batch of like, width).
func batchZeros(like *graph.Node, width int) *graph.Node {
	return like.Graph().Apply(&zerosOp{width: width}, like)
}
