package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/tensor"
)

// broadcastShapes returns the numpy-style broadcast of a and b. Unknown (-1)
// dimensions broadcast against 1 and match anything else.
func broadcastShapes(op string, a, b tensor.Shape) (tensor.Shape, error) {
	n := max(len(a), len(b))
	out := make(tensor.Shape, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		case da < 0:
			out[i] = db
		case db < 0:
			out[i] = da
		default:
			return nil, &tensor.ShapeError{Op: op, Arg: "b", Got: b, Want: fmt.Sprintf("a shape that broadcasts with a %v", a)}
		}
	}
	return out, nil
}

// broadcastIndex maps every element of a tensor of shape from to the element of a
// tensor of shape to that it broadcasts from (to right-aligned, its dimensions 1 or
// equal to from's).
func broadcastIndex(from, to tensor.Shape) []int32 {
	n := from.Size()
	m := make([]int32, n)
	r := len(from)
	// stride of each from-axis in to (0 where to broadcasts).
	st := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		j := len(to) - r + i
		if j >= 0 && to[j] != 1 {
			st[i] = s
		}
		if j >= 0 {
			s *= to[j]
		}
	}
	idx := make([]int, r)
	off := 0
	for k := 0; k < n; k++ {
		m[k] = int32(off)
		for a := r - 1; a >= 0; a-- {
			idx[a]++
			off += st[a]
			if idx[a] < from[a] {
				break
			}
			off -= st[a] * idx[a]
			idx[a] = 0
		}
	}
	return m
}

// sumToOp sums dy over the axes along which like was broadcast, giving like's shape.
type sumToOp struct{}

func (sumToOp) Type() string         { return "SumTo" }
func (sumToOp) ShapeOnly(i int) bool { return i == 1 }
func (sumToOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (sumToOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	src, d := in[0].Float32s(), out.Float32s()
	if len(src) == len(d) {
		return KernelFunc(func() { copy(d, src) }), nil
	}
	if len(d) == 1 {
		return KernelFunc(func() { d[0] = sumF32(src) }), nil
	}
	ds, ls := in[0].Shape(), out.Shape()
	// Fast path: like is the trailing part of dy (bias-style).
	if suffix(ds, ls) {
		sum := sumRows(c, len(src)/len(d), len(d))
		return KernelFunc(func() { sum(src, d) }), nil
	}
	m := broadcastIndex(ds, ls)
	return KernelFunc(func() {
		clear(d)
		for i, j := range m {
			d[j] += src[i]
		}
	}), nil
}
func (sumToOp) Grad(n, dy *Node) []*Node { return []*Node{BroadcastLike(dy, n.inputs[0]), nil} }

// suffix reports whether to (without leading 1s) equals the trailing dims of from.
func suffix(from, to tensor.Shape) bool {
	for len(to) > 0 && to[0] == 1 {
		to = to[1:]
	}
	if len(to) > len(from) {
		return false
	}
	return from[len(from)-len(to):].Equal(to)
}

// sumRows returns a function that sets d to the sum of the rows of src, a
// row-major matrix of rows×C (len(d) == C): the gradient of a bias. Wide rows (a
// softmax bias over a vocabulary) are cut into column blocks that stay in L1,
// one task each, so every column is summed in row order whatever the thread
// count; narrow ones (a convolution's channels) are cut into row ranges summed
// into partial rows, then added together. The slices are passed at run time, so
// a kernel may sum its scratch memory, bound only when the plan is compiled.
func sumRows(c *KernelCtx, rows, C int) func(src, d []float32) {
	const block = 2048 // columns: 8 KiB of sums
	switch {
	case C == 0:
		return func(src, d []float32) {}
	case rows == 0:
		return func(src, d []float32) { clear(d) }
	case C >= 2*block || rows*C < grain || c.Pool.Workers() == 1:
		blocks := (C + block - 1) / block
		var src, d []float32
		body := func(lo, hi int) {
			for b := lo; b < hi; b++ {
				c0, c1 := b*block, min(C, (b+1)*block)
				acc := d[c0:c1]
				copy(acc, src[c0:c1])
				for r := 1; r < rows; r++ {
					nn.Add(acc, src[r*C+c0:][:c1-c0])
				}
			}
		}
		return func(s, dd []float32) {
			src, d = s[:rows*C], dd[:C]
			c.Pool.For(blocks, 1, body)
		}
	}
	parts := max(1, min(c.Pool.Workers(), rows*C/grain))
	partial := make([]float32, (parts-1)*C)
	var src, d []float32
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			acc := d
			if part > 0 {
				acc = partial[(part-1)*C:][:C]
			}
			clear(acc)
			r0, r1 := part*rows/parts, (part+1)*rows/parts
			for r := r0; r < r1; r++ {
				nn.Add(acc, src[r*C:][:C])
			}
		}
	}
	return func(s, dd []float32) {
		src, d = s[:rows*C], dd[:C]
		c.Pool.For(parts, 1, body)
		for part := 1; part < parts; part++ {
			nn.Add(d, partial[(part-1)*C:][:C])
		}
	}
}

func sumF32(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// SumTo reduces dy to the shape of like by summing the broadcast axes (the gradient
// of a broadcast). When the shapes are the same, dy is returned.
func SumTo(dy, like *Node) *Node {
	if dy.value.Shape.Equal(like.value.Shape) {
		return dy
	}
	return dy.g.Apply(sumToOp{}, dy, like)
}

// broadcastLikeOp broadcasts x to the shape of like.
type broadcastLikeOp struct{}

func (broadcastLikeOp) Type() string         { return "BroadcastLike" }
func (broadcastLikeOp) ShapeOnly(i int) bool { return i == 1 }
func (broadcastLikeOp) Infer(in []Value) (Value, error) {
	s, err := broadcastShapes("BroadcastLike", in[1].Shape, in[0].Shape)
	if err != nil {
		return Value{}, err
	}
	if !compatible(s, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: "BroadcastLike", Arg: "x", Got: in[0].Shape, Want: fmt.Sprintf("a shape that broadcasts to %v", in[1].Shape)}
	}
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (broadcastLikeOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	src, d := in[0].Float32s(), out.Float32s()
	if len(src) == len(d) {
		return KernelFunc(func() { copy(d, src) }), nil
	}
	if len(src) == 1 {
		return KernelFunc(func() {
			v := src[0]
			for i := range d {
				d[i] = v
			}
		}), nil
	}
	m := broadcastIndex(out.Shape(), in[0].Shape())
	return KernelFunc(func() {
		for i, j := range m {
			d[i] = src[j]
		}
	}), nil
}
func (broadcastLikeOp) Grad(n, dy *Node) []*Node { return []*Node{SumTo(dy, n.inputs[0]), nil} }

// BroadcastLike repeats x along broadcast axes to the shape of like.
func BroadcastLike(x, like *Node) *Node {
	if x.value.Shape.Equal(like.value.Shape) {
		return x
	}
	return x.g.Apply(broadcastLikeOp{}, x, like)
}
