// Package gorgonia connects the engine to Gorgonia (gorgonia.org/gorgonia), the
// other Go deep-learning library: tensors convert both ways, and a Gorgonia
// expression becomes a node of our graph whose forward and backward passes run
// on Gorgonia's virtual machine.
//
// It is a module of its own so that the engine does not depend on Gorgonia.
//
// # Tensors
//
// ToDense views one of our tensors as a Gorgonia *tensor.Dense sharing its
// memory; FromDense copies a Gorgonia tensor into one of ours.
//
// # Gorgonia expressions as nodes
//
// Op(g, name, f, inputs...) adds a node computing f, a function that builds a
// Gorgonia expression from Gorgonia nodes standing for the inputs. The
// expression is built once per set of input shapes when a plan is compiled; at
// run time the inputs are bound (without copying) to Gorgonia nodes and
// Gorgonia's tape machine runs it. The node's gradient is another node, which runs
// Gorgonia's symbolic gradient of Σ f(inputs)⊙dy. Inputs are float32.
//
// Gorgonia's machine allocates as it runs, so plans holding such a node are not
// allocation-free, unlike the rest of the engine.
package gorgonia

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// ToDense returns a Gorgonia tensor sharing t's memory (float32 or int32). A
// scalar of shape () becomes a Gorgonia scalar tensor.
func ToDense(t *tensor.Tensor) *gt.Dense {
	shape := []int(t.Shape())
	opts := []gt.ConsOpt{}
	if len(shape) == 0 {
		opts = append(opts, gt.WithShape())
	} else {
		opts = append(opts, gt.WithShape(shape...))
	}
	switch t.DType() {
	case tensor.Int32:
		return gt.New(append(opts, gt.WithBacking(t.Int32s()))...)
	default:
		return gt.New(append(opts, gt.WithBacking(t.Float32s()))...)
	}
}

// FromDense copies a Gorgonia tensor into a new tensor of ours: float32 and int32
// keep their type, float64 and int become float32 and int32.
func FromDense(d gt.Tensor) (*tensor.Tensor, error) {
	shape := []int(d.Shape())
	if d.Shape().IsScalar() {
		shape = nil
	}
	switch data := d.Data().(type) {
	case []float32:
		return tensor.FromFloat32(append([]float32(nil), data...), shape...)
	case float32:
		return tensor.Scalar(data), nil
	case []float64:
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensor.FromFloat32(f, shape...)
	case float64:
		return tensor.Scalar(float32(data)), nil
	case []int32:
		return tensor.FromInt32(append([]int32(nil), data...), shape...)
	case []int:
		v := make([]int32, len(data))
		for i, x := range data {
			v[i] = int32(x)
		}
		return tensor.FromInt32(v, shape...)
	}
	return nil, fmt.Errorf("gorgonia: FromDense: unsupported data %T (dtype %v)", d.Data(), d.Dtype())
}

// Func builds a Gorgonia expression of the inputs, Gorgonia nodes of the shapes
// of Op's inputs, in g.
type Func func(g *G.ExprGraph, inputs []*G.Node) (*G.Node, error)

// Op adds to g a node computing the Gorgonia expression f of inputs (float32).
// name names the op in errors and in the node's type. The output shape comes from
// building the expression for the input shapes; a dimension unknown while
// building (a batch of -1) stays unknown in the output when it changes with it.
func Op(g *graph.Graph, name string, f Func, inputs ...*graph.Node) *graph.Node {
	return g.Apply(&exprOp{name: name, f: f}, inputs...)
}

type exprOp struct {
	name string
	f    Func
}

func (o *exprOp) Type() string { return "Gorgonia(" + o.name + ")" }

// built is an expression built for concrete shapes.
type built struct {
	g   *G.ExprGraph
	ins []*G.Node
	out *G.Node
}

func (o *exprOp) build(shapes []tensor.Shape) (b built, err error) {
	defer func() {
		// Gorgonia panics on some bad shapes rather than returning an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: Gorgonia panicked: %v", o.Type(), r)
		}
	}()
	b.g = G.NewGraph()
	for i, s := range shapes {
		var n *G.Node
		if len(s) == 0 {
			n = G.NewScalar(b.g, gt.Float32, G.WithName(fmt.Sprintf("in%d", i)))
		} else {
			n = G.NewTensor(b.g, gt.Float32, len(s), G.WithShape([]int(s)...), G.WithName(fmt.Sprintf("in%d", i)))
		}
		b.ins = append(b.ins, n)
	}
	b.out, err = o.f(b.g, b.ins)
	if err != nil {
		return b, fmt.Errorf("%s: building the expression for %v: %w", o.Type(), shapes, err)
	}
	if b.out == nil {
		return b, fmt.Errorf("%s: the expression is nil", o.Type())
	}
	if b.out.Dtype() != gt.Float32 {
		return b, fmt.Errorf("%s: the expression is %v, want float32", o.Type(), b.out.Dtype())
	}
	return b, nil
}

func outShape(n *G.Node) tensor.Shape {
	s := n.Shape()
	if s.IsScalar() {
		return tensor.Shape{}
	}
	return tensor.Shape(append([]int(nil), s...))
}

func (o *exprOp) Infer(in []graph.Value) (graph.Value, error) {
	known := true
	for i, v := range in {
		if v.DType != tensor.Float32 {
			return graph.Value{}, &tensor.ShapeError{Op: o.Type(), Arg: fmt.Sprint(i), Got: v.Shape, Want: fmt.Sprintf("float32, got %v", v.DType)}
		}
		known = known && v.Shape.Known()
	}
	with := func(fill int) ([]tensor.Shape, tensor.Shape, error) {
		shapes := make([]tensor.Shape, len(in))
		for i, v := range in {
			shapes[i] = v.Shape.Clone()
			for j, d := range shapes[i] {
				if d < 0 {
					shapes[i][j] = fill
				}
			}
		}
		b, err := o.build(shapes)
		if err != nil {
			return nil, nil, err
		}
		return shapes, outShape(b.out), nil
	}
	_, s2, err := with(2)
	if err != nil {
		return graph.Value{}, err
	}
	if !known {
		// Output dimensions that follow the unknown ones are unknown.
		_, s3, err := with(3)
		if err != nil {
			return graph.Value{}, err
		}
		if len(s3) != len(s2) {
			return graph.Value{}, fmt.Errorf("%s: the output rank depends on unknown input dimensions", o.Type())
		}
		for i := range s2 {
			if s2[i] != s3[i] {
				s2[i] = -1
			}
		}
	}
	return graph.Value{Shape: s2, DType: tensor.Float32}, nil
}

func shapesOf(ts []*tensor.Tensor) []tensor.Shape {
	s := make([]tensor.Shape, len(ts))
	for i, t := range ts {
		s[i] = t.Shape()
	}
	return s
}

// bind makes each Gorgonia input read the memory of our tensor (no copy).
func bind(b built, in []*tensor.Tensor) error {
	for i, t := range in {
		var v G.Value
		if len(t.Shape()) == 0 {
			v = G.NewF32(0) // scalars are values, copied at each run (see refresh)
		} else {
			v = ToDense(t)
		}
		if err := G.Let(b.ins[i], v); err != nil {
			return fmt.Errorf("binding input %d: %w", i, err)
		}
	}
	return nil
}

// refresh rebinds scalar inputs, which Gorgonia holds by value.
func refresh(b built, in []*tensor.Tensor) error {
	for i, t := range in {
		if len(t.Shape()) == 0 {
			if err := G.Let(b.ins[i], G.NewF32(t.Float32s()[0])); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyValue copies a Gorgonia value into d.
func copyValue(d []float32, v G.Value) error {
	switch data := v.Data().(type) {
	case []float32:
		if len(data) != len(d) {
			return fmt.Errorf("value of %d elements for %d", len(data), len(d))
		}
		copy(d, data)
	case float32:
		d[0] = data
	default:
		return fmt.Errorf("value of type %T, want float32", v.Data())
	}
	return nil
}

func (o *exprOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	b, err := o.build(shapesOf(in))
	if err != nil {
		return nil, err
	}
	if !outShape(b.out).Equal(out.Shape()) {
		return nil, &tensor.ShapeError{Op: o.Type(), Arg: "output", Got: outShape(b.out), Want: fmt.Sprintf("%v", out.Shape())}
	}
	if err := bind(b, in); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Type(), err)
	}
	vm := G.NewTapeMachine(b.g)
	d := out.Float32s()
	return graph.KernelFunc(func() {
		defer vm.Reset()
		if err := refresh(b, in); err != nil {
			c.Fail(fmt.Errorf("%s: %w", o.Type(), err))
			return
		}
		if err := vm.RunAll(); err != nil {
			c.Fail(fmt.Errorf("%s: Gorgonia: %w", o.Type(), err))
			return
		}
		if err := copyValue(d, b.out.Value()); err != nil {
			c.Fail(fmt.Errorf("%s: output: %w", o.Type(), err))
		}
	}), nil
}

func (o *exprOp) Grad(n, dy *graph.Node) []*graph.Node {
	ins := n.Inputs()
	pk := n.Graph().Apply(&exprGradOp{fwd: o}, append([]*graph.Node{dy}, ins...)...)
	return graph.Unpack(pk, ins...)
}

// exprGradOp: inputs dy and the expression's inputs; output packs the gradient
// with respect to each input, one after the other.
type exprGradOp struct{ fwd *exprOp }

func (o *exprGradOp) Type() string { return o.fwd.Type() + "Grad" }
func (o *exprGradOp) Infer(in []graph.Value) (graph.Value, error) {
	n := 0
	for _, v := range in[1:] {
		if !v.Shape.Known() {
			return graph.Value{Shape: tensor.Shape{-1}, DType: tensor.Float32}, nil
		}
		n += v.Shape.Size()
	}
	return graph.Value{Shape: tensor.Shape{n}, DType: tensor.Float32}, nil
}

func (o *exprGradOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	xs := in[1:]
	b, err := o.fwd.build(shapesOf(xs))
	if err != nil {
		return nil, err
	}
	var dyN, cost *G.Node
	var grads G.Nodes
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("Gorgonia panicked: %v", r)
			}
		}()
		if len(in[0].Shape()) == 0 {
			dyN = G.NewScalar(b.g, gt.Float32, G.WithName("dy"))
		} else {
			dyN = G.NewTensor(b.g, gt.Float32, len(in[0].Shape()), G.WithShape([]int(in[0].Shape())...), G.WithName("dy"))
		}
		prod, err := G.HadamardProd(b.out, dyN)
		if err != nil {
			return err
		}
		if cost = prod; !prod.IsScalar() {
			if cost, err = G.Sum(prod); err != nil {
				return err
			}
		}
		grads, err = G.Grad(cost, b.ins...)
		return err
	}()
	if err != nil {
		return nil, fmt.Errorf("%s: building the gradient: %w", o.Type(), err)
	}
	all := built{g: b.g, ins: append(append([]*G.Node(nil), b.ins...), dyN)}
	ordered := append(append([]*tensor.Tensor(nil), xs...), in[0])
	if err := bind(all, ordered); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Type(), err)
	}
	vm := G.NewTapeMachine(b.g)
	d := out.Float32s()
	parts := make([][]float32, len(xs))
	off := 0
	for i, x := range xs {
		parts[i] = d[off : off+x.Size()]
		off += x.Size()
	}
	return graph.KernelFunc(func() {
		defer vm.Reset()
		if err := refresh(all, ordered); err != nil {
			c.Fail(fmt.Errorf("%s: %w", o.Type(), err))
			return
		}
		if err := vm.RunAll(); err != nil {
			c.Fail(fmt.Errorf("%s: Gorgonia: %w", o.Type(), err))
			return
		}
		for i, gn := range grads {
			if err := copyValue(parts[i], gn.Value()); err != nil {
				c.Fail(fmt.Errorf("%s: gradient %d: %w", o.Type(), i, err))
				return
			}
		}
	}), nil
}
