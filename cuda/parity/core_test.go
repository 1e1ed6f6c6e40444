package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Parity of ops_core.go, broadcast.go, ops_matmul.go and ops_transpose.go. The
// gradients the harness takes bring in the gradient ops: Unindex (Index),
// ConcatGrad (Concat), PadSlice (Slice), SumTo (BroadcastLike and broadcasting
// binary ops), BroadcastLike (ReduceSum in the harness's loss).

func TestCoreFillAddN(t *testing.T) {
	Run(t,
		Case{Name: "Fill", In: []In{{Shape: []int{3, 517}, NoGrad: true}}, NoGrad: true,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.FillLike(in[0], 2.5) }},
		Case{Name: "FillInGraph", In: []In{{Shape: []int{301}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Mul(in[0], graph.FillLike(in[0], -1.5))
			}},
		Case{Name: "AddN2", In: []In{{Shape: []int{7, 131}}, {Shape: []int{7, 131}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.AddN(in...) }},
		Case{Name: "AddN3", In: []In{{Shape: []int{1000}}, {Shape: []int{1000}}, {Shape: []int{1000}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.AddN(in...) }},
		Case{Name: "AddN11", In: repeatIn(11, []int{5, 67}),
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.AddN(in...) }},
		// A node used several times sums its gradients with AddN (in place on the
		// first contribution, typically).
		Case{Name: "AddNFromGradients", In: []In{{Shape: []int{9, 33}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				x := in[0]
				return graph.Add(graph.Mul(x, x), graph.Add(graph.Tanh(x), graph.Sigmoid(x)))
			}},
	)
}

func repeatIn(n int, shape []int) []In {
	ins := make([]In, n)
	for i := range ins {
		ins[i] = In{Shape: shape}
	}
	return ins
}

func TestCoreReshapeIndex(t *testing.T) {
	Run(t,
		Case{Name: "Reshape", In: []In{{Shape: []int{6, 35}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Tanh(graph.Reshape(in[0], 2, -1, 5))
			}},
		Case{Name: "ReshapeLike", In: []In{{Shape: []int{4, 15}}, {Shape: []int{3, 20}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Square(graph.ReshapeLike(in[0], in[1]))
			}},
		// Index's gradient is Unindex: the row at i, zeros elsewhere.
		Case{Name: "IndexFirst", In: []In{{Shape: []int{5, 7, 39}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Index(in[0], 0) }},
		Case{Name: "IndexMiddle", In: []In{{Shape: []int{5, 300}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Exp(graph.Index(in[0], 3)) }},
		Case{Name: "IndexLast", In: []In{{Shape: []int{3, 2, 2}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Index(in[0], 2) }},
	)
}

func TestCoreSparse(t *testing.T) {
	Run(t,
		// Repeated indices add up.
		Case{Name: "Densify", NoGrad: true, In: []In{{Shape: []int{200}, Int: 37}, {Shape: []int{200, 19}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Densify(graph.IndexedSlices(in[0], in[1], tensor.Shape{37, 19}))
			}},
		Case{Name: "DensifyWide", NoGrad: true, In: []In{{Shape: []int{3}, Int: 4}, {Shape: []int{3, 700}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Densify(graph.IndexedSlices(in[0], in[1], tensor.Shape{4, 700}))
			}},
		// The gradient of params read by two Gathers and directly: the sparse
		// contributions concatenate (Concat of int32 indices), then Densify and
		// AddN join the dense one.
		Case{Name: "GatherGradients", In: []In{{Shape: []int{23, 9}}, {Shape: []int{41}, Int: 23}, {Shape: []int{17}, Int: 23}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				p := in[0]
				return graph.Concat(0, graph.Gather(p, in[1]), graph.Tanh(graph.Gather(p, in[2])), graph.Square(p))
			}},
	)
}

func TestCoreConcatSlice(t *testing.T) {
	Run(t,
		Case{Name: "ConcatAxis0", In: []In{{Shape: []int{3, 45}}, {Shape: []int{5, 45}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(0, in...) }},
		Case{Name: "ConcatAxis1", In: []In{{Shape: []int{33, 5}}, {Shape: []int{33, 1}}, {Shape: []int{33, 260}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(1, in...) }},
		Case{Name: "ConcatMiddleAxis", In: []In{{Shape: []int{4, 3, 7, 5}}, {Shape: []int{4, 2, 7, 5}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(1, in...) }},
		Case{Name: "ConcatLastAxis", In: []In{{Shape: []int{2, 3, 7}}, {Shape: []int{2, 3, 9}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(-1, in...) }},
		Case{Name: "ConcatInt32", In: []In{{Shape: []int{6, 3}, Int: 100}, {Shape: []int{6, 5}, Int: 100}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Concat(1, in...) }},
		Case{Name: "SliceAxis0", In: []In{{Shape: []int{40, 7}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], 0, 3, 35) }},
		Case{Name: "SliceAxis1", In: []In{{Shape: []int{37, 300}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], 1, 17, 290) }},
		Case{Name: "SliceMiddle", In: []In{{Shape: []int{3, 10, 4, 3}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], 2, 1, 3) }},
		Case{Name: "SliceLastEmptyish", In: []In{{Shape: []int{5, 9}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], -1, 8, 9) }},
		// An empty slice: no kernel, and its gradient is zeros.
		Case{Name: "SliceEmpty", In: []In{{Shape: []int{5, 4}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Concat(1, graph.Slice(in[0], 1, 3, 3), in[0])
			}},
		Case{Name: "SliceInt32", In: []In{{Shape: []int{9, 11}, Int: 1000}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Slice(in[0], 1, 2, 7) }},
		Case{Name: "Split", In: []In{{Shape: []int{12, 50}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				p := graph.Split(in[0], 1, 20, 20, 10)
				return graph.Add(graph.Mul(p[0], p[1]), graph.Slice(graph.Concat(1, p[2], p[2]), 1, 0, 20))
			}},
	)
}

func TestCoreBroadcast(t *testing.T) {
	Run(t,
		Case{Name: "BroadcastLikeRows", In: []In{{Shape: []int{37}}, {Shape: []int{300, 37}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		Case{Name: "BroadcastLikeCols", In: []In{{Shape: []int{300, 1}}, {Shape: []int{300, 37}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		Case{Name: "BroadcastLikeScalar", In: []In{{Shape: []int{1}}, {Shape: []int{3, 1000}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		Case{Name: "BroadcastLikeChannels", In: []In{{Shape: []int{1, 5, 1, 1}}, {Shape: []int{4, 5, 9, 11}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		Case{Name: "BroadcastLikeAlternate", In: []In{{Shape: []int{3, 1, 4, 1, 5}}, {Shape: []int{3, 6, 4, 7, 5}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		// SumTo directly: each pattern of kept and reduced axes, with the
		// innermost axis reduced (block reductions) or kept (column sums), few
		// and many outputs, chunked and not.
		// Positive values: a sum of mixed signs cancels to a value whose relative
		// error reflects only the order of the additions.
		Case{Name: "SumToScalar", In: []In{{Shape: []int{70001}, Lo: 0.5, Hi: 1.5}, {Shape: []int{1}, NoGrad: true}}, Tol: 1e-4,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.SumTo(in[0], in[1]) }},
		sumTo("SumToScalar2D", []int{33, 65}, []int{1, 1}),
		sumTo("SumToBias", []int{1000, 37}, []int{37}),
		sumTo("SumToBiasMany", []int{300, 2001}, []int{1, 2001}),
		sumTo("SumToRows", []int{37, 1000}, []int{37, 1}),
		sumTo("SumToRowsMany", []int{3000, 9}, []int{3000, 1}),
		sumTo("SumToChannels", []int{4, 5, 9, 11}, []int{1, 5, 1, 1}),
		sumTo("SumToAlternate", []int{3, 6, 4, 7, 5}, []int{3, 1, 4, 1, 5}),
		sumTo("SumToAlternateInnerReduced", []int{6, 3, 7, 4, 5}, []int{1, 3, 1, 4, 1}),
		// Same size, other shape: a copy (no gradient: the CPU's BroadcastLike
		// cannot take (3, 5) back to (3, 1, 5)).
		Case{Name: "SumToSameSize", NoGrad: true, In: []In{{Shape: []int{3, 1, 5}}, {Shape: []int{3, 5}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.SumTo(in[0], in[1]) }},
		sumTo("SumToRankDrop", []int{2, 3, 5}, []int{5}),
		// Seven runs of axes: beyond the strided kernels, index maps.
		Case{Name: "BroadcastLikeRank7", In: []In{{Shape: []int{2, 1, 3, 1, 2, 1, 3}}, {Shape: []int{2, 3, 3, 2, 2, 3, 3}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.BroadcastLike(in[0], in[1]) }},
		sumTo("SumToRank7", []int{2, 3, 3, 2, 2, 3, 3}, []int{2, 1, 3, 1, 2, 1, 3}),
		sumTo("SumToRank7Kept", []int{3, 2, 3, 2, 2, 3, 3, 2}, []int{1, 2, 1, 2, 1, 3, 1, 2}),
	)
}

// sumTo is a case of SumTo(x, like) with like of shape to (a shape input only).
func sumTo(name string, from, to []int) Case {
	return Case{Name: name, In: []In{{Shape: from}, {Shape: to, NoGrad: true}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.SumTo(in[0], in[1]) }}
}

func TestCoreMatMul(t *testing.T) {
	var cases []Case
	for _, tr := range []struct {
		name   string
		ta, tb bool
	}{{"NN", false, false}, {"TN", true, false}, {"NT", false, true}, {"TT", true, true}} {
		for _, s := range [][3]int{{1, 1, 1}, {7, 13, 5}, {65, 33, 129}, {1, 300, 17}} {
			m, k, n := s[0], s[1], s[2]
			a, b := []int{m, k}, []int{k, n}
			if tr.ta {
				a = []int{k, m}
			}
			if tr.tb {
				b = []int{n, k}
			}
			ta, tb := tr.ta, tr.tb
			cases = append(cases, Case{Name: tr.name, In: []In{{Shape: a}, {Shape: b}}, Tol: 1e-4,
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.MatMulT(in[0], in[1], ta, tb) }})
		}
	}
	Run(t, cases...)
}

func TestCoreTranspose(t *testing.T) {
	tr := func(name string, shape []int, perm ...int) Case {
		return Case{Name: name, In: []In{{Shape: shape}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Transpose(in[0], perm...) }}
	}
	Run(t,
		tr("Matrix", []int{37, 70}),
		tr("Row", []int{1, 300}),
		tr("Tall", []int{1000, 3}),
		tr("Batch2D", []int{3, 45, 33}, 0, 2, 1),
		tr("NCHWtoNHWC", []int{2, 5, 7, 9}, 0, 2, 3, 1),
		tr("NHWCtoNCHW", []int{2, 7, 9, 5}, 0, 3, 1, 2),
		tr("SwapOuter", []int{5, 6, 35}, 1, 0, 2),
		tr("Reverse3", []int{4, 5, 6}, 2, 1, 0),
		tr("UnitAxes", []int{3, 1, 40, 1}, 2, 1, 3, 0),
		tr("Identity", []int{3, 4}, 0, 1),
		tr("Rank6", []int{2, 3, 2, 3, 2, 3}, 5, 3, 1, 4, 2, 0),
		tr("Rank7", []int{2, 3, 2, 3, 2, 3, 2}, 6, 5, 4, 3, 2, 1, 0),
		Case{Name: "Int32", In: []In{{Shape: []int{35, 17}, Int: 1 << 20}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Transpose(in[0]) }},
		Case{Name: "Int32Rank3", In: []In{{Shape: []int{3, 4, 5}, Int: 1 << 20}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Transpose(in[0], 1, 2, 0) }},
	)
}
