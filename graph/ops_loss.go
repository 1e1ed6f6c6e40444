package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/tensor"
)

// xentOp is sparse softmax cross-entropy averaged over rows: logits (N, C), labels
// (N,) int32 in [0, C). Softmax and the loss are fused; the gradient recomputes the
// softmax rather than keeping it.
type xentOp struct{}

func (xentOp) Type() string { return "SparseSoftmaxCrossEntropy" }
func (xentOp) Infer(in []Value) (Value, error) {
	l, y := in[0], in[1]
	if len(l.Shape) != 2 || l.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "SparseSoftmaxCrossEntropy", Arg: "logits", Got: l.Shape, Want: "float32 (N, C)"}
	}
	if len(y.Shape) != 1 || y.DType != tensor.Int32 || !compatible(y.Shape, l.Shape[:1]) {
		return Value{}, &tensor.ShapeError{Op: "SparseSoftmaxCrossEntropy", Arg: "labels", Got: y.Shape, Want: fmt.Sprintf("int32 (%v,) like the rows of logits %v", l.Shape[0], l.Shape)}
	}
	return F32(), nil
}
func (xentOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	logits, labels, d := in[0].Float32s(), in[1].Int32s(), out.Float32s()
	w := in[0].Shape()[1]
	rows := len(labels)
	rowLoss := make([]float64, rows) // per row, so that rows run in parallel
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			lab := int(labels[r])
			if lab < 0 || lab >= w {
				rowLoss[r] = math.NaN() // reported below, on the caller's goroutine
				continue
			}
			row := logits[r*w : r*w+w]
			m := vmath.Max(row)
			s := vmath.ExpSum(nil, row, m)
			rowLoss[r] = float64(m) + math.Log(float64(s)) - float64(row[lab])
		}
	}
	return KernelFunc(func() {
		c.Pool.For(rows, max(1, 4096/max(w, 1)), body)
		var loss float64
		for r, l := range rowLoss {
			if lab := int(labels[r]); lab < 0 || lab >= w {
				c.Fail(fmt.Errorf("SparseSoftmaxCrossEntropy: label %d of row %d is outside [0, %d)", lab, r, w))
				return
			}
			loss += l
		}
		d[0] = float32(loss / float64(max(rows, 1)))
	}), nil
}
func (xentOp) Grad(n, dy *Node) []*Node {
	return []*Node{n.g.Apply(xentGradOp{}, dy, n.inputs[0], n.inputs[1]), nil}
}

// SparseSoftmaxCrossEntropy is the mean over rows of -log softmax(logits)[label].
func SparseSoftmaxCrossEntropy(logits, labels *Node) *Node {
	return logits.g.Apply(xentOp{}, logits, labels)
}

type xentGradOp struct{}

func (xentGradOp) Type() string                    { return "SparseSoftmaxCrossEntropyGrad" }
func (xentGradOp) Infer(in []Value) (Value, error) { return in[1], nil }
func (xentGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, logits, labels, d := in[0].Float32s(), in[1].Float32s(), in[2].Int32s(), out.Float32s()
	w := in[1].Shape()[1]
	rows := len(labels)
	body := func(lo, hi int) {
		scale := dy[0] / float32(max(rows, 1))
		for r := lo; r < hi; r++ {
			gr, row := d[r*w:r*w+w], logits[r*w:r*w+w]
			// scale·softmax(row), normalised and scaled in one pass.
			m := vmath.Max(row)
			vmath.Scale(gr, scale/vmath.ExpSum(gr, row, m))
			if lab := int(labels[r]); lab >= 0 && lab < w {
				gr[lab] -= scale
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, 4096/max(w, 1)), body) }), nil
}

// sigmoidXentOp is the mean over elements of the logistic loss of logits against
// targets in [0, 1].
type sigmoidXentOp struct{}

func (sigmoidXentOp) Type() string { return "SigmoidCrossEntropy" }
func (sigmoidXentOp) Infer(in []Value) (Value, error) {
	if in[0].DType != tensor.Float32 || in[1].DType != tensor.Float32 || !compatible(in[0].Shape, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: "SigmoidCrossEntropy", Arg: "targets", Got: in[1].Shape, Want: fmt.Sprintf("float32 %v like logits", in[0].Shape)}
	}
	return F32(), nil
}
func (sigmoidXentOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, z, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	return KernelFunc(func() {
		var s float64
		for i, v := range x {
			xv := float64(v)
			s += math.Max(xv, 0) - xv*float64(z[i]) + math.Log1p(math.Exp(-math.Abs(xv)))
		}
		d[0] = float32(s / float64(max(len(x), 1)))
	}), nil
}
func (sigmoidXentOp) Grad(n, dy *Node) []*Node {
	x, z := n.inputs[0], n.inputs[1]
	// d/dx = (σ(x) - z)/N, d/dz = -x/N
	inv := n.g.Apply(&countScaleOp{}, dy, x)
	return []*Node{Mul(Sub(Sigmoid(x), z), inv), Neg(Mul(x, inv))}
}

// SigmoidCrossEntropy is the mean logistic loss of logits against targets.
func SigmoidCrossEntropy(logits, targets *Node) *Node {
	return logits.g.Apply(sigmoidXentOp{}, logits, targets)
}

// countScaleOp returns dy (a scalar) divided by the number of elements of x.
type countScaleOp struct{}

func (countScaleOp) Type() string                    { return "CountScale" }
func (countScaleOp) ShapeOnly(i int) bool            { return i == 1 }
func (countScaleOp) Infer(in []Value) (Value, error) { return F32(), nil }
func (countScaleOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, d := in[0].Float32s(), out.Float32s()
	inv := 1 / float32(max(in[1].Size(), 1))
	return KernelFunc(func() { d[0] = dy[0] * inv }), nil
}

// MeanSquaredError is the mean over elements of (pred - target)².
func MeanSquaredError(pred, target *Node) *Node {
	return ReduceMean(Square(Sub(pred, target)))
}

type gatherOp struct{}

func (gatherOp) Type() string { return "Gather" }
func (gatherOp) Infer(in []Value) (Value, error) {
	p, idx := in[0], in[1]
	if len(p.Shape) < 1 || p.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "Gather", Arg: "params", Got: p.Shape, Want: "float32 of rank >= 1"}
	}
	if idx.DType != tensor.Int32 {
		return Value{}, fmt.Errorf("Gather: indices must be int32, got %v", idx.DType)
	}
	out := append(idx.Shape.Clone(), p.Shape[1:]...)
	return Value{Shape: out, DType: tensor.Float32}, nil
}
func (gatherOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	p, idx, d := in[0].Float32s(), in[1].Int32s(), out.Float32s()
	rows := in[0].Shape()[0]
	w := len(p) / max(rows, 1)
	return KernelFunc(func() {
		for i, r := range idx {
			if r < 0 || int(r) >= rows {
				c.Fail(fmt.Errorf("Gather: index %d at position %d is outside [0, %d)", r, i, rows))
				return
			}
			copy(d[i*w:i*w+w], p[int(r)*w:int(r)*w+w])
		}
	}), nil
}
func (gatherOp) Grad(n, dy *Node) []*Node {
	p, idx := n.inputs[0], n.inputs[1]
	rest := append([]int{-1}, p.value.Shape[1:]...)
	return []*Node{IndexedSlices(Reshape(idx, -1), Reshape(dy, rest...), p.value.Shape), nil}
}

// Gather returns rows of params picked by int32 indices (embedding lookup): the
// result has shape indices.shape + params.shape[1:]. The gradient with respect to
// params is sparse.
func Gather(params, indices *Node) *Node { return params.g.Apply(gatherOp{}, params, indices) }

type groupOp struct{}

func (groupOp) Type() string                 { return "Group" }
func (groupOp) Infer([]Value) (Value, error) { return Value{}, nil }
func (groupOp) Updates()                     {}
func (groupOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}

// Group is a node that produces nothing and depends on nodes (a training step's
// updates, for example). Running it runs them.
func Group(g *Graph, nodes ...*Node) *Node { return g.Apply(groupOp{}, nodes...) }
