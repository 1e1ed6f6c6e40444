package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
)

// Parity of ops_clip.go: GlobalNorm and L2Loss (and their gradients:
// GlobalNormGradFactor, ScaleBy), ClipByGlobalNorm (ClipByNorm, and in its
// gradient ClipFactor, Dot, ScaleBy).

func TestClipNorms(t *testing.T) {
	Run(t,
		Case{Name: "GlobalNormOne", In: []In{{Shape: []int{1}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.GlobalNorm(in...) }},
		Case{Name: "GlobalNormMany", In: []In{{Shape: []int{3, 7}}, {Shape: []int{70001}}, {Shape: []int{300, 37}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.GlobalNorm(in...) }},
		Case{Name: "GlobalNormLarge", In: []In{{Shape: []int{1 << 21}}}, Tol: 1e-4,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.GlobalNorm(in...) }},
		Case{Name: "L2Loss", In: []In{{Shape: []int{33, 65}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.L2Loss(in[0]) }},
		Case{Name: "L2LossSmall", In: []In{{Shape: []int{5}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.L2Loss(in[0]) }},
	)
}

func TestClipByGlobalNorm(t *testing.T) {
	clip := func(name string, c float32, shapes ...[]int) Case {
		in := make([]In, len(shapes))
		for i, s := range shapes {
			in[i] = In{Shape: s}
		}
		return Case{Name: name, In: in, Tol: 1e-5,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				out, norm := graph.ClipByGlobalNorm(in, c)
				parts := []*graph.Node{graph.Reshape(norm, 1)}
				for _, o := range out {
					parts = append(parts, graph.Reshape(o, -1))
				}
				return graph.Concat(0, parts...)
			}}
	}
	Run(t,
		// Clipped (the norm of a few hundred values in [-1, 1) is well above 1)
		// and not clipped (the clip above the norm).
		clip("Clipped", 1, []int{7, 33}, []int{301}),
		clip("NotClipped", 1e4, []int{7, 33}, []int{301}),
		clip("ClippedLarge", 5, []int{70001}),
		// GlobalNormGradFactor and ScaleBy in the gradient of x·GlobalNorm(x).
		Case{Name: "TimesNorm", In: []In{{Shape: []int{9, 301}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Mul(in[0], graph.BroadcastLike(graph.GlobalNorm(in[0]), in[0]))
			}},
	)
}
