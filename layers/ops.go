package layers

import (
	"fmt"
	"math"

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

// bilinearOp resizes NHWC images to (oh, ow) by bilinear interpolation with
// half-pixel centres (TensorFlow 2's tf.image.resize, PyTorch's
// align_corners=False): output pixel y reads input row (y+0.5)·H/oh - 0.5.
type bilinearOp struct{ oh, ow int }

func (o *bilinearOp) Type() string { return "ResizeBilinear" }

func (o *bilinearOp) Infer(in []graph.Value) (graph.Value, error) {
	s := in[0].Shape
	if len(s) != 4 || in[0].DType != tensor.Float32 {
		return graph.Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "x", Got: s, Want: "float32 NHWC (N, H, W, C)"}
	}
	return graph.F32(s[0], o.oh, o.ow, s[3]), nil
}

// lerpTable gives, for each of out positions over an axis of size in, the two
// input positions read and the weight of the second.
func lerpTable(in, out int) (lo, hi []int32, w []float32) {
	lo, hi, w = make([]int32, out), make([]int32, out), make([]float32, out)
	scale := float64(in) / float64(out)
	for i := range out {
		f := (float64(i)+0.5)*scale - 0.5
		fl := math.Floor(f)
		lo[i] = int32(max(fl, 0))
		hi[i] = int32(min(math.Ceil(f), float64(in-1)))
		w[i] = float32(f - fl)
		if f < 0 {
			hi[i], w[i] = lo[i], 0
		}
	}
	return lo, hi, w
}

func (o *bilinearOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	s := in[0].Shape()
	n, h, w, ch := s[0], s[1], s[2], s[3]
	y0, y1, wy := lerpTable(h, o.oh)
	x0, x1, wx := lerpTable(w, o.ow)
	x, d := in[0].Float32s(), out.Float32s()
	ow := o.ow
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ { // r = image·oh + output row
			img, oy := r/o.oh, r%o.oh
			top := x[(img*h+int(y0[oy]))*w*ch:]
			bot := x[(img*h+int(y1[oy]))*w*ch:]
			ly := wy[oy]
			dst := d[r*ow*ch : (r+1)*ow*ch]
			for ox := range ow {
				a, b, lx := int(x0[ox])*ch, int(x1[ox])*ch, wx[ox]
				for k := range ch {
					t := top[a+k] + (top[b+k]-top[a+k])*lx
					u := bot[a+k] + (bot[b+k]-bot[a+k])*lx
					dst[ox*ch+k] = t + (u-t)*ly
				}
			}
		}
	}
	rows := n * o.oh
	return graph.KernelFunc(func() { c.Pool.For(rows, 8, body) }), nil
}

func (o *bilinearOp) Grad(n, dy *graph.Node) []*graph.Node {
	return []*graph.Node{n.Graph().Apply(&bilinearGradOp{oh: o.oh, ow: o.ow}, dy, n.Inputs()[0])}
}

// bilinearGradOp spreads dy back over the input pixels each output pixel read:
// inputs dy and x (read for its shape only).
type bilinearGradOp struct{ oh, ow int }

func (o *bilinearGradOp) Type() string         { return "ResizeBilinearGrad" }
func (o *bilinearGradOp) ShapeOnly(i int) bool { return i == 1 }
func (o *bilinearGradOp) Infer(in []graph.Value) (graph.Value, error) {
	return graph.F32(in[1].Shape...), nil
}

func (o *bilinearGradOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	s := out.Shape()
	n, h, w, ch := s[0], s[1], s[2], s[3]
	y0, y1, wy := lerpTable(h, o.oh)
	x0, x1, wx := lerpTable(w, o.ow)
	dy, d := in[0].Float32s(), out.Float32s()
	ow, oh := o.ow, o.oh
	body := func(lo, hi int) {
		for img := lo; img < hi; img++ { // images write apart: no races
			dimg := d[img*h*w*ch : (img+1)*h*w*ch]
			clear(dimg)
			for oy := range oh {
				top, bot, ly := int(y0[oy])*w*ch, int(y1[oy])*w*ch, wy[oy]
				src := dy[(img*oh+oy)*ow*ch:]
				for ox := range ow {
					a, b, lx := int(x0[ox])*ch, int(x1[ox])*ch, wx[ox]
					for k := range ch {
						g := src[ox*ch+k]
						gt, gb := g*(1-ly), g*ly
						dimg[top+a+k] += gt * (1 - lx)
						dimg[top+b+k] += gt * lx
						dimg[bot+a+k] += gb * (1 - lx)
						dimg[bot+b+k] += gb * lx
					}
				}
			}
		}
	}
	return graph.KernelFunc(func() { c.Pool.For(n, 1, body) }), nil
}

// seqMaskOp turns int32 sequence lengths (B,) into a float32 mask (B, steps):
// 1 for the steps before each length, 0 after.
type seqMaskOp struct{ steps int }

func (o *seqMaskOp) Type() string { return "SequenceMask" }

func (o *seqMaskOp) Infer(in []graph.Value) (graph.Value, error) {
	if len(in[0].Shape) != 1 || in[0].DType != tensor.Int32 {
		return graph.Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "lengths", Got: in[0].Shape, Want: "int32 (batch,)"}
	}
	return graph.F32(in[0].Shape[0], o.steps), nil
}

func (o *seqMaskOp) Compile(_ *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	lens, d := in[0].Int32s(), out.Float32s()
	steps := o.steps
	return graph.KernelFunc(func() {
		for b, n := range lens {
			row := d[b*steps : (b+1)*steps]
			for t := range row {
				row[t] = 0
				if t < int(n) {
					row[t] = 1
				}
			}
		}
	}), nil
}

// Grad: lengths are integers; nothing flows back.
func (o *seqMaskOp) Grad(n, dy *graph.Node) []*graph.Node { return []*graph.Node{nil} }
