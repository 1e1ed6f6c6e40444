package bench

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
)

// kernelTypes lists the op types of the kernels a step's plan runs.
func kernelTypes(t *testing.T, s Step) []string {
	t.Helper()
	if ps, ok := s.(*pairStep); ok { // the DCGAN's two updates
		return append(kernelTypes(t, ps.d), kernelTypes(t, ps.g)...)
	}
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
// overhead column measures noise, not work. (Stacked LSTM layers each take and
// give batch-major sequences; the transposes to and from the fused op's
// time-major layout cancel between them (graph.Transpose), and OutputDropout
// drops inside, time-major, as ptb_word_lm.py's DropoutWrapper.)
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
			if strings.Join(gk, " ") != strings.Join(lk, " ") {
				t.Errorf("%s %s: the plans differ:\n graph  (%d): %v\n layers (%d): %v", w.Name, mode, len(gk), gk, len(lk), lk)
			}
			gs.Close()
			ls.Close()
		}
	}
}
