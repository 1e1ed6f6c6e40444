package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
)

// Parity of ops_norm.go: LocalResponseNorm and its gradient (plain, ReLU-fused,
// in place, narrow and wide windows, each special exponent), BatchNorm in
// training and inference with BatchNormReduce and BatchNormGrad, the moving
// averages' update, LayerNorm with LayerNormGrad and LayerNormParamGrad.

func TestLRN(t *testing.T) {
	cifar := graph.LRNOpts{DepthRadius: 4, Bias: 1, Alpha: 0.001 / 9, Beta: 0.75}
	lrn := func(name string, x []int, o graph.LRNOpts) Case {
		return Case{Name: name, In: []In{{Shape: x, Lo: -3, Hi: 3}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.LocalResponseNorm(in[0], o) }}
	}
	Run(t,
		lrn("Cifar", []int{2, 12, 12, 64}, cifar),
		lrn("Radius2", []int{5, 37}, graph.LRNOpts{DepthRadius: 2, Bias: 2, Alpha: 0.1, Beta: 0.75}),
		lrn("Half", []int{7, 9, 33}, graph.LRNOpts{DepthRadius: 5, Bias: 1, Alpha: 0.5, Beta: 0.5}),
		lrn("One", []int{7, 33}, graph.LRNOpts{DepthRadius: 3, Bias: 1, Alpha: 0.2, Beta: 1}),
		lrn("Zero", []int{7, 33}, graph.LRNOpts{DepthRadius: 3, Bias: 1, Alpha: 0.2, Beta: 0}),
		lrn("OtherBeta", []int{7, 33}, graph.LRNOpts{DepthRadius: 3, Bias: 1.5, Alpha: 0.2, Beta: 0.6}),
		lrn("WideWindow", []int{3, 70}, graph.LRNOpts{DepthRadius: 20, Bias: 1, Alpha: 0.01, Beta: 0.75}),
		lrn("RadiusBeyondC", []int{4, 5}, graph.LRNOpts{DepthRadius: 9, Bias: 1, Alpha: 0.3, Beta: 0.75}),
		lrn("Radius0", []int{4, 17}, graph.LRNOpts{DepthRadius: 0, Bias: 1, Alpha: 0.3, Beta: 0.75}),
		// In place: the LRN overwrites its dead input (no gradient, which would
		// keep it).
		Case{Name: "InPlace", NoGrad: true, In: []In{{Shape: []int{3, 5, 5, 64}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.LocalResponseNorm(graph.Scale(in[0], 2), cifar)
			}},
		// The ReLU-fused gradient (LocalResponseNormReluGrad) behind a conv.
		Case{Name: "ConvReluLRN", Tol: convTol, In: []In{{Shape: []int{2, 8, 8, 3}}, {Shape: []int{3, 3, 3, 64}}, {Shape: []int{64}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				y := graph.Conv2DBiasAct(in[0], in[1], in[2], graph.ReluAct, graph.Conv2DOpts{Padding: graph.Same})
				return graph.LocalResponseNorm(y, cifar)
			}},
	)
}

func bnCase(name string, x []int, training bool) Case {
	c := x[len(x)-1]
	return Case{Name: name, Training: training, Tol: 1e-4,
		In: []In{{Shape: x, Lo: -2, Hi: 3}, {Shape: []int{c}, Lo: 0.5, Hi: 2}, {Shape: []int{c}},
			{Shape: []int{c}, NoGrad: true}, {Shape: []int{c}, Lo: 0.5, Hi: 2, NoGrad: true}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.BatchNorm(in[0], in[1], in[2], in[3], in[4], graph.BatchNormOpts{})
		}}
}

func TestBatchNorm(t *testing.T) {
	var cases []Case
	for _, training := range []bool{true, false} {
		k := "Inference"
		if training {
			k = "Training"
		}
		cases = append(cases,
			bnCase(k+"Dense", []int{128, 37}, training),
			bnCase(k+"Conv", []int{4, 9, 9, 64}, training),
			bnCase(k+"Tall", []int{9001, 3}, training),
			bnCase(k+"OneRow", []int{1, 5}, training),
		)
	}
	// The moving averages, updated by every training step, compared after it.
	for _, x := range [][]int{{64, 13}, {3, 7, 7, 33}} {
		x := x
		cases = append(cases, Case{Name: "MovingAverages" + nnShape(x), Training: true, Update: true, Tol: 1e-5,
			In: []In{{Shape: x, Lo: -1, Hi: 4}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.BatchNormalization(in[0], "bn", graph.BatchNormOpts{Momentum: 0.9})
			}})
	}
	Run(t, cases...)
}

func TestLayerNorm(t *testing.T) {
	ln := func(x []int) Case {
		c := x[len(x)-1]
		return Case{Name: nnShape(x), Tol: 1e-4, In: []In{{Shape: x, Lo: -2, Hi: 3}, {Shape: []int{c}}, {Shape: []int{c}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.LayerNorm(in[0], in[1], in[2], 0) }}
	}
	Run(t, ln([]int{1, 7}), ln([]int{128, 384}), ln([]int{3, 5, 1001}), ln([]int{2000, 3}),
		Case{Name: "InPlace", NoGrad: true, Tol: 1e-4, In: []In{{Shape: []int{33, 65}}, {Shape: []int{65}}, {Shape: []int{65}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.LayerNorm(graph.Scale(in[0], 2), in[1], in[2], 1e-5)
			}})
}
