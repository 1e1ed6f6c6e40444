package graph

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// dropoutMaskOp fills a tensor shaped like its input with 1/keep (kept) or 0
// (dropped) in training plans, and with ones otherwise. The random stream is
// counter-based: element i of step s is a hash of (seed, s, i), so the mask does
// not depend on how the loop is split over the cores, and each Run draws a new
// mask without allocating.
type dropoutMaskOp struct{ keep float32 }

func (o *dropoutMaskOp) Type() string       { return "DropoutMask" }
func (o *dropoutMaskOp) ShapeOnly(int) bool { return true }
func (o *dropoutMaskOp) Infer(in []Value) (Value, error) {
	if !(o.keep > 0 && o.keep <= 1) {
		return Value{}, fmt.Errorf("DropoutMask: keep probability %v is not in (0, 1]", o.keep)
	}
	return Value{Shape: in[0].Shape.Clone(), DType: tensor.Float32}, nil
}

// splitmix64's finaliser: a good 64-bit mix of a counter.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (o *dropoutMaskOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	d := out.Float32s()
	if !c.Training || o.keep >= 1 {
		return KernelFunc(func() {
			for i := range d {
				d[i] = 1
			}
		}), nil
	}
	// Keep when the top 24 bits of a draw, as an integer, are below keep·2²⁴.
	thresh := uint32(float64(o.keep) * (1 << 24))
	scale := 1 / o.keep
	var step uint64
	var base uint64
	pairs := (len(d) + 1) / 2
	body := func(lo, hi int) {
		for p := lo; p < hi; p++ {
			h := mix64(base + uint64(p)*0x9e3779b97f4a7c15)
			v0, v1 := float32(0), float32(0)
			if uint32(h)>>8 < thresh {
				v0 = scale
			}
			if uint32(h>>32)>>8 < thresh {
				v1 = scale
			}
			i := 2 * p
			d[i] = v0
			if i+1 < len(d) {
				d[i+1] = v1
			}
		}
	}
	seed, shared := c.Seed, c.Step
	return KernelFunc(func() {
		if shared != nil {
			step = *shared
		} else {
			step++
		}
		base = mix64(seed ^ mix64(step))
		c.Pool.For(pairs, grain/2, body)
	}), nil
}

// Grad: the mask does not depend on its input's values.
func (o *dropoutMaskOp) Grad(n, dy *Node) []*Node { return []*Node{nil} }

// DropoutMask returns a tensor shaped like like whose elements are, in training
// plans, 1/keep with probability keep and 0 otherwise, drawn afresh at every Run
// (the stream derives from the graph's seed and the node); in other plans, ones.
// Multiplying by it is dropout; a smaller mask broadcast in the product drops
// whole rows or channels (TensorFlow's noise_shape).
func DropoutMask(like *Node, keep float32) *Node {
	return like.g.Apply(&dropoutMaskOp{keep: keep}, like)
}

// Dropout keeps each element of x with probability keep, scaled by 1/keep, and
// zeroes the rest, in training plans; in other plans it is the identity. The
// gradient goes through the same mask as the forward pass.
func Dropout(x *Node, keep float32) *Node {
	return Mul(x, DropoutMask(x, keep))
}
