package bench

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
)

// kernelTypes lists the op types of the kernels a step's plan runs.
func kernelTypes(t *testing.T, s Step) []string {
	t.Helper()
	es := s.(*execStep)
	exe := es.exe.(*graph.Executor)
	p, err := exe.Plan(es.feeds...)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, n := range p.Nodes() {
		types = append(types, n.Op().Type())
	}
	return types
}

// The layers API adds nothing at run time: each workload built with it compiles to
// the same kernels, in the same order, as the one written on the graph, so the
// overhead column measures noise, not work. One exception, by design: in
// ptb-medium the layers model applies dropout between LSTM layers batch-major
// (each layer takes and gives (batch, steps, units)), so around each inner
// dropout it transposes out of and back into the fused op's time-major layout:
// two more transposes forward and two backward, 0.5% of the step's memory
// traffic. Everywhere else the layers' transposes cancel (graph.Transpose).
func TestLayersCompileToTheGraphsKernels(t *testing.T) {
	for _, w := range Workloads() {
		for _, mode := range []string{"train", "infer"} {
			gs, err := w.Build(Graph, mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			ls, err := w.Build(Layers, mode, nil)
			if err != nil {
				t.Fatal(err)
			}
			gk, lk := kernelTypes(t, gs), kernelTypes(t, ls)
			if w.Name == "ptb-medium" {
				extra := 2
				if mode == "train" {
					extra = 4
				}
				if len(lk)-len(gk) != extra || strings.Join(drop(gk, "Transpose"), " ") != strings.Join(drop(lk, "Transpose"), " ") {
					t.Errorf("%s %s: want the same kernels but %d more transposes:\n graph  (%d): %v\n layers (%d): %v", w.Name, mode, extra, len(gk), gk, len(lk), lk)
				}
			} else if strings.Join(gk, " ") != strings.Join(lk, " ") {
				t.Errorf("%s %s: the plans differ:\n graph  (%d): %v\n layers (%d): %v", w.Name, mode, len(gk), gk, len(lk), lk)
			}
			gs.Close()
			ls.Close()
		}
	}
}

func drop(types []string, what string) []string {
	var out []string
	for _, t := range types {
		if t != what {
			out = append(out, t)
		}
	}
	return out
}
