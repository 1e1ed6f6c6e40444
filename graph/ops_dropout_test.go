package graph_test

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

func TestDropoutTrainingAndInference(t *testing.T) {
	const n, keep = 100001, 0.7 // odd, to reach the last unpaired element
	g := graph.New(7)
	x := g.Placeholder("x", tensor.Float32, -1)
	y := graph.Dropout(x, keep)
	dx, err := graph.Gradients(graph.ReduceSum(graph.Mul(y, y)), x) // d/dx Σ(x·m)² = 2x·m²
	if err != nil {
		t.Fatal(err)
	}
	xt := tensor.New(tensor.Float32, n)
	xt.Fill(1)

	train, err := g.NewExecutor(graph.Options{Training: true}, y, dx[0])
	if err != nil {
		t.Fatal(err)
	}
	defer train.Close()
	var prev []float32
	for step := 0; step < 3; step++ {
		out, err := train.Run(graph.Feed{Node: x, Value: xt})
		if err != nil {
			t.Fatal(err)
		}
		kept, same := 0, 0
		for i, v := range out[0].Float32s() {
			switch v {
			case 0:
			case 1 / float32(keep):
				kept++
			default:
				t.Fatalf("step %d: y[%d] = %v, want 0 or 1/keep", step, i, v)
			}
			// The backward pass sees the forward's mask: 2·x·m² = 2·m·y.
			if want := 2 * v * v; out[1].Float32s()[i] != want {
				t.Fatalf("step %d: dx[%d] = %v, want %v (mask %v)", step, i, out[1].Float32s()[i], want, v)
			}
			if prev != nil && prev[i] == v {
				same++
			}
		}
		if frac := float64(kept) / n; math.Abs(frac-keep) > 0.01 {
			t.Errorf("step %d: kept %.4f of the elements, want %v", step, frac, keep)
		}
		if prev != nil && float64(same)/n > 0.7 {
			t.Errorf("step %d: %d of %d elements match the previous step's: the mask does not change", step, same, n)
		}
		prev = append(prev[:0], out[0].Float32s()...)
	}

	// The mask does not depend on the number of threads.
	one, err := g.NewExecutor(graph.Options{Training: true, Threads: 1}, y)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	g2 := graph.New(7)
	x2 := g2.Placeholder("x", tensor.Float32, -1)
	y2 := graph.Dropout(x2, keep)
	e2, err := g2.NewExecutor(graph.Options{Training: true, Threads: 2}, y2)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	a, err := one.Run(graph.Feed{Node: x, Value: xt})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e2.Run(graph.Feed{Node: x2, Value: xt})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range a[0].Float32s() {
		if b[0].Float32s()[i] != v {
			t.Fatalf("element %d: %v on one thread, %v on two", i, v, b[0].Float32s()[i])
		}
	}

	// Inference: the identity, and a gradient of ones through it.
	infer, err := g.NewExecutor(graph.Options{}, y, dx[0])
	if err != nil {
		t.Fatal(err)
	}
	defer infer.Close()
	xr := r(3, n)
	out, err := infer.Run(graph.Feed{Node: x, Value: xr})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out[0].Float32s() {
		if v != xr.Float32s()[i] || out[1].Float32s()[i] != 2*v {
			t.Fatalf("inference: y[%d] = %v, dx = %v for x = %v", i, v, out[1].Float32s()[i], xr.Float32s()[i])
		}
	}
}

func TestDropoutErrors(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, 3)
	for _, keep := range []float32{0, -0.5, 1.5, float32(math.NaN())} {
		if n := graph.Dropout(x, keep); n.Err() == nil {
			t.Errorf("keep %v: want an error", keep)
		}
	}
	if n := graph.Dropout(x, 1); n.Err() != nil {
		t.Errorf("keep 1: %v", n.Err())
	}
}

// TestDropoutGradientInference checks the gradient in inference mode, where
// dropout is the identity, with the usual finite differences.
func TestDropoutGradientInference(t *testing.T) {
	runCases(t, []gcase{{"dropout", []*tensor.Tensor{r(1, 4, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return graph.Dropout(in[0], 0.5)
	}}})
}

// TestInferenceDropoutRunsNothing: a plan compiled without Training makes a
// dropout a view of its input (the mask is all ones there), so neither the
// mask nor the product runs a kernel, and what reads the dropout reads the
// input's values; a training plan of the same graph still draws masks.
func TestInferenceDropoutRunsNothing(t *testing.T) {
	g := graph.New(3)
	x := g.Placeholder("x", tensor.Float32, -1, 6)
	w := g.Variable("w", tensor.Normal(0, 1), 6, 4)
	h := graph.Dropout(graph.Relu(x), 0.5)
	y := graph.MatMul(graph.Dropout(h, 0.8), w) // two in a row
	xt := r(5, 3, 6)
	kernels := func(training bool) (map[string]int, []float32) {
		e, err := g.NewExecutor(graph.Options{Training: training}, y)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		out, err := e.Run(graph.Feed{Node: x, Value: xt})
		if err != nil {
			t.Fatal(err)
		}
		vals := append([]float32(nil), out[0].Float32s()...)
		p, err := e.Plan(graph.Feed{Node: x, Value: xt})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := p.Profile()
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]int{}
		for _, nt := range pr.Nodes {
			if nt.Node != nil {
				ops[nt.Node.Op().Type()]++
			}
		}
		return ops, vals
	}
	ops, got := kernels(false)
	if ops["DropoutMask"] != 0 || ops["Mul"] != 0 || ops["MatMul"] != 1 {
		t.Fatalf("inference plan runs %v: want no DropoutMask or Mul, one MatMul", ops)
	}
	want := evalOpts(t, graph.Options{}, func(g2 *graph.Graph) []*graph.Node {
		return []*graph.Node{graph.MatMul(graph.Relu(g2.Const(xt)), g2.Const(w.Tensor()))}
	})[0].Float32s()
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("inference output[%d] = %v, want %v (relu(x)·w)", i, got[i], want[i])
		}
	}
	if ops, _ := kernels(true); ops["DropoutMask"] != 2 || ops["Mul"] != 2 {
		t.Fatalf("training plan runs %v: want two DropoutMask and two Mul", ops)
	}
}
