package graph

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

type transposeOp struct{ perm []int }

func (o *transposeOp) Type() string { return "Transpose" }
func (o *transposeOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if len(o.perm) != len(s) {
		return Value{}, &tensor.ShapeError{Op: "Transpose", Arg: "perm", Got: s, Want: fmt.Sprintf("rank %d to match perm %v", len(o.perm), o.perm)}
	}
	seen := make([]bool, len(s))
	out := make(tensor.Shape, len(s))
	for i, p := range o.perm {
		if p < 0 || p >= len(s) || seen[p] {
			return Value{}, &tensor.ShapeError{Op: "Transpose", Arg: "perm", Got: s, Want: fmt.Sprintf("a permutation of 0..%d, got %v", len(s)-1, o.perm)}
		}
		seen[p] = true
		out[i] = s[p]
	}
	return Value{Shape: out, DType: in[0].DType}, nil
}

func (o *transposeOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	s := in[0].Shape()
	r := len(s)
	// Merge runs of axes that stay adjacent and in order: (0,2,3,1) on NCHW-like
	// shapes becomes a 3-D problem, and (0,1,3,2) a batch of 2-D transposes.
	stride := make([]int, r) // input strides
	acc := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = acc
		acc *= s[i]
	}
	var dims, srcStride []int // merged output dims and the input stride of each
	for i := 0; i < r; i++ {
		p := o.perm[i]
		if s[p] == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && srcStride[k] == stride[p]*s[p] {
			dims[k] *= s[p]
			srcStride[k] = stride[p]
			continue
		}
		dims = append(dims, s[p])
		srcStride = append(srcStride, stride[p])
	}
	n := in[0].Size()
	if in[0].DType() == tensor.Int32 {
		x, d := in[0].Int32s(), out.Int32s()
		if len(dims) <= 1 {
			return KernelFunc(func() { copy(d, x) }), nil
		}
		return KernelFunc(func() { permuteI32(d, x, dims, srcStride) }), nil
	}
	x, d := in[0].Float32s(), out.Float32s()
	switch {
	case len(dims) <= 1 || n == 0:
		return KernelFunc(func() { copy(d, x) }), nil
	case len(dims) == 2 || (len(dims) == 3 && srcStride[0] == dims[1]*dims[2]):
		// A batch of 2-D transposes: out[b][i][j] = x[b][j][i].
		batch, rows, cols := 1, dims[0], dims[1]
		if len(dims) == 3 {
			batch, rows, cols = dims[0], dims[1], dims[2]
		}
		body := func(lo, hi int) {
			for t := lo; t < hi; t++ {
				b, it := t/tilesOf(rows), t%tilesOf(rows)
				transpose2D(d[b*rows*cols:], x[b*rows*cols:], rows, cols, it*tile, min(it*tile+tile, rows))
			}
		}
		tasks := batch * tilesOf(rows)
		return KernelFunc(func() { c.Pool.For(tasks, max(1, grain/max(tile*cols, 1)), body) }), nil
	}
	last := dims[len(dims)-1]
	ls := srcStride[len(dims)-1]
	outer := n / last
	body := func(lo, hi int) {
		for row := lo; row < hi; row++ {
			// Decompose the output row index into the source offset.
			src, q := 0, row
			for k := len(dims) - 2; k >= 0; k-- {
				src += (q % dims[k]) * srcStride[k]
				q /= dims[k]
			}
			dr := d[row*last : row*last+last]
			if ls == 1 { // the last axis stays last: rows move whole
				copy(dr, x[src:src+last])
				continue
			}
			for j := range dr {
				dr[j] = x[src+j*ls]
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(outer, max(1, grain/max(last, 1)), body) }), nil
}

const tile = 32

func tilesOf(n int) int { return (n + tile - 1) / tile }

// transpose2D writes rows [i0, i1) of d (rows × cols) = xᵀ, x being (cols × rows),
// in tiles so that both sides stay in cache.
func transpose2D(d, x []float32, rows, cols, i0, i1 int) {
	for j0 := 0; j0 < cols; j0 += tile {
		j1 := min(j0+tile, cols)
		for i := i0; i < i1; i++ {
			dr := d[i*cols+j0 : i*cols+j1]
			for j := range dr {
				dr[j] = x[(j0+j)*rows+i]
			}
		}
	}
}

func permuteI32(d, x []int32, dims, srcStride []int) {
	last := dims[len(dims)-1]
	ls := srcStride[len(dims)-1]
	for row := 0; row < len(d)/last; row++ {
		src, q := 0, row
		for k := len(dims) - 2; k >= 0; k-- {
			src += (q % dims[k]) * srcStride[k]
			q /= dims[k]
		}
		for j := 0; j < last; j++ {
			d[row*last+j] = x[src+j*ls]
		}
	}
}

func (o *transposeOp) Grad(n, dy *Node) []*Node {
	inv := make([]int, len(o.perm))
	for i, p := range o.perm {
		inv[p] = i
	}
	return []*Node{Transpose(dy, inv...)}
}

// Transpose permutes the axes of x: output axis i is input axis perm[i]. With no
// perm the axes are reversed (a matrix transpose for rank 2). The data is copied;
// 2-D transposes (and batches of them) run in cache-sized tiles.
func Transpose(x *Node, perm ...int) *Node {
	if len(perm) == 0 {
		r := len(x.value.Shape)
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	// A transpose of a transpose that restores the original order is the
	// original: layers that each convert between batch-major and time-major
	// (stacked LSTMs) then cost no kernel, and neither do their gradients.
	if t, ok := x.op.(*transposeOp); ok && x.err == nil && len(t.perm) == len(perm) {
		identity := true
		for i, p := range perm {
			if p < 0 || p >= len(t.perm) || t.perm[p] != i {
				identity = false
				break
			}
		}
		if identity {
			return x.inputs[0]
		}
	}
	return x.g.Apply(&transposeOp{perm: append([]int(nil), perm...)}, x)
}
