package graph

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/tlgo/tl/tensor"
)

// Value is what a node produces: a shape (dimensions may be -1 until a plan fixes
// them) and an element type. A Value with DType 0 is "nothing": update ops produce
// no tensor.
type Value struct {
	Shape tensor.Shape
	DType tensor.DType
}

func (v Value) String() string {
	if v.DType == 0 {
		return "none"
	}
	return fmt.Sprintf("%v%v", v.DType, v.Shape)
}

// F32 is a float32 Value of the given shape.
func F32(shape ...int) Value { return Value{Shape: tensor.Shape(shape).Clone(), DType: tensor.Float32} }

// I32 is an int32 Value of the given shape.
func I32(shape ...int) Value { return Value{Shape: tensor.Shape(shape).Clone(), DType: tensor.Int32} }

// Graph is a static graph of operations. Build it with the functions of this
// package (MatMul, Add, Conv2D, ...), differentiate it with Gradients, and run it
// through a Plan or an Executor. A Graph is not safe for concurrent building; plans
// compiled from it may run concurrently only if they share no variables being
// updated.
type Graph struct {
	nodes []*Node
	vars  map[string]*Node
	seed  uint64
	err   error
}

// New returns an empty graph whose random initialisation and random ops derive from
// seed.
func New(seed uint64) *Graph {
	return &Graph{vars: map[string]*Node{}, seed: seed}
}

// Err returns the first error met while building the graph. Building goes on after
// an error (nodes built on a failed node fail too), so check Err once, or let
// Compile and Gradients return it.
func (g *Graph) Err() error { return g.err }

// Nodes returns every node in creation order, which is a topological order.
func (g *Graph) Nodes() []*Node { return g.nodes }

// Variables returns the trainable and non-trainable variables in creation order.
func (g *Graph) Variables() []*Node {
	var vs []*Node
	for _, n := range g.nodes {
		if _, ok := n.op.(*variableOp); ok {
			vs = append(vs, n)
		}
	}
	return vs
}

// Variable returns the variable called name, creating it with shape and init when
// it does not exist yet. Asking again for the same name returns the same variable
// (parameter sharing); asking with another shape is an error.
func (g *Graph) Variable(name string, init tensor.Initializer, shape ...int) *Node {
	return g.variable(name, init, true, shape)
}

// State is a variable that optimizers leave alone (moving averages, optimizer
// slots).
func (g *Graph) State(name string, init tensor.Initializer, shape ...int) *Node {
	return g.variable(name, init, false, shape)
}

func (g *Graph) variable(name string, init tensor.Initializer, trainable bool, shape []int) *Node {
	s := tensor.Shape(shape).Clone()
	if v, ok := g.vars[name]; ok {
		if !v.value.Shape.Equal(s) {
			return g.fail(fmt.Errorf("graph: variable %q exists with shape %v, asked again with shape %v", name, v.value.Shape, s))
		}
		return v
	}
	if name == "" || !s.Known() {
		return g.fail(fmt.Errorf("graph: variable %q: a variable needs a name and a fully known shape, got %v", name, s))
	}
	t := tensor.New(tensor.Float32, s...)
	if init != nil {
		h := fnv.New64a()
		h.Write([]byte(name))
		init.Init(t, tensor.NewRand(g.seed^h.Sum64()))
	}
	n := g.add(&variableOp{trainable: trainable}, nil, name)
	n.data = t
	n.value = Value{Shape: s, DType: tensor.Float32}
	g.vars[name] = n
	return n
}

// VariableByName returns an existing variable, or nil.
func (g *Graph) VariableByName(name string) *Node { return g.vars[name] }

// Placeholder is an input fed at run time. Dimensions may be -1 (typically the
// batch): each distinct fed shape compiles its own plan.
func (g *Graph) Placeholder(name string, dt tensor.DType, shape ...int) *Node {
	n := g.add(placeholderOp{}, nil, name)
	n.value = Value{Shape: tensor.Shape(shape).Clone(), DType: dt}
	return n
}

// Const is a constant tensor (not copied: do not change it after building).
func (g *Graph) Const(t *tensor.Tensor) *Node {
	n := g.add(constOp{}, nil, "")
	n.data = t
	n.value = Value{Shape: t.Shape().Clone(), DType: t.DType()}
	return n
}

// Scalar is a float32 constant of shape ().
func (g *Graph) Scalar(v float32) *Node { return g.Const(tensor.Scalar(v)) }

func (g *Graph) fail(err error) *Node {
	if g.err == nil {
		g.err = err
	}
	n := &Node{g: g, id: -1, err: err}
	return n
}

// add appends a node without shape inference (leaves and internal use).
func (g *Graph) add(op Op, inputs []*Node, name string) *Node {
	n := &Node{g: g, id: len(g.nodes), op: op, inputs: inputs, name: name}
	if name == "" {
		n.name = fmt.Sprintf("%s_%d", op.Type(), n.id)
	}
	g.nodes = append(g.nodes, n)
	return n
}

// Apply adds a node of op over inputs, inferring its Value. It is the extension
// point for custom ops: implement Op (and Differentiable for a gradient) and call
// Apply. Errors are recorded in the graph (see Err) and the returned node is a
// failed node.
func (g *Graph) Apply(op Op, inputs ...*Node) *Node {
	vals := make([]Value, len(inputs))
	for i, in := range inputs {
		if in == nil {
			return g.fail(fmt.Errorf("graph: %s: input %d is nil", op.Type(), i))
		}
		if in.err != nil {
			return &Node{g: g, id: -1, err: in.err}
		}
		if in.g != g {
			return g.fail(fmt.Errorf("graph: %s: input %d (%s) belongs to another graph", op.Type(), i, in.name))
		}
		vals[i] = in.value
	}
	v, err := op.Infer(vals)
	if err != nil {
		return g.fail(fmt.Errorf("graph: %s(%s): %w", op.Type(), describe(inputs), err))
	}
	n := g.add(op, append([]*Node(nil), inputs...), "")
	n.value = v
	return n
}

func describe(ins []*Node) string {
	parts := make([]string, len(ins))
	for i, in := range ins {
		parts[i] = fmt.Sprintf("%s %v", in.name, in.value)
	}
	return strings.Join(parts, ", ")
}

// Node is one operation in a graph and the value it produces.
type Node struct {
	g      *Graph
	id     int
	op     Op
	inputs []*Node
	value  Value
	name   string
	data   *tensor.Tensor // variables and constants
	err    error
}

// Graph returns the graph the node belongs to.
func (n *Node) Graph() *Graph { return n.g }

// ID is the node's position in its graph.
func (n *Node) ID() int { return n.id }

// Op returns the node's operation.
func (n *Node) Op() Op { return n.op }

// Inputs returns the node's inputs. Do not modify the slice.
func (n *Node) Inputs() []*Node { return n.inputs }

// Name is the node's unique name (a variable's name, or Type_ID).
func (n *Node) Name() string { return n.name }

// Value is the node's shape and dtype (dimensions may be -1).
func (n *Node) Value() Value { return n.value }

// Shape is the node's shape (dimensions may be -1).
func (n *Node) Shape() tensor.Shape { return n.value.Shape }

// Err is the error that made this node fail, or nil.
func (n *Node) Err() error { return n.err }

// Tensor returns the storage of a variable or a constant; nil for other nodes (use
// Plan.Tensor for those).
func (n *Node) Tensor() *tensor.Tensor { return n.data }

// IsVariable reports whether the node is a variable; trainable tells whether
// optimizers update it.
func (n *Node) IsVariable() (isVar, trainable bool) {
	v, ok := n.op.(*variableOp)
	if !ok {
		return false, false
	}
	return true, v.trainable
}

func (n *Node) String() string { return fmt.Sprintf("%s:%v", n.name, n.value) }

// Trainable returns the trainable variables of g.
func (g *Graph) Trainable() []*Node {
	var vs []*Node
	for _, v := range g.Variables() {
		if _, tr := v.IsVariable(); tr {
			vs = append(vs, v)
		}
	}
	return vs
}

// ErrNoGradient is returned by Gradients when an op on the path has no gradient.
var ErrNoGradient = errors.New("op has no gradient")
