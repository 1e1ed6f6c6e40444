package graph_test

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

func hasOp(p *graph.Plan, op string) bool {
	for _, n := range p.Nodes() {
		if n.Op().Type() == op {
			return true
		}
	}
	return false
}

// BiasAct(MatMul(x, w), b) runs as one kernel, the bias added inside the
// product, when the product has no other reader and nothing runs between: the
// plan has no MatMul kernel and its result is the unfused one's (the product
// also a target). A kernel between the two, or a second reader, keeps them
// apart. Wide (packed) and narrow (A read in place) products, with and
// without an activation.
func TestDenseProductAndBiasFuse(t *testing.T) {
	for _, c := range []struct {
		n   int
		act graph.Activation
	}{{300, graph.Identity}, {300, graph.ReluAct}, {10, graph.TanhAct}} {
		g := graph.New(1)
		x := g.Placeholder("x", tensor.Float32, -1, 70)
		w := g.Variable("w", tensor.Uniform(-1, 1), 70, c.n)
		b := g.Variable("b", tensor.Uniform(-1, 1), c.n)
		m := graph.MatMul(x, w)
		y := graph.BiasAct(m, b, c.act)
		// The same layer with a kernel between the product and the bias.
		m2 := graph.MatMul(x, w)
		between := graph.Tanh(x)
		y2 := graph.BiasAct(m2, b, c.act)

		shapes := map[*graph.Node]tensor.Shape{x: {33, 70}}
		fusedP, err := g.Compile(graph.Options{}, shapes, y)
		if err != nil {
			t.Fatal(err)
		}
		defer fusedP.Close()
		plainP, err := g.Compile(graph.Options{}, shapes, y, m) // the product is a target
		if err != nil {
			t.Fatal(err)
		}
		defer plainP.Close()
		apartP, err := g.Compile(graph.Options{}, shapes, y2, between)
		if err != nil {
			t.Fatal(err)
		}
		defer apartP.Close()
		if hasOp(fusedP, "MatMul") || !hasOp(plainP, "MatMul") || !hasOp(apartP, "MatMul") {
			t.Fatalf("n=%d: MatMul kernels: fused plan %v, product a target %v, a kernel between %v; want false, true, true",
				c.n, hasOp(fusedP, "MatMul"), hasOp(plainP, "MatMul"), hasOp(apartP, "MatMul"))
		}
		in := tensor.New(tensor.Float32, 33, 70)
		tensor.Uniform(-1, 1).Init(in, tensor.NewRand(2))
		for _, p := range []*graph.Plan{fusedP, plainP, apartP} {
			if err := p.Input(x).CopyFrom(in); err != nil {
				t.Fatal(err)
			}
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
		}
		want := plainP.Outputs()[0].Float32s()
		for name, got := range map[string][]float32{"fused": fusedP.Outputs()[0].Float32s(), "apart": apartP.Outputs()[0].Float32s()} {
			for i, v := range got {
				if math.Abs(float64(v-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("n=%d %s: element %d = %v, unfused %v", c.n, name, i, v, want[i])
				}
			}
		}
	}
}
