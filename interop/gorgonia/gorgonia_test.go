package gorgonia_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	tg "github.com/tlgo/tl/interop/gorgonia"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

func TestDenseConversions(t *testing.T) {
	ours := gradcheck.Rand(1, -1, 1, 2, 3)
	d := tg.ToDense(ours)
	if got := fmt.Sprint(d.Shape()); got != "(2, 3)" {
		t.Fatalf("shape %s, want (2, 3)", got)
	}
	ours.Float32s()[4] = 42
	if v, _ := d.At(1, 1); v.(float32) != 42 {
		t.Fatalf("ToDense does not share memory: At(1, 1) = %v", v)
	}
	back, err := tg.FromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Shape().Equal(ours.Shape()) || back.Float32s()[4] != 42 {
		t.Fatalf("round trip: %v", back)
	}
	back.Float32s()[0] = -7
	if ours.Float32s()[0] == -7 {
		t.Fatal("FromDense shares memory, want a copy")
	}
	f64 := gt.New(gt.WithShape(2), gt.WithBacking([]float64{1.5, -2}))
	if b, err := tg.FromDense(f64); err != nil || b.DType() != tensor.Float32 || b.Float32s()[1] != -2 {
		t.Fatalf("float64 → %v, %v", b, err)
	}
	ids, _ := tensor.FromInt32([]int32{3, 1, 2}, 3)
	if b, err := tg.FromDense(tg.ToDense(ids)); err != nil || b.Int32s()[0] != 3 || b.DType() != tensor.Int32 {
		t.Fatalf("int32 round trip: %v, %v", b, err)
	}
	if _, err := tg.FromDense(gt.New(gt.WithShape(2), gt.WithBacking([]bool{true, false}))); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Fatalf("bool tensor: got %v", err)
	}
}

// gorgoniaGrads computes, with Gorgonia, the gradient of the scalar built by f
// with respect to each input.
func gorgoniaGrads(t *testing.T, ins []*tensor.Tensor, f func(g *G.ExprGraph, in []*G.Node) (*G.Node, error)) []*tensor.Tensor {
	t.Helper()
	g := G.NewGraph()
	nodes := make([]*G.Node, len(ins))
	for i, x := range ins {
		nodes[i] = G.NewTensor(g, gt.Float32, len(x.Shape()), G.WithShape(x.Shape()...), G.WithValue(tg.ToDense(x.Clone())), G.WithName(fmt.Sprint("x", i)))
	}
	cost, err := f(g, nodes)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(cost, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := make([]*tensor.Tensor, len(grads))
	for i, gr := range grads {
		if out[i], err = tg.FromDense(gr.Value().(gt.Tensor)); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// ourGrads computes the same gradients with our engine.
func ourGrads(t *testing.T, ins []*tensor.Tensor, consts []*tensor.Tensor, f func(g *graph.Graph, in, c []*graph.Node) *graph.Node) []*tensor.Tensor {
	t.Helper()
	g := graph.New(1)
	nodes := make([]*graph.Node, len(ins))
	for i, x := range ins {
		nodes[i] = g.Variable(fmt.Sprint("x", i), nil, x.Shape()...)
		if err := nodes[i].Tensor().CopyFrom(x); err != nil {
			t.Fatal(err)
		}
	}
	cs := make([]*graph.Node, len(consts))
	for i, c := range consts {
		cs[i] = g.Const(c)
	}
	grads, err := graph.Gradients(f(g, nodes, cs), nodes...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Compile(graph.Options{}, nil, grads...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	out := make([]*tensor.Tensor, len(grads))
	for i, o := range p.Outputs() {
		out[i] = o.Clone()
	}
	return out
}

func closeTo(t *testing.T, what string, got, want *tensor.Tensor) {
	t.Helper()
	if !got.Shape().Equal(want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	for i, v := range got.Float32s() {
		w := want.Float32s()[i]
		if math.Abs(float64(v-w)) > 1e-5+1e-4*math.Abs(float64(w)) {
			t.Fatalf("%s: element %d = %v, Gorgonia says %v", what, i, v, w)
		}
	}
}

func TestGradientsAgreeWithGorgonia(t *testing.T) {
	x, w := gradcheck.Rand(1, -1, 1, 5, 3), gradcheck.Rand(2, -1, 1, 3, 4)
	c := gradcheck.Rand(3, -1, 1, 5, 4)
	c2 := gradcheck.Rand(4, -1, 1, 5, 3)
	t.Run("matmul", func(t *testing.T) {
		want := gorgoniaGrads(t, []*tensor.Tensor{x, w}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
			cn := G.NewTensor(g, gt.Float32, 2, G.WithShape(5, 4), G.WithValue(tg.ToDense(c)))
			return G.Sum(G.Must(G.HadamardProd(G.Must(G.Mul(in[0], in[1])), cn)))
		})
		got := ourGrads(t, []*tensor.Tensor{x, w}, []*tensor.Tensor{c}, func(g *graph.Graph, in, cs []*graph.Node) *graph.Node {
			return graph.ReduceSum(graph.Mul(graph.MatMul(in[0], in[1]), cs[0]))
		})
		closeTo(t, "dx", got[0], want[0])
		closeTo(t, "dw", got[1], want[1])
	})
	t.Run("tanh-sigmoid", func(t *testing.T) {
		want := gorgoniaGrads(t, []*tensor.Tensor{x, w}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
			cn := G.NewTensor(g, gt.Float32, 2, G.WithShape(5, 4), G.WithValue(tg.ToDense(c)))
			c2n := G.NewTensor(g, gt.Float32, 2, G.WithShape(5, 3), G.WithValue(tg.ToDense(c2)))
			a := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Tanh(G.Must(G.Mul(in[0], in[1])))), cn))))
			b := G.Must(G.Sum(G.Must(G.HadamardProd(G.Must(G.Sigmoid(in[0])), c2n))))
			return G.Add(a, b)
		})
		got := ourGrads(t, []*tensor.Tensor{x, w}, []*tensor.Tensor{c, c2}, func(g *graph.Graph, in, cs []*graph.Node) *graph.Node {
			a := graph.ReduceSum(graph.Mul(graph.Tanh(graph.MatMul(in[0], in[1])), cs[0]))
			return graph.Add(a, graph.ReduceSum(graph.Mul(graph.Sigmoid(in[0]), cs[1])))
		})
		closeTo(t, "dx", got[0], want[0])
		closeTo(t, "dw", got[1], want[1])
	})
	t.Run("softmax-xent", func(t *testing.T) {
		labels := []int32{3, 0, 2, 2, 1}
		onehot := tensor.New(tensor.Float32, 5, 4)
		for r, l := range labels {
			onehot.Float32s()[r*4+int(l)] = 1
		}
		lt, _ := tensor.FromInt32(labels, 5)
		want := gorgoniaGrads(t, []*tensor.Tensor{x, w}, func(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
			oh := G.NewTensor(g, gt.Float32, 2, G.WithShape(5, 4), G.WithValue(tg.ToDense(onehot)))
			logp := G.Must(G.Log(G.Must(G.SoftMax(G.Must(G.Mul(in[0], in[1]))))))
			return G.Neg(G.Must(G.Mean(G.Must(G.Sum(G.Must(G.HadamardProd(logp, oh)), 1)))))
		})
		got := ourGrads(t, []*tensor.Tensor{x, w}, []*tensor.Tensor{lt}, func(g *graph.Graph, in, cs []*graph.Node) *graph.Node {
			return graph.SparseSoftmaxCrossEntropy(graph.MatMul(in[0], in[1]), cs[0])
		})
		closeTo(t, "dx", got[0], want[0])
		closeTo(t, "dw", got[1], want[1])
	})
}

func tanhLayer(g *G.ExprGraph, in []*G.Node) (*G.Node, error) {
	xw, err := G.Mul(in[0], in[1])
	if err != nil {
		return nil, err
	}
	return G.Tanh(xw)
}

func TestOpForwardMatchesEngine(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	w := g.Variable("w", tensor.GlorotUniform(), 3, 4)
	y := tg.Op(g, "tanh-layer", tanhLayer, x, w)
	if !y.Shape().Equal(tensor.Shape{-1, 4}) {
		t.Fatalf("output shape %v, want (?, 4)", y.Shape())
	}
	ref := graph.Tanh(graph.MatMul(x, w))
	e, err := g.NewExecutor(graph.Options{}, y, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, bs := range []int{1, 6} {
		out, err := e.Run(graph.Feed{Node: x, Value: gradcheck.Rand(uint64(bs), -1, 1, bs, 3)})
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprint("batch ", bs), out[0], out[1])
	}
}

func TestOpGradient(t *testing.T) {
	err := gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, 4, 3), gradcheck.Rand(2, -1, 1, 3, 5)},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return tg.Op(g, "tanh-layer", tanhLayer, in[0], in[1])
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A scalar output, and a scalar input.
	err = gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, 2, 3), tensor.Scalar(0.7)},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return tg.Op(g, "scaled-sum", func(eg *G.ExprGraph, n []*G.Node) (*G.Node, error) {
				return G.Sum(G.Must(G.Mul(G.Must(G.Square(n[0])), n[1])))
			}, in[0], in[1])
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A Gorgonia layer inside a model trained by our optimizer.
func TestOpTrains(t *testing.T) {
	g := graph.New(3)
	x := g.Placeholder("x", tensor.Float32, -1, 4)
	y := g.Placeholder("y", tensor.Int32, -1)
	w1 := g.Variable("w1", tensor.GlorotUniform(), 4, 8)
	w2 := g.Variable("w2", tensor.GlorotUniform(), 8, 2)
	h := tg.Op(g, "hidden", tanhLayer, x, w1)
	loss := graph.SparseSoftmaxCrossEntropy(graph.MatMul(h, w2), y)
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss)
	if err != nil {
		t.Fatal(err)
	}
	e, err := g.NewExecutor(graph.Options{}, loss, step)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	xt := gradcheck.Rand(5, -1, 1, 32, 4)
	yt := tensor.New(tensor.Int32, 32)
	for i := range yt.Int32s() {
		if xt.Float32s()[i*4]+xt.Float32s()[i*4+1] > 0 {
			yt.Int32s()[i] = 1
		}
	}
	var first, last float64
	for i := 0; i < 100; i++ {
		out, err := e.Run(graph.Feed{Node: x, Value: xt}, graph.Feed{Node: y, Value: yt})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out[0].At()
		}
		last = out[0].At()
	}
	if !(last < first/2) {
		t.Fatalf("loss %v -> %v: the Gorgonia layer does not train", first, last)
	}
}

func TestOpErrors(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	w := g.Variable("w", nil, 4, 4)
	if n := tg.Op(g, "bad", tanhLayer, x, w); n.Err() == nil || !strings.Contains(n.Err().Error(), "Gorgonia(bad)") {
		t.Fatalf("(?, 3)·(4, 4): got %v", n.Err())
	}
}

func ExampleOp() {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 2)
	w := g.Variable("w", tensor.Ones(), 2, 1)
	// tanh(x·w), computed by Gorgonia inside our graph.
	y := tg.Op(g, "tanh-layer", func(eg *G.ExprGraph, in []*G.Node) (*G.Node, error) {
		return G.Tanh(G.Must(G.Mul(in[0], in[1])))
	}, x, w)
	e, _ := g.NewExecutor(graph.Options{}, y)
	defer e.Close()
	xt, _ := tensor.FromFloat32([]float32{0.25, 0.25, 0, 0}, 2, 2)
	out, _ := e.Run(graph.Feed{Node: x, Value: xt})
	fmt.Printf("%.4f %.4f\n", out[0].Float32s()[0], out[0].Float32s()[1])
	// Output: 0.4621 0.0000
}
