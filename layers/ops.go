package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// noiseOp makes N(0, stddev²) noise shaped like its input (read for its shape
// only) in plans compiled for training, and zeros in plans compiled for
// inference, so a network switches mode by being compiled again, not rebuilt.
type noiseOp struct{ stddev float32 }

func (o *noiseOp) Type() string { return "GaussianNoise" }

func (o *noiseOp) Infer(in []graph.Value) (graph.Value, error) {
	if len(in) != 1 || in[0].DType != tensor.Float32 {
		return graph.Value{}, fmt.Errorf("GaussianNoise needs one float32 input, got %v", in)
	}
	return graph.F32(in[0].Shape...), nil
}

func (o *noiseOp) ShapeOnly(int) bool { return true }

func (o *noiseOp) Compile(c *graph.KernelCtx, _ []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	d := out.Float32s()
	if !c.Training {
		return graph.KernelFunc(func() { clear(d) }), nil
	}
	rng := tensor.NewRand(c.Seed)
	std := float64(o.stddev)
	return graph.KernelFunc(func() {
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
	}), nil
}

// Grad: the noise does not depend on the input's values.
func (o *noiseOp) Grad(n, dy *graph.Node) []*graph.Node { return []*graph.Node{nil} }

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
