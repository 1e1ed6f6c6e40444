package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/tensor"
)

// sumSquares returns Σx² over xs, split over the pool's workers; partial holds
// one float64 per worker (allocated in Compile).
func sumSquares(c *KernelCtx, xs [][]float32, partial []float64, bodies []func(lo, hi int)) float64 {
	var total float64
	for i, x := range xs {
		if len(x) < 1<<15 {
			total += float64(sumSq(x))
			continue
		}
		clear(partial)
		c.Pool.For(len(partial), 1, bodies[i])
		for _, p := range partial {
			total += p
		}
	}
	return total
}

// sumSq is Σx² with eight independent sums, so that the additions overlap
// instead of waiting for each other.
func sumSq(x []float32) float32 {
	var s [8]float32
	n := len(x) &^ 7
	for i := 0; i < n; i += 8 {
		v := x[i : i+8 : i+8]
		s[0] += v[0] * v[0]
		s[1] += v[1] * v[1]
		s[2] += v[2] * v[2]
		s[3] += v[3] * v[3]
		s[4] += v[4] * v[4]
		s[5] += v[5] * v[5]
		s[6] += v[6] * v[6]
		s[7] += v[7] * v[7]
	}
	for _, v := range x[n:] {
		s[0] += v * v
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// sumSquareBodies builds, per input, the loop body that sums the squares of part p
// of it into partial[p].
func sumSquareBodies(xs [][]float32, partial []float64) []func(lo, hi int) {
	bodies := make([]func(lo, hi int), len(xs))
	parts := len(partial)
	for i, x := range xs {
		chunk := (len(x) + parts - 1) / parts
		bodies[i] = func(lo, hi int) {
			for p := lo; p < hi; p++ {
				partial[p] = float64(sumSq(x[min(p*chunk, len(x)):min(p*chunk+chunk, len(x))]))
			}
		}
	}
	return bodies
}

// globalNormOp is sqrt(Σ_i Σ x_i²) over its inputs; halfSquare makes it
// Σ x²/2 instead (L2Loss).
type globalNormOp struct{ halfSquare bool }

func (o *globalNormOp) Type() string {
	if o.halfSquare {
		return "L2Loss"
	}
	return "GlobalNorm"
}
func (o *globalNormOp) Infer(in []Value) (Value, error) {
	if len(in) == 0 {
		return Value{}, fmt.Errorf("%s: no inputs", o.Type())
	}
	for i, v := range in {
		if v.DType != tensor.Float32 {
			return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: fmt.Sprint(i), Got: v.Shape, Want: fmt.Sprintf("float32, got %v", v.DType)}
		}
	}
	return F32(), nil
}
func (o *globalNormOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	xs := make([][]float32, len(in))
	for i, t := range in {
		xs[i] = t.Float32s()
	}
	partial := make([]float64, c.Pool.Workers())
	bodies := sumSquareBodies(xs, partial)
	d := out.Float32s()
	half := o.halfSquare
	return KernelFunc(func() {
		s := sumSquares(c, xs, partial, bodies)
		if half {
			d[0] = float32(s / 2)
		} else {
			d[0] = float32(math.Sqrt(s))
		}
	}), nil
}
func (o *globalNormOp) Grad(n, dy *Node) []*Node {
	gs := make([]*Node, len(n.inputs))
	var f *Node
	if o.halfSquare {
		f = dy // d(Σx²/2)/dx = x
	} else {
		f = n.g.Apply(normGradFactorOp{}, dy, n) // dy / norm
	}
	for i, x := range n.inputs {
		gs[i] = n.g.Apply(scaleByOp{}, x, f)
	}
	return gs
}

// normGradFactorOp is dy/norm (0 when the norm is 0).
type normGradFactorOp struct{}

func (normGradFactorOp) Type() string                    { return "GlobalNormGradFactor" }
func (normGradFactorOp) Infer(in []Value) (Value, error) { return F32(), nil }
func (normGradFactorOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, nrm, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	return KernelFunc(func() {
		if nrm[0] == 0 {
			d[0] = 0
			return
		}
		d[0] = dy[0] / nrm[0]
	}), nil
}

// scaleByOp is x·s with s a scalar node.
type scaleByOp struct{}

func (scaleByOp) Type() string { return "ScaleBy" }
func (scaleByOp) Infer(in []Value) (Value, error) {
	if in[1].Shape.Size() != 1 {
		return Value{}, &tensor.ShapeError{Op: "ScaleBy", Arg: "s", Got: in[1].Shape, Want: "a scalar"}
	}
	return in[0], nil
}
func (scaleByOp) InPlace() int { return 0 }
func (scaleByOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, s, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	body := func(lo, hi int) {
		f := s[0]
		xx, dd := x[lo:hi], d[lo:hi]
		for i, v := range xx {
			dd[i] = v * f
		}
	}
	return KernelFunc(func() { c.Pool.For(len(d), grain, body) }), nil
}
func (scaleByOp) Grad(n, dy *Node) []*Node {
	x, s := n.inputs[0], n.inputs[1]
	return []*Node{n.g.Apply(scaleByOp{}, dy, s), ReshapeLike(n.g.Apply(&globalDotOp{}, dy, x), s)}
}

// globalDotOp is Σ a⊙b as a scalar.
type globalDotOp struct{}

func (*globalDotOp) Type() string                    { return "Dot" }
func (*globalDotOp) Infer(in []Value) (Value, error) { return F32(), nil }
func (*globalDotOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	a, b, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	return KernelFunc(func() {
		var s float64
		for i, v := range a {
			s += float64(v) * float64(b[i])
		}
		d[0] = float32(s)
	}), nil
}

// L2Loss is Σx²/2, the weight-decay penalty (TensorFlow's l2_loss).
func L2Loss(x *Node) *Node { return x.g.Apply(&globalNormOp{halfSquare: true}, x) }

// GlobalNorm is sqrt(Σ_i ‖x_i‖²) over the tensors xs; nil entries are skipped and
// a sparse gradient (IndexedSlices) counts its values, as TensorFlow does.
func GlobalNorm(xs ...*Node) *Node {
	var ns []*Node
	var g *Graph
	for _, x := range xs {
		if x == nil {
			continue
		}
		g = x.g
		if IsSparse(x) {
			_, x, _ = SparseParts(x)
		}
		ns = append(ns, x)
	}
	if g == nil {
		panic("graph.GlobalNorm: no tensors")
	}
	return g.Apply(&globalNormOp{}, ns...)
}

// clipScaleOp is x·clip/max(norm, clip): inputs x and the scalar norm.
type clipScaleOp struct{ clip float32 }

func (o *clipScaleOp) Type() string { return "ClipByNorm" }
func (o *clipScaleOp) Infer(in []Value) (Value, error) {
	if in[1].Shape.Size() != 1 {
		return Value{}, &tensor.ShapeError{Op: "ClipByNorm", Arg: "norm", Got: in[1].Shape, Want: "a scalar"}
	}
	return in[0], nil
}
func (o *clipScaleOp) InPlace() int { return 0 }
func (o *clipScaleOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, nrm, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	clip := o.clip
	body := func(lo, hi int) {
		f := clip / max(nrm[0], clip)
		xx, dd := x[lo:hi], d[lo:hi]
		if &xx[0] != &dd[0] {
			copy(dd, xx)
		}
		vmath.Scale(dd, f)
	}
	return KernelFunc(func() {
		if len(d) == 0 || (nrm[0] <= clip && &x[0] == &d[0]) {
			return // in place and nothing to clip
		}
		c.Pool.For(len(d), grain, body)
	}), nil
}
func (o *clipScaleOp) Grad(n, dy *Node) []*Node {
	x, nrm := n.inputs[0], n.inputs[1]
	f := n.g.Apply(&clipFactorOp{clip: o.clip, deriv: false}, nrm)
	df := n.g.Apply(&clipFactorOp{clip: o.clip, deriv: true}, nrm)
	dn := n.g.Apply(scaleByOp{}, n.g.Apply(&globalDotOp{}, dy, x), df)
	return []*Node{n.g.Apply(scaleByOp{}, dy, f), ReshapeLike(dn, nrm)}
}

// clipFactorOp is clip/max(norm, clip), or with deriv its derivative with respect
// to norm (-clip/norm² above the clip, else 0).
type clipFactorOp struct {
	clip  float32
	deriv bool
}

func (o *clipFactorOp) Type() string                    { return "ClipFactor" }
func (o *clipFactorOp) Infer(in []Value) (Value, error) { return F32(), nil }
func (o *clipFactorOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	nrm, d := in[0].Float32s(), out.Float32s()
	return KernelFunc(func() {
		v := nrm[0]
		switch {
		case !o.deriv:
			d[0] = o.clip / max(v, o.clip)
		case v > o.clip:
			d[0] = -o.clip / (v * v)
		default:
			d[0] = 0
		}
	}), nil
}

// ClipByGlobalNorm scales the tensors xs (gradients, typically) by
// clipNorm/max(GlobalNorm(xs), clipNorm), as TensorFlow's clip_by_global_norm: if
// their global norm exceeds clipNorm they are scaled down together, keeping their
// direction. Nil entries stay nil; sparse gradients stay sparse with their values
// scaled. It returns the clipped tensors and the global norm before clipping.
func ClipByGlobalNorm(xs []*Node, clipNorm float32) ([]*Node, *Node) {
	out := make([]*Node, len(xs))
	norm := GlobalNorm(xs...)
	if clipNorm <= 0 {
		return out, norm.g.fail(fmt.Errorf("graph: ClipByGlobalNorm: clipNorm %v must be positive", clipNorm))
	}
	for i, x := range xs {
		if x == nil {
			continue
		}
		if IsSparse(x) {
			idx, val, dense := SparseParts(x)
			out[i] = IndexedSlices(idx, x.g.Apply(&clipScaleOp{clip: clipNorm}, val, norm), dense)
			continue
		}
		out[i] = x.g.Apply(&clipScaleOp{clip: clipNorm}, x, norm)
	}
	return out, norm
}
