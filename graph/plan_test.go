package graph_test

import (
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// mlp builds a two-layer classifier and its SGD step.
func mlp(t testing.TB, in, hidden, classes int) (g *graph.Graph, x, y, loss, step *graph.Node) {
	g = graph.New(42)
	x = g.Placeholder("x", tensor.Float32, -1, in)
	y = g.Placeholder("y", tensor.Int32, -1)
	w1 := g.Variable("w1", tensor.GlorotUniform(), in, hidden)
	b1 := g.Variable("b1", tensor.Zeros(), hidden)
	w2 := g.Variable("w2", tensor.GlorotUniform(), hidden, classes)
	b2 := g.Variable("b2", tensor.Zeros(), classes)
	h := graph.BiasAct(graph.MatMul(x, w1), b1, graph.ReluAct)
	logits := graph.BiasAdd(graph.MatMul(h, w2), b2)
	loss = graph.SparseSoftmaxCrossEntropy(logits, y)
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss)
	if err != nil {
		t.Fatal(err)
	}
	return g, x, y, loss, step
}

// twoBlobs is a separable problem: class = whether the sum of features is positive.
func twoBlobs(n, in int, seed uint64) (*tensor.Tensor, *tensor.Tensor) {
	x := tensor.New(tensor.Float32, n, in)
	tensor.Normal(0, 1).Init(x, tensor.NewRand(seed))
	y := tensor.New(tensor.Int32, n)
	for i := 0; i < n; i++ {
		var s float32
		for _, v := range x.Float32s()[i*in : i*in+in] {
			s += v
		}
		if s > 0 {
			y.Int32s()[i] = 1
		}
	}
	return x, y
}

func TestTrainingStepLearnsAndAllocatesNothing(t *testing.T) {
	g, x, y, loss, step := mlp(t, 8, 16, 2)
	e, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	xt, yt := twoBlobs(64, 8, 1)
	out, err := e.Run(graph.Feed{x, xt}, graph.Feed{y, yt})
	if err != nil {
		t.Fatal(err)
	}
	first := out[0].At()
	for i := 0; i < 200; i++ {
		if out, err = e.Run(graph.Feed{x, xt}, graph.Feed{y, yt}); err != nil {
			t.Fatal(err)
		}
	}
	last := out[0].At()
	if !(last < first/4) || math.IsNaN(last) {
		t.Fatalf("loss went from %v to %v: the step does not learn", first, last)
	}
	feeds := []graph.Feed{{x, xt}, {y, yt}}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := e.Run(feeds...); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a training step allocated %.1f times, want 0", allocs)
	}
}

func TestNewBatchSizeCompilesAnotherPlan(t *testing.T) {
	g, x, y, loss, _ := mlp(t, 4, 5, 3)
	e, err := g.NewExecutor(graph.Options{}, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, n := range []int{1, 7, 1, 7, 32} {
		xt, yt := twoBlobs(n, 4, uint64(n))
		if _, err := e.Run(graph.Feed{x, xt}, graph.Feed{y, yt}); err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
	}
	if got := len(e.Plans()); got != 3 {
		t.Fatalf("%d plans for batch sizes {1, 7, 32}, want 3", got)
	}
}

func TestPlannerReusesMemory(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 256)
	h := x
	for i := 0; i < 10; i++ {
		h = graph.Tanh(graph.Scale(h, 0.5))
	}
	out := graph.ReduceSum(h)
	p, err := g.Compile(graph.Options{}, map[*graph.Node]tensor.Shape{x: {64, 256}}, out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	planned, naive := p.MemoryBytes()
	if planned*4 > naive {
		t.Fatalf("planned %d bytes for a chain whose buffers sum to %d: want reuse", planned, naive)
	}
	// And the result is still right: compare with a direct computation.
	in := p.Input(x)
	tensor.Uniform(-1, 1).Init(in, tensor.NewRand(3))
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, v := range in.Float32s() {
		for i := 0; i < 10; i++ {
			v = float32(math.Tanh(float64(v * 0.5)))
		}
		want += float64(v)
	}
	if got := p.Outputs()[0].At(); math.Abs(got-want) > 1e-3*math.Max(1, math.Abs(want)) {
		t.Fatalf("sum = %v, want %v", got, want)
	}
}

func TestShapeErrorsNameOpAndShapes(t *testing.T) {
	g := graph.New(1)
	a := g.Placeholder("a", tensor.Float32, -1, 3)
	b := g.Variable("b", tensor.Zeros(), 4, 2)
	c := graph.MatMul(a, b)
	if c.Err() == nil || g.Err() == nil {
		t.Fatal("MatMul of (?, 3) by (4, 2): want an error")
	}
	msg := g.Err().Error()
	for _, want := range []string{"MatMul", "(4, 2)", "(?, 3)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if _, err := g.Compile(graph.Options{}, nil, c); err == nil {
		t.Error("Compile of a failed graph: want an error")
	}
	// A second variable with the same name and another shape is an error; the same
	// shape shares the variable.
	g2 := graph.New(1)
	v1 := g2.Variable("w", tensor.Ones(), 2, 2)
	if v2 := g2.Variable("w", nil, 2, 2); v2 != v1 {
		t.Error("same name and shape: want the same variable")
	}
	if v3 := g2.Variable("w", nil, 3, 2); v3.Err() == nil {
		t.Error("same name, another shape: want an error")
	}
}

func TestFeedShapeMismatch(t *testing.T) {
	g, x, y, loss, _ := mlp(t, 4, 5, 3)
	e, _ := g.NewExecutor(graph.Options{}, loss)
	defer e.Close()
	_, err := e.Run(graph.Feed{x, tensor.New(tensor.Float32, 2, 5)}, graph.Feed{y, tensor.New(tensor.Int32, 2)})
	if err == nil || !strings.Contains(err.Error(), "(2, 5)") {
		t.Fatalf("feeding (2, 5) into (?, 4): got %v", err)
	}
	_, err = e.Run(graph.Feed{x, tensor.New(tensor.Float32, 2, 4)})
	if err == nil || !strings.Contains(err.Error(), "y") {
		t.Fatalf("missing feed y: got %v", err)
	}
}
