package gradcheck_test

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

// cube is x³ with a gradient that is right or, for the test, off by a factor.
type cube struct{ gradScale float32 }

func (cube) Type() string                                { return "Cube" }
func (cube) Infer(in []graph.Value) (graph.Value, error) { return in[0], nil }
func (cube) Compile(_ *graph.KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (graph.Kernel, error) {
	x, y := in[0].Float32s(), out.Float32s()
	return graph.KernelFunc(func() {
		for i, v := range x {
			y[i] = v * v * v
		}
	}), nil
}
func (c cube) Grad(n, dy *graph.Node) []*graph.Node {
	x := n.Inputs()[0]
	return []*graph.Node{graph.Mul(dy, graph.Scale(graph.Square(x), 3*c.gradScale))}
}

func check(scale float32) error {
	return gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, 4, 5)},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return g.Apply(cube{gradScale: scale}, in[0])
		},
	})
}

func TestAcceptsARightGradient(t *testing.T) {
	if err := check(1); err != nil {
		t.Fatal(err)
	}
}

func TestCatchesAWrongGradient(t *testing.T) {
	err := check(1.1)
	if err == nil || !strings.Contains(err.Error(), "analytic") {
		t.Fatalf("a gradient 10%% off passed the check: %v", err)
	}
}
