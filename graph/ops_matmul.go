package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/tensor"
)

type matMulOp struct{ transA, transB bool }

func (o *matMulOp) Type() string { return "MatMul" }
func (o *matMulOp) Infer(in []Value) (Value, error) {
	a, b := in[0].Shape, in[1].Shape
	if len(a) != 2 || in[0].DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "MatMul", Arg: "a", Got: a, Want: "a float32 matrix (rank 2)"}
	}
	if len(b) != 2 || in[1].DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "MatMul", Arg: "b", Got: b, Want: "a float32 matrix (rank 2)"}
	}
	m, ka := a[0], a[1]
	if o.transA {
		m, ka = a[1], a[0]
	}
	kb, n := b[0], b[1]
	if o.transB {
		kb, n = b[1], b[0]
	}
	if ka >= 0 && kb >= 0 && ka != kb {
		return Value{}, &tensor.ShapeError{Op: "MatMul", Arg: "b", Got: b, Want: fmt.Sprintf("inner dimension %d to match a %v (transA=%v, transB=%v)", ka, a, o.transA, o.transB)}
	}
	return F32(m, n), nil
}
func (o *matMulOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	as, bs := in[0].Shape(), in[1].Shape()
	a, b, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	m, n := out.Shape()[0], out.Shape()[1]
	k := as[1]
	if o.transA {
		k = as[0]
	}
	lda, ldb := as[1], bs[1]
	ta, tb := o.transA, o.transB
	return KernelFunc(func() { gemm.Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, d, n) }), nil
}
func (o *matMulOp) Grad(n, dy *Node) []*Node {
	a, b := n.inputs[0], n.inputs[1]
	var da, db *Node
	// C = op(A) op(B): dop(A) = dC op(B)ᵀ, dop(B) = op(A)ᵀ dC.
	if o.transA {
		da = MatMulT(b, dy, o.transB, true) // dA = op(B) dCᵀ
	} else {
		da = MatMulT(dy, b, false, !o.transB)
	}
	if o.transB {
		db = MatMulT(dy, a, true, o.transA) // dB = dCᵀ op(A)
	} else {
		db = MatMulT(a, dy, !o.transA, false)
	}
	return []*Node{da, db}
}

// MatMul returns the matrix product a·b.
func MatMul(a, b *Node) *Node { return MatMulT(a, b, false, false) }

// MatMulT returns op(a)·op(b) where op transposes when asked.
func MatMulT(a, b *Node, transA, transB bool) *Node {
	return a.g.Apply(&matMulOp{transA: transA, transB: transB}, a, b)
}
