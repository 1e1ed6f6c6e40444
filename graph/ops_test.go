package graph_test

import (
	"fmt"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

type gcase struct {
	name   string
	inputs []*tensor.Tensor
	build  func(g *graph.Graph, in []*graph.Node) *graph.Node
}

func runCases(t *testing.T, cases []gcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := gradcheck.Check(gradcheck.Case{Inputs: c.inputs, Build: c.build, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func r(seed uint64, shape ...int) *tensor.Tensor { return gradcheck.Rand(seed, -1, 1, shape...) }

func TestElementwiseGradients(t *testing.T) {
	bin := map[string]func(a, b *graph.Node) *graph.Node{
		"add": graph.Add, "sub": graph.Sub, "mul": graph.Mul, "max": graph.Maximum,
	}
	var cases []gcase
	shapes := [][2][]int{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{1, 5}, {4, 1}}, {{1}, {2, 3}}}
	for name, f := range bin {
		for _, s := range shapes {
			f := f
			cases = append(cases, gcase{fmt.Sprintf("%s%v%v", name, s[0], s[1]),
				[]*tensor.Tensor{r(1, s[0]...), r(2, s[1]...)},
				func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0], in[1]) }})
		}
	}
	cases = append(cases, gcase{"div", []*tensor.Tensor{r(1, 3, 4), gradcheck.Rand(2, 0.5, 2, 4)},
		func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Div(in[0], in[1]) }})
	un := map[string]func(x *graph.Node) *graph.Node{
		"neg": graph.Neg, "relu": graph.Relu, "elu": graph.Elu, "sigmoid": graph.Sigmoid, "tanh": graph.Tanh,
		"softplus": graph.Softplus, "exp": graph.Exp, "square": graph.Square, "abs": graph.Abs,
		"leaky": func(x *graph.Node) *graph.Node { return graph.LeakyRelu(x, 0.2) },
		"scale": func(x *graph.Node) *graph.Node { return graph.Scale(x, -3) },
	}
	for name, f := range un {
		f := f
		cases = append(cases, gcase{name, []*tensor.Tensor{gradcheck.AwayFrom(5, -2, 2, 0.05, []float64{0}, 5, 7)},
			func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0]) }})
	}
	pos := gradcheck.Rand(6, 0.5, 2, 4, 3)
	cases = append(cases,
		gcase{"log", []*tensor.Tensor{pos}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Log(in[0]) }},
		gcase{"sqrt", []*tensor.Tensor{pos}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Sqrt(in[0]) }},
		gcase{"addn", []*tensor.Tensor{r(1, 2, 3), r(2, 2, 3), r(3, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.AddN(in[0], in[1], graph.Mul(in[2], in[0]))
		}},
	)
	runCases(t, cases)
}

func TestMatMulGradients(t *testing.T) {
	var cases []gcase
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			m, k, n := 5, 7, 3
			as, bs := []int{m, k}, []int{k, n}
			if ta {
				as = []int{k, m}
			}
			if tb {
				bs = []int{n, k}
			}
			ta, tb := ta, tb
			cases = append(cases, gcase{fmt.Sprintf("ta=%v,tb=%v", ta, tb), []*tensor.Tensor{r(1, as...), r(2, bs...)},
				func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.MatMulT(in[0], in[1], ta, tb) }})
		}
	}
	cases = append(cases, gcase{"batch1", []*tensor.Tensor{r(1, 1, 9), r(2, 9, 1)},
		func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.MatMul(in[0], in[1]) }})
	runCases(t, cases)
}

func TestNNGradients(t *testing.T) {
	labels := gradcheck.RandInt(9, 6, 4)
	cases := []gcase{
		{"biasadd", []*tensor.Tensor{r(1, 4, 5), r(2, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BiasAdd(in[0], in[1]) }},
		{"biasrelu", []*tensor.Tensor{gradcheck.AwayFrom(1, -1, 1, 0.1, []float64{0}, 4, 5), gradcheck.Rand(2, -0.02, 0.02, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.BiasAct(in[0], in[1], graph.ReluAct)
		}},
		{"biassigmoid", []*tensor.Tensor{r(1, 2, 3, 5), r(2, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.BiasAct(in[0], in[1], graph.SigmoidAct)
		}},
		{"biastanh", []*tensor.Tensor{r(1, 3, 5), r(2, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.BiasAct(in[0], in[1], graph.TanhAct)
		}},
		{"softmax", []*tensor.Tensor{r(1, 3, 6)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Softmax(in[0]) }},
		{"logsoftmax", []*tensor.Tensor{r(1, 3, 6)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.LogSoftmax(in[0]) }},
		{"xent", []*tensor.Tensor{r(1, 4, 6), labels}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.SparseSoftmaxCrossEntropy(in[0], in[1])
		}},
		{"sigmoidxent", []*tensor.Tensor{r(1, 4, 3), gradcheck.Rand(2, 0, 1, 4, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.SigmoidCrossEntropy(in[0], in[1])
		}},
		{"mse", []*tensor.Tensor{r(1, 4, 3), r(2, 4, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.MeanSquaredError(in[0], in[1])
		}},
		{"sum_all", []*tensor.Tensor{r(1, 3, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.ReduceSum(in[0]) }},
		{"sum_axis1", []*tensor.Tensor{r(1, 2, 3, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.ReduceSum(in[0], 1) }},
		{"mean_axes02", []*tensor.Tensor{r(1, 2, 3, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.ReduceMean(in[0], 0, 2) }},
		{"max_axis-1", []*tensor.Tensor{r(1, 3, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.ReduceMax(in[0], -1) }},
		{"gather", []*tensor.Tensor{r(1, 7, 3), gradcheck.RandInt(4, 7, 2, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Gather(in[0], in[1])
		}},
		{"gather_twice", []*tensor.Tensor{r(1, 7, 3), gradcheck.RandInt(4, 7, 5), gradcheck.RandInt(5, 7, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Concat(0, graph.Gather(in[0], in[1]), graph.Gather(in[0], in[2]))
		}},
		{"gather_and_dense", []*tensor.Tensor{r(1, 7, 3), gradcheck.RandInt(4, 7, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Add(graph.Gather(in[0], in[1]), graph.ReduceSum(in[0], 0))
		}},
		{"concat1", []*tensor.Tensor{r(1, 2, 3), r(2, 2, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(1, in[0], in[1]) }},
		{"concat0", []*tensor.Tensor{r(1, 2, 3), r(2, 1, 3), r(3, 4, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Concat(0, in[0], in[1], in[2])
		}},
		{"slice", []*tensor.Tensor{r(1, 3, 6, 2)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], 1, 2, 5) }},
		{"split", []*tensor.Tensor{r(1, 3, 6)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			p := graph.Split(in[0], 1, 2, 4)
			return graph.Mul(graph.Slice(p[1], 1, 0, 2), p[0])
		}},
		{"reshape_index", []*tensor.Tensor{r(1, 2, 6)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Index(graph.Reshape(in[0], 3, -1), 1)
		}},
	}
	runCases(t, cases)
}

func TestForwardValues(t *testing.T) {
	g := graph.New(1)
	logits := g.Const(mustF32(t, []float32{1, 2, 3, 0, 0, 0}, 2, 3))
	labels := g.Const(mustI32(t, []int32{2, 0}, 2))
	loss := graph.SparseSoftmaxCrossEntropy(logits, labels)
	sm := graph.Softmax(logits)
	p, err := g.Compile(graph.Options{}, nil, loss, sm)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	// Row 1: -log(e^3/(e+e²+e³)) = 0.40760596; row 2: log 3 = 1.09861229.
	want := (0.40760596 + 1.09861229) / 2
	if got := p.Outputs()[0].At(); abs(got-want) > 1e-5 {
		t.Errorf("cross-entropy = %v, want %v", got, want)
	}
	if got := p.Outputs()[1].At(0, 2); abs(got-0.66524096) > 1e-6 {
		t.Errorf("softmax[0,2] = %v, want 0.66524096", got)
	}
}

func TestRunErrorOnBadLabel(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	y := g.Placeholder("y", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(x, y)
	e, err := g.NewExecutor(graph.Options{}, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.Run(graph.Feed{x, tensor.New(tensor.Float32, 2, 3)}, graph.Feed{y, mustI32(t, []int32{1, 7}, 2)})
	if err == nil {
		t.Fatal("label 7 of 3 classes: want an error")
	}
	t.Log(err)
}

func mustF32(t *testing.T, d []float32, s ...int) *tensor.Tensor {
	x, err := tensor.FromFloat32(d, s...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustI32(t *testing.T, d []int32, s ...int) *tensor.Tensor {
	x, err := tensor.FromInt32(d, s...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// A gradient can be differentiated again: d/dx Σ c·(d/dx Σ x²) = 2c.
func TestSecondOrderThroughFill(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, 3)
	c := g.Const(mustF32(t, []float32{1, -2, 3}, 3))
	gx, err := graph.Gradients(graph.ReduceSum(graph.Square(x)), x)
	if err != nil {
		t.Fatal(err)
	}
	ggx, err := graph.Gradients(graph.ReduceSum(graph.Mul(gx[0], c)), x)
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Compile(graph.Options{}, map[*graph.Node]tensor.Shape{x: {3}}, ggx[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	copy(p.Input(x).Float32s(), []float32{0.5, 1, -4})
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{2, -4, 6} {
		if got := p.Outputs()[0].At(i); abs(got-want) > 1e-6 {
			t.Errorf("second derivative [%d] = %v, want %v", i, got, want)
		}
	}
}
