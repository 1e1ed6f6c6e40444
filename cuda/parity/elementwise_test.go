package parity

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Parity of ops_elementwise.go (every binary kind under each broadcast pattern,
// every unary kind and its gradient op, MaximumGrad) and ops_dropout.go.

var binaryOps = []struct {
	name string
	f    func(a, b *graph.Node) *graph.Node
}{
	{"Add", graph.Add}, {"Sub", graph.Sub}, {"Mul", graph.Mul}, {"Div", graph.Div}, {"Maximum", graph.Maximum},
}

func TestElementwiseBinary(t *testing.T) {
	patterns := []struct {
		name string
		a, b []int
	}{
		{"Same", []int{3, 347}, []int{3, 347}},
		{"Large", []int{70001}, []int{70001}},
		{"Bias", []int{300, 37}, []int{37}},
		{"BiasRank3", []int{4, 9, 37}, []int{1, 37}},
		{"BiasA", []int{37}, []int{300, 37}},
		{"ScalarB", []int{5, 301}, []int{1}},
		{"ScalarA", []int{1}, []int{5, 301}},
		{"Column", []int{300, 37}, []int{300, 1}},
		{"Channels", []int{4, 5, 9, 11}, []int{1, 5, 1, 1}},
		{"Outer", []int{37, 1}, []int{1, 41}},
		{"BothWays", []int{3, 1, 7, 1}, []int{1, 5, 1, 9}},
		{"LowerRankA", []int{9}, []int{4, 9}},
		{"Alternate", []int{3, 6, 4, 7, 5}, []int{3, 1, 4, 1, 5}},
		{"Rank7", []int{2, 1, 3, 1, 2, 1, 3}, []int{1, 3, 1, 2, 1, 3, 1}},
	}
	var cases []Case
	for _, op := range binaryOps {
		for _, p := range patterns {
			f := op.f
			in := []In{{Shape: p.a}, {Shape: p.b}}
			if op.name == "Div" { // keep divisors away from zero
				in[1].Lo, in[1].Hi = 0.5, 2
			}
			// A scalar's gradient sums a whole tensor of mixed signs: it cancels,
			// and its relative error reflects the order of the additions.
			tol := 1e-5
			if size(p.a) == 1 || size(p.b) == 1 {
				tol = 1e-4
			}
			cases = append(cases, Case{Name: op.name + p.name, In: in, Tol: tol,
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0], in[1]) }})
		}
	}
	// Ties go to a in Maximum's gradient (MaximumGrad's a >= b).
	cases = append(cases, Case{Name: "MaximumTies", In: []In{{Shape: []int{3, 300}}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Maximum(in[0], graph.Relu(in[0]))
		}})
	// In place: an op whose first input dies at it may overwrite it.
	cases = append(cases, Case{Name: "Chain", In: []In{{Shape: []int{7, 129}}, {Shape: []int{129}}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			x := graph.Add(graph.Scale(in[0], 2), in[1])
			x = graph.Mul(graph.Sub(x, in[1]), in[1])
			return graph.Maximum(graph.Neg(x), in[1])
		}})
	Run(t, cases...)
}

func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func TestElementwiseUnary(t *testing.T) {
	un := []struct {
		name   string
		f      func(x *graph.Node) *graph.Node
		lo, hi float32
	}{
		{"Neg", graph.Neg, 0, 0},
		{"Relu", graph.Relu, 0, 0},
		{"LeakyRelu", func(x *graph.Node) *graph.Node { return graph.LeakyRelu(x, 0.2) }, 0, 0},
		{"Elu", graph.Elu, -3, 3},
		{"Sigmoid", graph.Sigmoid, -8, 8},
		{"Tanh", graph.Tanh, -4, 4},
		{"Softplus", graph.Softplus, -20, 20},
		{"Exp", graph.Exp, -5, 5},
		{"Log", graph.Log, 0.01, 10},
		{"Sqrt", graph.Sqrt, 0.01, 10},
		{"Square", graph.Square, 0, 0},
		{"Scale", func(x *graph.Node) *graph.Node { return graph.Scale(x, -1.75) }, 0, 0},
		{"Abs", graph.Abs, 0, 0},
	}
	var cases []Case
	for _, u := range un {
		for _, shape := range [][]int{{1}, {3, 257}, {70001}} {
			f := u.f
			cases = append(cases, Case{Name: u.name, In: []In{{Shape: shape, Lo: u.lo, Hi: u.hi}},
				Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return f(in[0]) }})
		}
	}
	Run(t, cases...)
}

// TestElementwiseUnaryGradGrad differentiates twice, so that a gradient op
// (ReluGrad, ...) is itself differentiated.
func TestElementwiseUnaryGradGrad(t *testing.T) {
	var cases []Case
	for _, u := range []struct {
		name string
		f    func(x *graph.Node) *graph.Node
	}{{"Relu", graph.Relu}, {"Tanh", graph.Tanh}, {"Sigmoid", graph.Sigmoid}, {"Abs", graph.Abs}, {"Elu", graph.Elu}} {
		f := u.f
		// No gradient flows to x through the gradient op's y (x for Abs).
		cases = append(cases, Case{Name: u.name, In: []In{{Shape: []int{5, 61}, NoGrad: true}, {Shape: []int{5, 61}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				y := graph.Mul(f(in[0]), in[1])
				gs, err := graph.Gradients(graph.ReduceSum(y), in[0])
				if err != nil {
					t.Fatal(err)
				}
				return gs[0]
			}})
	}
	Run(t, cases...)
}

func TestElementwiseDropout(t *testing.T) {
	const keep, n = 0.7, 1 << 16
	var prev *tensor.Tensor
	check := func(t *testing.T, cpu, dev []*tensor.Tensor) {
		d := dev[0].Float32s()
		kept := 0
		for i, v := range d {
			switch v {
			case 1 / float32(keep):
				kept++
			case 0:
			default:
				t.Fatalf("element %d = %g, want 0 or 1/keep = %g", i, v, 1/float32(keep))
			}
		}
		// The kept fraction within 5 standard errors of keep.
		frac := float64(kept) / float64(len(d))
		if se := math.Sqrt(keep * (1 - keep) / float64(len(d))); math.Abs(frac-keep) > 5*se {
			t.Errorf("kept %.4f of %d, want %.2f ± %.4f", frac, len(d), keep, 5*se)
		}
		if prev != nil {
			same := 0
			for i, v := range d {
				if prev.Float32s()[i] == v {
					same++
				}
			}
			// Independent masks agree on keep²+(1-keep)² = 58% of elements.
			if same > len(d)*3/4 {
				t.Errorf("two runs' masks agree on %d of %d elements: not redrawn", same, len(d))
			}
		}
		prev = dev[0]
	}
	Run(t,
		Case{Name: "Training", Training: true, NoGrad: true, In: []In{{Shape: []int{n + 7}, NoGrad: true}}, Check: check,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.DropoutMask(in[0], keep) }},
		// Outside training, and with keep 1, the mask is ones.
		Case{Name: "Inference", NoGrad: true, In: []In{{Shape: []int{3, 301}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.DropoutMask(in[0], keep) }},
		Case{Name: "KeepAll", Training: true, NoGrad: true, In: []In{{Shape: []int{3, 301}, NoGrad: true}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.DropoutMask(in[0], 1) }},
		// Outside training a dropout is a view of its input: no kernel runs,
		// on the device as on the CPU; as a target and inside a network.
		Case{Name: "DropoutInference", NoGrad: true, In: []In{{Shape: []int{5, 301}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Dropout(in[0], keep) }},
		Case{Name: "DropoutInferenceInside", NoGrad: true, In: []In{{Shape: []int{5, 301}}},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.Tanh(graph.Dropout(graph.Relu(graph.Dropout(in[0], keep)), keep))
			}},
		// Dropout's gradient goes through the same mask as its output: y/x = dx/dy
		// = mask on the device's own run.
		Case{Name: "DropoutGradient", Training: true, In: []In{{Shape: []int{9, 301}, Lo: 0.5, Hi: 2}},
			Check: func(t *testing.T, cpu, dev []*tensor.Tensor) {
				// dev: y, dL/dx (= w·mask, w the harness's random weights); check
				// that dx is zero exactly where y is.
				y, dx := dev[0].Float32s(), dev[1].Float32s()
				for i := range y {
					if (y[i] == 0) != (dx[i] == 0) {
						t.Fatalf("element %d: y %g, dx %g: the gradient's mask differs from the output's", i, y[i], dx[i])
					}
				}
			},
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Dropout(in[0], keep) }},
	)
}
