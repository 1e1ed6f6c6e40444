package graph

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// fillOp fills a tensor shaped like its input with a constant.
type fillOp struct{ value float32 }

func (*fillOp) Type() string { return "Fill" }
func (*fillOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[0].Shape.Clone(), DType: tensor.Float32}, nil
}
func (*fillOp) ShapeOnly(int) bool { return true }

// Grad: the output does not depend on the input's values, so no gradient flows
// (this lets a gradient that contains a Fill be differentiated again).
func (*fillOp) Grad(n, dy *Node) []*Node { return []*Node{nil} }
func (o *fillOp) Compile(_ *KernelCtx, _ []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	d := out.Float32s()
	return KernelFunc(func() {
		for i := range d {
			d[i] = o.value
		}
	}), nil
}

// FillLike returns a float32 tensor shaped like x with every element v.
func FillLike(x *Node, v float32) *Node { return x.g.Apply(&fillOp{value: v}, x) }

// ZerosLike returns zeros shaped like x.
func ZerosLike(x *Node) *Node { return FillLike(x, 0) }

type addNOp struct{}

func (addNOp) Type() string { return "AddN" }
func (addNOp) Infer(in []Value) (Value, error) {
	if len(in) == 0 {
		return Value{}, fmt.Errorf("no inputs")
	}
	for i, v := range in {
		if v.DType != tensor.Float32 || !compatible(v.Shape, in[0].Shape) {
			return Value{}, &tensor.ShapeError{Op: "AddN", Arg: fmt.Sprint(i), Got: v.Shape, Want: fmt.Sprintf("float32 %v like input 0", in[0].Shape)}
		}
	}
	return in[0], nil
}
func (addNOp) InPlace() int { return 0 }
func (addNOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	o := out.Float32s()
	srcs := make([][]float32, len(in))
	for i, t := range in {
		srcs[i] = t.Float32s()
	}
	body := func(lo, hi int) {
		a := srcs[0][lo:hi]
		dst := o[lo:hi]
		b := srcs[1][lo:hi]
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
		for _, s := range srcs[2:] {
			s = s[lo:hi]
			for i := range dst {
				dst[i] += s[i]
			}
		}
	}
	if len(srcs) == 1 {
		return KernelFunc(func() { copy(o, srcs[0]) }), nil
	}
	n := len(o)
	return KernelFunc(func() { c.Pool.For(n, 1<<14, body) }), nil
}
func (addNOp) Grad(n, dy *Node) []*Node {
	gs := make([]*Node, len(n.inputs))
	for i := range gs {
		gs[i] = dy
	}
	return gs
}

// AddN adds tensors of the same shape.
func AddN(xs ...*Node) *Node {
	if len(xs) == 0 {
		panic("graph.AddN: no inputs")
	}
	if len(xs) == 1 {
		return xs[0]
	}
	return xs[0].g.Apply(addNOp{}, xs...)
}

// compatible reports whether two shapes can be the same once unknown dimensions are
// known.
func compatible(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}

type reshapeOp struct{ shape []int }

func (o *reshapeOp) Type() string { return "Reshape" }
func (o *reshapeOp) Infer(in []Value) (Value, error) {
	if !in[0].Shape.Known() {
		// Unknown input size: keep what is known, one -1 stands for the rest.
		s := tensor.Shape(o.shape).Clone()
		unknown := 0
		for _, d := range s {
			if d < 0 {
				unknown++
			}
		}
		if unknown > 1 {
			return Value{}, &tensor.ShapeError{Op: "Reshape", Arg: "shape", Got: s, Want: "at most one -1"}
		}
		return Value{Shape: s, DType: in[0].DType}, nil
	}
	s, err := tensor.ResolveReshape("Reshape", in[0].Shape, o.shape)
	if err != nil {
		return Value{}, err
	}
	return Value{Shape: s, DType: in[0].DType}, nil
}
func (o *reshapeOp) Alias([]Value, Value) (int, int) { return 0, 0 }
func (o *reshapeOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}
func (o *reshapeOp) Grad(n, dy *Node) []*Node { return []*Node{ReshapeLike(dy, n.inputs[0])} }

// Reshape views x with another shape (one dimension may be -1). No data moves.
func Reshape(x *Node, shape ...int) *Node {
	return x.g.Apply(&reshapeOp{shape: append([]int(nil), shape...)}, x)
}

type reshapeLikeOp struct{}

func (reshapeLikeOp) Type() string { return "ReshapeLike" }
func (reshapeLikeOp) Infer(in []Value) (Value, error) {
	if in[0].Shape.Known() && in[1].Shape.Known() && in[0].Shape.Size() != in[1].Shape.Size() {
		return Value{}, &tensor.ShapeError{Op: "ReshapeLike", Arg: "x", Got: in[0].Shape, Want: fmt.Sprintf("%d elements like %v", in[1].Shape.Size(), in[1].Shape)}
	}
	return Value{Shape: in[1].Shape.Clone(), DType: in[0].DType}, nil
}
func (reshapeLikeOp) ShapeOnly(i int) bool            { return i == 1 }
func (reshapeLikeOp) Alias([]Value, Value) (int, int) { return 0, 0 }
func (reshapeLikeOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}
func (reshapeLikeOp) Grad(n, dy *Node) []*Node { return []*Node{ReshapeLike(dy, n.inputs[0]), nil} }

// ReshapeLike views x with the shape of like (known when the plan is compiled).
func ReshapeLike(x, like *Node) *Node { return x.g.Apply(reshapeLikeOp{}, x, like) }

type indexOp struct{ i int }

func (o *indexOp) Type() string { return "Index" }
func (o *indexOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if len(s) == 0 || (s[0] >= 0 && (o.i < 0 || o.i >= s[0])) {
		return Value{}, &tensor.ShapeError{Op: "Index", Arg: "x", Got: s, Want: fmt.Sprintf("a first axis with index %d", o.i)}
	}
	return Value{Shape: s[1:].Clone(), DType: in[0].DType}, nil
}
func (o *indexOp) Alias(in []Value, out Value) (int, int) { return 0, o.i * out.Shape.Size() }
func (o *indexOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}
func (o *indexOp) Grad(n, dy *Node) []*Node {
	return []*Node{n.g.Apply(&unindexOp{i: o.i}, dy, n.inputs[0])}
}

// Index views row i of x's first axis (no copy): x[i].
func Index(x *Node, i int) *Node { return x.g.Apply(&indexOp{i: i}, x) }

// unindexOp places dy at row i of zeros shaped like x.
type unindexOp struct{ i int }

func (o *unindexOp) Type() string { return "Unindex" }
func (o *unindexOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (o *unindexOp) ShapeOnly(i int) bool { return i == 1 }
func (o *unindexOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	d, src := out.Float32s(), in[0].Float32s()
	off := o.i * len(src)
	return KernelFunc(func() {
		clear(d)
		copy(d[off:], src)
	}), nil
}
func (o *unindexOp) Grad(n, dy *Node) []*Node { return []*Node{Index(dy, o.i), nil} }

type indexedSlicesOp struct{ dense tensor.Shape }

func (o *indexedSlicesOp) Type() string { return "IndexedSlices" }
func (o *indexedSlicesOp) Infer(in []Value) (Value, error) {
	if in[0].DType != tensor.Int32 || len(in[0].Shape) != 1 {
		return Value{}, &tensor.ShapeError{Op: "IndexedSlices", Arg: "indices", Got: in[0].Shape, Want: "int32 of rank 1"}
	}
	if len(in[1].Shape) != len(o.dense) || !compatible(in[1].Shape[1:], o.dense[1:]) || !compatible(in[1].Shape[:1], in[0].Shape) {
		return Value{}, &tensor.ShapeError{Op: "IndexedSlices", Arg: "values", Got: in[1].Shape, Want: fmt.Sprintf("(%v rows, %v)", in[0].Shape, o.dense[1:])}
	}
	return in[1], nil
}
func (o *indexedSlicesOp) Alias([]Value, Value) (int, int) { return 1, 0 }
func (o *indexedSlicesOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}

// IndexedSlices is a sparse gradient: rows values[i] belong at row indices[i] of a
// tensor of shape dense; repeated indices add up. The node's own value is values.
func IndexedSlices(indices, values *Node, dense tensor.Shape) *Node {
	return values.g.Apply(&indexedSlicesOp{dense: dense.Clone()}, indices, values)
}

// IsSparse reports whether n is an IndexedSlices gradient.
func IsSparse(n *Node) bool { _, ok := n.op.(*indexedSlicesOp); return ok }

// SparseParts returns the indices, values and dense shape of an IndexedSlices node.
func SparseParts(n *Node) (indices, values *Node, dense tensor.Shape) {
	o := n.op.(*indexedSlicesOp)
	return n.inputs[0], n.inputs[1], o.dense
}

type densifyOp struct{ dense tensor.Shape }

func (o *densifyOp) Type() string { return "Densify" }
func (o *densifyOp) Infer(in []Value) (Value, error) {
	return Value{Shape: o.dense.Clone(), DType: tensor.Float32}, nil
}
func (o *densifyOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	idx, val, d := in[0].Int32s(), in[1].Float32s(), out.Float32s()
	rows := o.dense[0]
	width := len(d) / max(rows, 1)
	return KernelFunc(func() {
		clear(d)
		for i, r := range idx {
			if int(r) < 0 || int(r) >= rows {
				continue // out-of-range rows were rejected by Gather
			}
			dst := d[int(r)*width : int(r)*width+width]
			src := val[i*width : i*width+width]
			for j := range dst {
				dst[j] += src[j]
			}
		}
	}), nil
}

// Densify turns an IndexedSlices gradient into a dense tensor; other nodes are
// returned as they are.
func Densify(n *Node) *Node {
	if !IsSparse(n) {
		return n
	}
	idx, val, dense := SparseParts(n)
	return n.g.Apply(&densifyOp{dense: dense}, idx, val)
}

type concatOp struct{ axis int }

func (o *concatOp) Type() string { return "Concat" }
func (o *concatOp) Infer(in []Value) (Value, error) {
	first := in[0].Shape
	ax := o.axis
	if ax < 0 || ax >= len(first) {
		return Value{}, &tensor.ShapeError{Op: "Concat", Arg: "0", Got: first, Want: fmt.Sprintf("rank > axis %d", o.axis)}
	}
	out := first.Clone()
	for i, v := range in {
		s := v.Shape
		ok := len(s) == len(first) && v.DType == in[0].DType
		for d := 0; ok && d < len(s); d++ {
			if d != ax && s[d] >= 0 && first[d] >= 0 && s[d] != first[d] {
				ok = false
			}
		}
		if !ok {
			return Value{}, &tensor.ShapeError{Op: "Concat", Arg: fmt.Sprint(i), Got: s, Want: fmt.Sprintf("%v %v except on axis %d", in[0].DType, first, ax)}
		}
		if i > 0 {
			if s[ax] < 0 || out[ax] < 0 {
				out[ax] = -1
			} else {
				out[ax] += s[ax]
			}
		}
	}
	return Value{Shape: out, DType: in[0].DType}, nil
}
func (o *concatOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	s := out.Shape()
	outer, inner := aroundAxis(s, o.axis)
	widths := make([]int, len(in))
	for i, t := range in {
		widths[i] = t.Shape()[o.axis] * inner
	}
	total := s[o.axis] * inner
	if out.DType() == tensor.Int32 {
		srcs := make([][]int32, len(in))
		for i, t := range in {
			srcs[i] = t.Int32s()
		}
		d := out.Int32s()
		return KernelFunc(func() {
			for r := 0; r < outer; r++ {
				off := r * total
				for i, w := range widths {
					copy(d[off:off+w], srcs[i][r*w:r*w+w])
					off += w
				}
			}
		}), nil
	}
	srcs := make([][]float32, len(in))
	for i, t := range in {
		srcs[i] = t.Float32s()
	}
	d := out.Float32s()
	return KernelFunc(func() {
		for r := 0; r < outer; r++ {
			off := r * total
			for i, w := range widths {
				copy(d[off:off+w], srcs[i][r*w:r*w+w])
				off += w
			}
		}
	}), nil
}
func (o *concatOp) Grad(n, dy *Node) []*Node {
	gs := make([]*Node, len(n.inputs))
	for i := range n.inputs {
		gs[i] = n.g.Apply(&concatGradOp{axis: o.axis, part: i}, append([]*Node{dy}, n.inputs...)...)
	}
	return gs
}

// Concat joins tensors along axis.
func Concat(axis int, xs ...*Node) *Node {
	if len(xs) == 0 {
		panic("graph.Concat: no inputs")
	}
	if axis < 0 {
		axis += len(xs[0].value.Shape)
	}
	return xs[0].g.Apply(&concatOp{axis: axis}, xs...)
}

// concatGradOp takes dy and the concat's inputs (shapes only) and returns the part
// of dy that belongs to input part.
type concatGradOp struct{ axis, part int }

func (o *concatGradOp) Type() string         { return "ConcatGrad" }
func (o *concatGradOp) ShapeOnly(i int) bool { return i > 0 }
func (o *concatGradOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1+o.part].Shape.Clone(), DType: tensor.Float32}, nil
}
func (o *concatGradOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	s := in[0].Shape()
	outer, inner := aroundAxis(s, o.axis)
	start := 0
	for _, t := range in[1 : 1+o.part] {
		start += t.Shape()[o.axis] * inner
	}
	w := out.Shape()[o.axis] * inner
	total := s[o.axis] * inner
	src, d := in[0].Float32s(), out.Float32s()
	return KernelFunc(func() {
		for r := 0; r < outer; r++ {
			copy(d[r*w:r*w+w], src[r*total+start:r*total+start+w])
		}
	}), nil
}

type sliceOp struct{ axis, lo, hi int }

func (o *sliceOp) Type() string { return "Slice" }
func (o *sliceOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if o.axis < 0 || o.axis >= len(s) || o.lo < 0 || o.hi < o.lo || (s[o.axis] >= 0 && o.hi > s[o.axis]) {
		return Value{}, &tensor.ShapeError{Op: "Slice", Arg: "x", Got: s, Want: fmt.Sprintf("axis %d holding [%d, %d)", o.axis, o.lo, o.hi)}
	}
	out := s.Clone()
	out[o.axis] = o.hi - o.lo
	return Value{Shape: out, DType: in[0].DType}, nil
}
func (o *sliceOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	s := in[0].Shape()
	outer, inner := aroundAxis(s, o.axis)
	total, w, start := s[o.axis]*inner, (o.hi-o.lo)*inner, o.lo*inner
	if out.DType() == tensor.Int32 {
		src, d := in[0].Int32s(), out.Int32s()
		return KernelFunc(func() {
			for r := 0; r < outer; r++ {
				copy(d[r*w:r*w+w], src[r*total+start:r*total+start+w])
			}
		}), nil
	}
	src, d := in[0].Float32s(), out.Float32s()
	return KernelFunc(func() {
		for r := 0; r < outer; r++ {
			copy(d[r*w:r*w+w], src[r*total+start:r*total+start+w])
		}
	}), nil
}
func (o *sliceOp) Grad(n, dy *Node) []*Node {
	return []*Node{n.g.Apply(&padSliceOp{axis: o.axis, lo: o.lo}, dy, n.inputs[0])}
}

// Slice returns x[..., lo:hi, ...] along axis (a copy).
func Slice(x *Node, axis, lo, hi int) *Node {
	if axis < 0 {
		axis += len(x.value.Shape)
	}
	return x.g.Apply(&sliceOp{axis: axis, lo: lo, hi: hi}, x)
}

// Split cuts x along axis into parts of the given sizes.
func Split(x *Node, axis int, sizes ...int) []*Node {
	out := make([]*Node, len(sizes))
	lo := 0
	for i, s := range sizes {
		out[i] = Slice(x, axis, lo, lo+s)
		lo += s
	}
	return out
}

// padSliceOp places dy at [lo, lo+n) along axis of zeros shaped like x.
type padSliceOp struct{ axis, lo int }

func (o *padSliceOp) Type() string         { return "PadSlice" }
func (o *padSliceOp) ShapeOnly(i int) bool { return i == 1 }
func (o *padSliceOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (o *padSliceOp) Compile(_ *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	s := out.Shape()
	outer, inner := aroundAxis(s, o.axis)
	total, w, start := s[o.axis]*inner, in[0].Shape()[o.axis]*inner, o.lo*inner
	src, d := in[0].Float32s(), out.Float32s()
	return KernelFunc(func() {
		clear(d)
		for r := 0; r < outer; r++ {
			copy(d[r*total+start:r*total+start+w], src[r*w:r*w+w])
		}
	}), nil
}
func (o *padSliceOp) Grad(n, dy *Node) []*Node {
	return []*Node{Slice(dy, o.axis, o.lo, o.lo+n.inputs[0].value.Shape[o.axis]), nil}
}

// aroundAxis returns the number of elements before and after axis: a tensor of
// shape s is outer blocks of s[axis] rows of inner elements.
func aroundAxis(s tensor.Shape, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for _, d := range s[:axis] {
		outer *= d
	}
	for _, d := range s[axis+1:] {
		inner *= d
	}
	return outer, inner
}
