package optim

import (
	"fmt"

	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Optimizer builds the update of a training step.
type Optimizer interface {
	// Apply returns a node that, when run, applies grads[i] to vars[i]. A nil
	// gradient leaves its variable alone.
	Apply(grads, vars []*graph.Node) (*graph.Node, error)
	// LearningRate is the scalar state variable holding the learning rate.
	LearningRate() *graph.Node
}

// Minimize differentiates loss with respect to vars (all trainable variables when
// none are given) and returns the node that applies one step of opt.
func Minimize(opt Optimizer, loss *graph.Node, vars ...*graph.Node) (*graph.Node, error) {
	if len(vars) == 0 {
		vars = loss.Graph().Trainable()
	}
	grads, err := graph.Gradients(loss, vars...)
	if err != nil {
		return nil, fmt.Errorf("optim: Minimize: %w", err)
	}
	return opt.Apply(grads, vars)
}

// SetLearningRate writes a new learning rate, effective from the next step. When
// the graph runs on a device, push it there too (OnDevice.PushVars of
// opt.LearningRate(); train's schedule hooks do).
func SetLearningRate(opt Optimizer, lr float32) { opt.LearningRate().Tensor().Float32s()[0] = lr }

// learningRate creates (or finds) the optimizer's learning-rate variable.
func learningRate(g *graph.Graph, name string, lr float32) *graph.Node {
	n := g.State(name+"/learning_rate", tensor.Constant(lr))
	n.Tensor().Float32s()[0] = lr
	return n
}

// SGD is plain stochastic gradient descent: v -= lr·g.
type SGD struct {
	lr *graph.Node
}

// NewSGD returns an SGD optimizer for graph g. name distinguishes optimizers that
// share a graph.
func NewSGD(g *graph.Graph, name string, lr float32) *SGD {
	return &SGD{lr: learningRate(g, name, lr)}
}

// LearningRate implements Optimizer.
func (o *SGD) LearningRate() *graph.Node { return o.lr }

// Apply implements Optimizer.
func (o *SGD) Apply(grads, vars []*graph.Node) (*graph.Node, error) {
	return applyEach(grads, vars, func(gr, v *graph.Node) *graph.Node {
		if graph.IsSparse(gr) {
			idx, val, _ := graph.SparseParts(gr)
			return v.Graph().Apply(&sgdSparseOp{}, v, idx, val, o.lr)
		}
		return v.Graph().Apply(&sgdOp{}, v, gr, o.lr)
	})
}

// applyEach builds one update per (grad, var) pair and groups them.
func applyEach(grads, vars []*graph.Node, update func(g, v *graph.Node) *graph.Node) (*graph.Node, error) {
	if len(grads) != len(vars) {
		return nil, fmt.Errorf("optim: %d gradients for %d variables", len(grads), len(vars))
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("optim: no variables to update")
	}
	g := vars[0].Graph()
	var ups []*graph.Node
	for i, v := range vars {
		if isVar, _ := v.IsVariable(); !isVar {
			return nil, fmt.Errorf("optim: %s is not a variable", v.Name())
		}
		if grads[i] == nil {
			continue
		}
		ups = append(ups, update(grads[i], v))
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optim: building updates: %w", err)
	}
	return graph.Group(g, ups...), nil
}

// updateInfer checks that a dense gradient matches its variable.
func updateInfer(op string, in []graph.Value) (graph.Value, error) {
	if !in[0].Shape.Equal(in[1].Shape) {
		return graph.Value{}, &tensor.ShapeError{Op: op, Arg: "grad", Got: in[1].Shape, Want: fmt.Sprintf("the variable's shape %v", in[0].Shape)}
	}
	return graph.Value{}, nil
}

// sparseInfer checks indices (N,), values (N, rest...) against a variable.
func sparseInfer(op string, in []graph.Value) (graph.Value, error) {
	v, idx, val := in[0].Shape, in[1].Shape, in[2].Shape
	if len(idx) != 1 || len(val) != len(v) || !val[1:].Equal(v[1:]) {
		return graph.Value{}, &tensor.ShapeError{Op: op, Arg: "values", Got: val, Want: fmt.Sprintf("(N, %v) rows of the variable %v, with indices (N,) (got %v)", v[1:], v, idx)}
	}
	return graph.Value{}, nil
}

// rows iterates over the sparse rows: fn(row of the variable, index into values).
func rowWidth(v *tensor.Tensor) int {
	s := v.Shape()
	if len(s) == 0 || s[0] == 0 {
		return 0
	}
	return v.Size() / s[0]
}

type sgdOp struct{}

func (sgdOp) Type() string                                { return "SGDUpdate" }
func (sgdOp) Updates()                                    {}
func (sgdOp) Infer(in []graph.Value) (graph.Value, error) { return updateInfer("SGDUpdate", in) }
func (sgdOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, _ *tensor.Tensor) (graph.Kernel, error) {
	v, gr, lr := in[0].Float32s(), in[1].Float32s(), in[2].Float32s()
	body := func(lo, hi int) {
		r := -lr[0]
		vv, gg := v[lo:hi], gr[lo:hi]
		for i := range vv {
			vv[i] += r * gg[i]
		}
	}
	return graph.KernelFunc(func() { c.Pool.For(len(v), 1<<14, body) }), nil
}

type sgdSparseOp struct{}

func (sgdSparseOp) Type() string { return "SGDSparseUpdate" }
func (sgdSparseOp) Updates()     {}
func (sgdSparseOp) Infer(in []graph.Value) (graph.Value, error) {
	return sparseInfer("SGDSparseUpdate", in)
}
func (sgdSparseOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, _ *tensor.Tensor) (graph.Kernel, error) {
	v, idx, val, lr := in[0].Float32s(), in[1].Int32s(), in[2].Float32s(), in[3].Float32s()
	w := rowWidth(in[0])
	rows := in[0].Shape()[0]
	return graph.KernelFunc(func() {
		r := -lr[0]
		for i, row := range idx {
			if row < 0 || int(row) >= rows {
				continue // Gather rejected it in the forward pass
			}
			vmath.Axpy(v[int(row)*w:int(row)*w+w], val[i*w:i*w+w], r)
		}
	}), nil
}
