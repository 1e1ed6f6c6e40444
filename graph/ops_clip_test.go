package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

func f32s(shape []int, v ...float32) *tensor.Tensor {
	t, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

func runOne(t *testing.T, g *graph.Graph, targets ...*graph.Node) []*tensor.Tensor {
	t.Helper()
	p, err := g.Compile(graph.Options{}, nil, targets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	return p.Outputs()
}

func TestL2LossAndGlobalNormForward(t *testing.T) {
	g := graph.New(1)
	a := g.Const(f32s([]int{2, 2}, 1, 2, 3, 4))
	b := g.Const(f32s([]int{2}, -2, 0))
	big := g.Const(gradcheck.Rand(3, -1, 1, 300, 200)) // takes the parallel path
	var want float64
	for _, v := range big.Tensor().Float32s() {
		want += float64(v) * float64(v)
	}
	out := runOne(t, g, graph.L2Loss(a), graph.GlobalNorm(a, nil, b), graph.GlobalNorm(big, a))
	if got := out[0].At(); got != 15 {
		t.Errorf("L2Loss([1 2 3 4]) = %v, want 15", got)
	}
	if got := out[1].At(); math.Abs(got-math.Sqrt(34)) > 1e-6 {
		t.Errorf("GlobalNorm = %v, want sqrt(34)", got)
	}
	if got := out[2].At(); math.Abs(got-math.Sqrt(want+30)) > 1e-4 {
		t.Errorf("GlobalNorm(big) = %v, want %v", got, math.Sqrt(want+30))
	}
}

func TestClipByGlobalNormForward(t *testing.T) {
	g := graph.New(1)
	a := g.Const(f32s([]int{2}, 3, 0))
	idx := g.Const(ints(1, 1))
	sp := graph.IndexedSlices(idx, g.Const(f32s([]int{2, 1}, 4, 0)), tensor.Shape{5, 1})
	for _, c := range []struct{ clip, scale float32 }{{2.5, 0.5}, {10, 1}} {
		clipped, norm := graph.ClipByGlobalNorm([]*graph.Node{a, nil, sp}, c.clip)
		if clipped[1] != nil || !graph.IsSparse(clipped[2]) {
			t.Fatalf("nil stays nil, sparse stays sparse: got %v, %v", clipped[1], graph.IsSparse(clipped[2]))
		}
		_, vals, _ := graph.SparseParts(clipped[2])
		out := runOne(t, g, norm, clipped[0], vals)
		if out[0].At() != 5 {
			t.Errorf("norm = %v, want 5", out[0].At())
		}
		if got := out[1].Float32s(); got[0] != 3*c.scale || got[1] != 0 {
			t.Errorf("clip %v: dense %v, want [%v 0]", c.clip, got, 3*c.scale)
		}
		if got := out[2].Float32s(); got[0] != 4*c.scale {
			t.Errorf("clip %v: sparse values %v, want [%v 0]", c.clip, got, 4*c.scale)
		}
	}
}

func TestClipGradients(t *testing.T) {
	cases := []gcase{
		{"l2loss", []*tensor.Tensor{r(1, 3, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.L2Loss(in[0]) }},
		{"globalnorm", []*tensor.Tensor{r(1, 3, 5), r(2, 1), r(3, 2, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.GlobalNorm(in...)
		}},
	}
	for _, clip := range []float32{0.5, 50} { // clipping and not clipping
		clip := clip
		cases = append(cases, gcase{"clip", []*tensor.Tensor{r(1, 3, 5), r(2, 7)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			out, _ := graph.ClipByGlobalNorm(in, clip)
			return graph.Concat(0, graph.Reshape(out[0], -1), out[1])
		}})
	}
	runCases(t, cases)
}

func ExampleClipByGlobalNorm() {
	g := graph.New(1)
	a := g.Const(f32s([]int{2}, 3, 0))
	b := g.Const(f32s([]int{1}, 4))
	// ‖(3, 0, 4)‖ = 5, clipped to 1: every tensor is scaled by 1/5.
	clipped, norm := graph.ClipByGlobalNorm([]*graph.Node{a, b}, 1)
	p, _ := g.Compile(graph.Options{}, nil, norm, clipped[0], clipped[1])
	defer p.Close()
	_ = p.Run()
	out := p.Outputs()
	fmt.Println(out[0].Float32s(), out[1].Float32s(), out[2].Float32s())
	// Output: [5] [0.6 0] [0.8]
}
