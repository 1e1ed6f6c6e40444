package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
)

// Parity of ops_conv.go (Conv2D and Conv1D with and without the fused bias and
// activation, their input and filter gradients, the bias gradient, the
// activation gradients, the transposed convolutions) and ops_pool.go (max and
// average pooling, 2-D and 1-D, their gradients, the ReLU-fused max-pool
// gradient, ties).

// convTol: the products sum up to KH·KW·C terms in another order than the CPU.
const convTol = 1e-5

func conv2D(name string, x, w []int, o graph.Conv2DOpts) Case {
	return Case{Name: name, In: []In{{Shape: x}, {Shape: w}}, Tol: convTol,
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Conv2D(in[0], in[1], o) }}
}

func TestConv2D(t *testing.T) {
	same, valid := graph.Same, graph.Valid
	Run(t,
		conv2D("Cifar1", []int{2, 24, 24, 3}, []int{5, 5, 3, 64}, graph.Conv2DOpts{Padding: same}),
		conv2D("Cifar2", []int{2, 12, 12, 64}, []int{5, 5, 64, 64}, graph.Conv2DOpts{Padding: same}),
		conv2D("Valid", []int{3, 9, 11, 5}, []int{3, 2, 5, 7}, graph.Conv2DOpts{}),
		conv2D("Strided", []int{2, 13, 10, 3}, []int{3, 3, 3, 33}, graph.Conv2DOpts{Strides: [2]int{2, 3}, Padding: same}),
		conv2D("StridedValid", []int{2, 13, 10, 3}, []int{3, 3, 3, 4}, graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: valid}),
		conv2D("Dilated", []int{2, 11, 12, 4}, []int{3, 2, 4, 5}, graph.Conv2DOpts{Dilations: [2]int{2, 3}, Padding: same}),
		conv2D("DilatedValid", []int{1, 11, 12, 4}, []int{2, 3, 4, 5}, graph.Conv2DOpts{Dilations: [2]int{3, 2}}),
		conv2D("Pointwise", []int{3, 7, 9, 37}, []int{1, 1, 37, 19}, graph.Conv2DOpts{}),
		conv2D("PointwiseStrided", []int{2, 7, 9, 5}, []int{1, 1, 5, 6}, graph.Conv2DOpts{Strides: [2]int{2, 2}}),
		conv2D("BigWindow", []int{2, 4, 5, 3}, []int{5, 6, 3, 2}, graph.Conv2DOpts{Padding: same}),
	)
}

func TestConv2DBiasAct(t *testing.T) {
	var cases []Case
	for _, a := range nnActs {
		a := a
		cases = append(cases, Case{Name: a.String(), Tol: convTol,
			In: []In{{Shape: []int{2, 10, 9, 3}}, {Shape: []int{3, 3, 3, 37}}, {Shape: []int{37}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv2DBiasAct(in[0], in[1], in[2], a, graph.Conv2DOpts{Padding: graph.Same, Strides: [2]int{2, 1}})
			}},
			Case{Name: a.String() + "Pointwise", Tol: convTol,
				In: []In{{Shape: []int{2, 5, 9, 6}}, {Shape: []int{1, 1, 6, 11}}, {Shape: []int{11}}},
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
					return graph.Conv2DBiasAct(in[0], in[1], in[2], a, graph.Conv2DOpts{})
				}})
	}
	Run(t, cases...)
}

func TestConv1D(t *testing.T) {
	c1 := func(name string, x, w []int, o graph.Conv1DOpts) Case {
		return Case{Name: name, In: []In{{Shape: x}, {Shape: w}}, Tol: convTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Conv1D(in[0], in[1], o) }}
	}
	Run(t,
		c1("Valid", []int{3, 40, 5}, []int{3, 5, 7}, graph.Conv1DOpts{}),
		c1("Same", []int{2, 41, 6}, []int{4, 6, 9}, graph.Conv1DOpts{Padding: graph.Same, Stride: 2}),
		c1("Dilated", []int{2, 41, 6}, []int{3, 6, 9}, graph.Conv1DOpts{Padding: graph.Same, Dilation: 3}),
		Case{Name: "BiasTanh", In: []In{{Shape: []int{2, 33, 4}}, {Shape: []int{5, 4, 8}}, {Shape: []int{8}}}, Tol: convTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv1DBiasAct(in[0], in[1], in[2], graph.TanhAct, graph.Conv1DOpts{Padding: graph.Same})
			}},
	)
}

func TestConvBackprop(t *testing.T) {
	o := graph.Conv2DOpts{Padding: graph.Same, Strides: [2]int{2, 2}}
	Run(t,
		// The gradient ops as ops of their own, with their own gradients.
		Case{Name: "Input", Tol: convTol, In: []In{{Shape: []int{2, 5, 6, 7}}, {Shape: []int{3, 3, 4, 7}}, {Shape: []int{2, 9, 11, 4}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv2DBackpropInput(in[0], in[1], in[2], o)
			}},
		Case{Name: "Filter", Tol: convTol, In: []In{{Shape: []int{2, 9, 11, 4}}, {Shape: []int{2, 5, 6, 7}}, {Shape: []int{3, 3, 4, 7}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv2DBackpropFilter(in[0], in[1], in[2], o)
			}},
		Case{Name: "Transpose", Tol: convTol, In: []In{{Shape: []int{2, 5, 6, 7}}, {Shape: []int{3, 3, 4, 7}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Conv2DTranspose(in[0], in[1], o) }},
		Case{Name: "TransposeValid", Tol: convTol, In: []In{{Shape: []int{2, 5, 6, 7}}, {Shape: []int{2, 3, 4, 7}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv2DTranspose(in[0], in[1], graph.Conv2DOpts{Strides: [2]int{3, 2}, Dilations: [2]int{1, 2}})
			}},
		Case{Name: "Transpose1D", Tol: convTol, In: []In{{Shape: []int{2, 17, 5}}, {Shape: []int{4, 3, 5}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv1DTranspose(in[0], in[1], graph.Conv1DOpts{Stride: 2, Padding: graph.Same})
			}},
		Case{Name: "PointwiseFilter", Tol: convTol, In: []In{{Shape: []int{3, 4, 5, 6}}, {Shape: []int{3, 4, 5, 7}}, {Shape: []int{1, 1, 6, 7}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Conv2DBackpropFilter(in[0], in[1], in[2], graph.Conv2DOpts{})
			}},
	)
}

func TestPool(t *testing.T) {
	p2 := func(name string, max bool, x []int, o graph.PoolOpts) Case {
		f := graph.AvgPool2D
		if max {
			f = graph.MaxPool2D
		}
		return Case{Name: name, In: []In{{Shape: x}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0], o) }}
	}
	p1 := func(name string, max bool, x []int, o graph.Pool1DOpts) Case {
		f := graph.AvgPool1D
		if max {
			f = graph.MaxPool1D
		}
		return Case{Name: name, In: []In{{Shape: x}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0], o) }}
	}
	cifar := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
	var cases []Case
	for _, max := range []bool{true, false} {
		k := "Avg"
		if max {
			k = "Max"
		}
		cases = append(cases,
			p2(k+"Cifar", max, []int{2, 24, 24, 64}, cifar),
			p2(k+"Cifar2", max, []int{3, 12, 12, 37}, cifar),
			p2(k+"Valid", max, []int{2, 9, 10, 5}, graph.PoolOpts{Size: [2]int{3, 2}}),
			p2(k+"Overlap", max, []int{2, 9, 10, 5}, graph.PoolOpts{Size: [2]int{4, 3}, Strides: [2]int{1, 2}, Padding: graph.Same}),
			p2(k+"BigWindow", max, []int{1, 3, 4, 3}, graph.PoolOpts{Size: [2]int{5, 5}, Strides: [2]int{1, 1}, Padding: graph.Same}),
			p1(k+"1D", max, []int{3, 31, 6}, graph.Pool1DOpts{Size: 3, Stride: 2, Padding: graph.Same}),
			p1(k+"1DValid", max, []int{3, 31, 6}, graph.Pool1DOpts{Size: 4}),
		)
	}
	// Ties: an input of 0.5 everywhere (Lo = Hi) ties every window, and its
	// maximum with a random one ties some; the gradient goes to the first
	// maximum of each window, a position the gradient of the constant input shows.
	tied := In{Shape: []int{2, 11, 11, 9}, Lo: 0.5, Hi: 0.5}
	cases = append(cases, Case{Name: "MaxAllTied", In: []In{tied},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.MaxPool2D(in[0], cifar) }},
		Case{Name: "MaxSomeTied", In: []In{{Shape: tied.Shape}, tied},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.MaxPool2D(graph.Maximum(in[0], in[1]), graph.PoolOpts{Size: [2]int{3, 2}, Strides: [2]int{1, 2}, Padding: graph.Same})
			}},
		// The ReLU-fused max-pool gradient (MaxPoolReluGrad) behind a conv.
		Case{Name: "ConvReluMaxPool", Tol: convTol, In: []In{{Shape: []int{2, 12, 12, 3}}, {Shape: []int{3, 3, 3, 16}}, {Shape: []int{16}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				y := graph.Conv2DBiasAct(in[0], in[1], in[2], graph.ReluAct, graph.Conv2DOpts{Padding: graph.Same})
				return graph.MaxPool2D(y, cifar)
			}})
	Run(t, cases...)
}

// TestConvChunked: an im2col matrix over the device's bound (2^25 floats), so
// that the forward and both gradients run as several products over chunks of
// images.
func TestConvChunked(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: a 140 MB im2col (about 40 s on the emulator)")
	}
	Run(t, conv2D("Chunked", []int{27, 64, 64, 4}, []int{9, 9, 4, 2}, graph.Conv2DOpts{Padding: graph.Same}))
}
