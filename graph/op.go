package graph

import (
	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/tensor"
)

// Op is an operation: it infers the Value it produces and compiles a Kernel for
// concrete input tensors. Implement it (and Differentiable) to add an op of your
// own; see Apply.
type Op interface {
	// Type names the kind of op, e.g. "MatMul".
	Type() string
	// Infer returns the output Value for input Values. Dimensions may be -1
	// (unknown) while a graph is built; at compile time they are all known.
	// Errors should say which argument is wrong and what was expected
	// (tensor.ShapeError does).
	Infer(in []Value) (Value, error)
	// Compile binds the op to its input and output tensors, which keep the same
	// storage for the life of the plan, and returns the kernel that computes out.
	// All allocation belongs here: Kernel.Run must not allocate.
	Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error)
}

// Differentiable is an Op with a gradient. Grad returns, for each input, the
// gradient of the loss with respect to that input given dy, the gradient with
// respect to n's output, built as new nodes of the graph; nil means no gradient
// flows to that input (indices, for example).
type Differentiable interface {
	Grad(n, dy *Node) []*Node
}

// Kernel computes one node's output from its inputs, with the tensors bound at
// compile time.
type Kernel interface {
	Run()
}

// KernelFunc adapts a function to the Kernel interface.
type KernelFunc func()

// Run calls f.
func (f KernelFunc) Run() { f() }

// KernelCtx is what an op's Compile may use.
type KernelCtx struct {
	// Pool runs loops over the cores without allocating.
	Pool *par.Pool
	// Training is true in plans compiled for training (dropout drops, batch norm
	// uses batch statistics).
	Training bool
	// Seed is a per-node seed for random ops, stable across compiles.
	Seed uint64
	// Step is Options.Step: when set, a counter-based random op reads its
	// run's number there instead of counting its own runs.
	Step *uint64
	// Node is the node being compiled.
	Node *Node

	scratch []*Scratch
	errp    *error
}

// Fail reports bad input met while running (an index out of range, say). The plan
// stops after the current kernel and Run returns the error. Kernels call it only on
// the error path: it may allocate.
func (c *KernelCtx) Fail(err error) {
	if *c.errp == nil {
		*c.errp = err
	}
}

// Scratch is temporary float32 memory a kernel uses during Run. Every kernel of a
// plan shares one arena (they run one after another), so scratch costs the largest
// request, not the sum. Its contents do not survive from one Run to the next.
type Scratch struct {
	n   int
	F32 []float32 // set when the plan is built; len == the requested size
}

// Scratch requests n float32s of scratch memory, available in s.F32 at run time.
func (c *KernelCtx) Scratch(n int) *Scratch {
	s := &Scratch{n: n}
	c.scratch = append(c.scratch, s)
	return s
}

// InPlacer is an Op whose output may overwrite input In() when nothing else needs
// that input afterwards (elementwise ops). The planner decides; the kernel must be
// correct both ways.
type InPlacer interface {
	InPlace() int
}

// Aliaser is an Op whose output is a view of one input's storage (reshape, index).
// No kernel runs for it.
type Aliaser interface {
	// Alias returns the input viewed and the element offset of the view, given the
	// concrete input and output Values.
	Alias(in []Value, out Value) (input, offset int)
}

// ShapeOnlyInputs is an Op that reads only the shape, never the data, of some
// inputs, so the planner may reuse their memory before the op runs.
type ShapeOnlyInputs interface {
	ShapeOnly(i int) bool
}

// Updater is an Op with side effects on variables (optimizer updates, moving
// averages). Plans run updaters after every other node, so that every read of a
// variable in a step sees the value from before the step.
type Updater interface {
	Updates()
}

type placeholderOp struct{}

func (placeholderOp) Type() string                 { return "Placeholder" }
func (placeholderOp) Infer([]Value) (Value, error) { panic("graph: Placeholder is a leaf") }
func (placeholderOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	panic("graph: Placeholder is a leaf")
}

type variableOp struct{ trainable bool }

func (*variableOp) Type() string                 { return "Variable" }
func (*variableOp) Infer([]Value) (Value, error) { panic("graph: Variable is a leaf") }
func (*variableOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	panic("graph: Variable is a leaf")
}

type constOp struct{}

func (constOp) Type() string                 { return "Const" }
func (constOp) Infer([]Value) (Value, error) { panic("graph: Const is a leaf") }
func (constOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	panic("graph: Const is a leaf")
}

func isLeaf(op Op) bool {
	switch op.(type) {
	case placeholderOp, *variableOp, constOp:
		return true
	}
	return false
}
