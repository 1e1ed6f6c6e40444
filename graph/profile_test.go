package graph

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/tensor"
)

// A CPU profile names every kernel node once, in plan order, and its nodes add
// up to the step.
func TestPlanProfile(t *testing.T) {
	g := New(1)
	x := g.Placeholder("x", tensor.Float32, 64, 32)
	w := g.Variable("w", tensor.Normal(0, 1), 32, 16)
	loss := ReduceMean(Relu(MatMul(x, w)))
	ex, err := g.NewExecutor(Options{Threads: 1}, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	xv := tensor.New(tensor.Float32, 64, 32)
	tensor.Uniform(-1, 1).Init(xv, tensor.NewRand(2))
	prof, err := ex.Profile(Feed{Node: x, Value: xv})
	if err != nil {
		t.Fatal(err)
	}
	plan := ex.Plans()[0]
	if len(prof.Nodes) != len(plan.Nodes()) {
		t.Fatalf("profile has %d nodes, the plan runs %d", len(prof.Nodes), len(plan.Nodes()))
	}
	sum := 0.0
	for i, nt := range prof.Nodes {
		if nt.Node != plan.Nodes()[i] {
			t.Errorf("node %d: profile names %v, the plan runs %v", i, nt.Node, plan.Nodes()[i])
		}
		if nt.Ms < 0 {
			t.Errorf("node %d: negative time %v", i, nt.Ms)
		}
		sum += nt.Ms
	}
	if d := sum - prof.TotalMs; d > 1e-6 || d < -1e-6 {
		t.Errorf("nodes add up to %v ms, the step took %v", sum, prof.TotalMs)
	}
	var b strings.Builder
	if err := prof.Write(&b, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "step on cpu, kernel by kernel") || !strings.Contains(b.String(), "MatMul") {
		t.Errorf("written profile:\n%s", b.String())
	}
	// The profiled step computed what Run computes.
	got := plan.Outputs()[0].Float32s()[0]
	out, err := ex.Run(Feed{Node: x, Value: xv})
	if err != nil {
		t.Fatal(err)
	}
	if want := out[0].Float32s()[0]; got != want {
		t.Errorf("profiled step's loss %v, Run's %v", got, want)
	}
}
