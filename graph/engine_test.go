package graph_test

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// An engine's runners work on one set of variables: an update run by one is
// seen by the next run of the other; Pull on the CPU has nothing to do; a graph
// error shows when a runner is made.
func TestEngineRunnersShareVariables(t *testing.T) {
	g := graph.New(1)
	w := g.Variable("w", tensor.Constant(3), 1)
	x := g.Placeholder("x", tensor.Float32, 1)
	loss := graph.ReduceSum(graph.Square(graph.Sub(w, x)))
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.25), loss)
	if err != nil {
		t.Fatal(err)
	}
	eng := graph.NewEngine(g, nil)
	defer eng.Close()
	if eng.OnDevice() != nil {
		t.Fatal("a CPU engine has a device side")
	}
	train, err := eng.Runner(true, loss, update)
	if err != nil {
		t.Fatal(err)
	}
	read, err := eng.Runner(false, graph.Add(w, g.Scalar(0)))
	if err != nil {
		t.Fatal(err)
	}
	xv := tensor.New(tensor.Float32, 1)
	xv.Float32s()[0] = 1
	if _, err := train.Run(graph.Feed{Node: x, Value: xv}); err != nil {
		t.Fatal(err)
	}
	// w - 0.25·2(w - x) = 3 - 1 = 2.
	out, err := read.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Float32s()[0]; got != 2 {
		t.Fatalf("w after one step, read by the other runner: %v, want 2", got)
	}
	if err := eng.Pull(); err != nil {
		t.Fatalf("Pull on the CPU: %v", err)
	}
	bad := graph.New(1)
	graph.MatMul(bad.Placeholder("a", tensor.Float32, 2, 3), bad.Placeholder("b", tensor.Float32, 2, 3))
	badEng := graph.NewEngine(bad, nil)
	defer badEng.Close()
	if _, err := badEng.Runner(false, bad.Scalar(1)); err == nil {
		t.Fatal("a runner of a graph with an error: no error")
	}
}
