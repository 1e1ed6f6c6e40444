package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// Parity of ops_lstm.go: LSTMCell and its fused gradient LSTMCellGrad, the
// sequence op LSTM and LSTMGrad (per-step cuBLAS products and one gate kernel
// per step), PackedPart (the views of the gradients). The harness's loss weighs
// all seven output slots, so every slot of dy reaches the backward kernels.

// lstmTol: exponentials and products summed in another order than the CPU's.
const lstmTol = 1e-4

// cellIn is the inputs of LSTMCell for batch b, input size i, hidden size h.
func cellIn(b, i, h int) []In {
	return []In{{Shape: []int{b, i}}, {Shape: []int{b, h}}, {Shape: []int{b, h}},
		{Shape: []int{i + h, 4 * h}, Lo: -0.5, Hi: 0.5}, {Shape: []int{4 * h}}}
}

// seqIn is the inputs of LSTM for t steps.
func seqIn(t, b, i, h int) []In {
	return append([]In{{Shape: []int{t, b, i}}}, cellIn(b, i, h)[1:]...)
}

// noX marks the first input (x, empty when I = 0) as not differentiated.
func noX(in []In) []In {
	in[0].NoGrad = true
	return in
}

func TestLSTMCell(t *testing.T) {
	cell := func(fb float32) func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.LSTMCell(in[0], in[1], in[2], in[3], in[4], fb)
		}
	}
	Run(t,
		Case{Name: "Small", In: cellIn(3, 5, 7), Build: cell(1), Tol: lstmTol},
		Case{Name: "NoForgetBias", In: cellIn(2, 9, 3), Build: cell(0), Tol: lstmTol},
		// B·H = 1540: several blocks; 4H = 280 columns for the bias sum.
		Case{Name: "Wide", In: cellIn(22, 33, 70), Build: cell(1), Tol: lstmTol},
		// Only h' and c' used (LSTMState views): the other slots' gradients are zero.
		Case{Name: "State", In: cellIn(4, 6, 37), Tol: lstmTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				h, c := graph.LSTMState(graph.LSTMCell(in[0], in[1], in[2], in[3], in[4], 1))
				return graph.Add(h, graph.Mul(c, c))
			}},
		// No input features (I = 0): the recurrent product alone.
		Case{Name: "NoInput", In: noX(cellIn(3, 0, 10)), Build: cell(1), Tol: lstmTol},
		// Two chained cells: the second reads the first's packed output as h and c.
		Case{Name: "Chained", In: cellIn(5, 8, 11), Tol: lstmTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				h, c := graph.LSTMState(graph.LSTMCell(in[0], in[1], in[2], in[3], in[4], 1))
				return graph.LSTMCell(in[0], h, c, in[3], in[4], 1)
			}},
	)
}

func TestLSTMSequence(t *testing.T) {
	seq := func(fb float32) func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.LSTM(in[0], in[1], in[2], in[3], in[4], fb)
		}
	}
	Run(t,
		Case{Name: "OneStep", In: seqIn(1, 3, 5, 7), Build: seq(1), Tol: lstmTol},
		Case{Name: "ThreeSteps", In: seqIn(3, 4, 6, 9), Build: seq(0), Tol: lstmTol},
		// T·B·H = 7·20·33 and T·B = 140 rows for the bias sum.
		Case{Name: "Long", In: seqIn(7, 20, 17, 33), Build: seq(1), Tol: lstmTol},
		// PTB's shape, scaled down: hidden 200 is wider than a block.
		Case{Name: "PTBLike", In: seqIn(5, 6, 200, 200), Build: seq(1), Tol: lstmTol},
		Case{Name: "NoInput", In: noX(seqIn(3, 2, 0, 10)), Build: seq(1), Tol: lstmTol},
		// The views LSTMOutputs gives: all hidden states and the final state.
		Case{Name: "Outputs", In: seqIn(4, 3, 5, 13), Tol: lstmTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				hs, h, c := graph.LSTMOutputs(graph.LSTM(in[0], in[1], in[2], in[3], in[4], 1))
				return graph.Add(graph.ReduceSum(hs), graph.ReduceSum(graph.Mul(h, c)))
			}},
	)
}

// The LSTM layer runs BatchZeros (its zero state), a transpose and the fused
// sequence op; its weights are variables, so the gradient checked is the
// input's.
func TestLSTMLayer(t *testing.T) {
	Run(t,
		Case{Name: "Layer", In: []In{{Shape: []int{6, 5, 11}}}, Tol: lstmTol,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return layers.LSTM(layers.InputNode("x", in[0]), "lstm", 19).Output()
			}},
	)
}

// Two stacked LSTMs trained one SGD step per round (PTB's shape, scaled down):
// the variables after each step must agree.
func TestLSTMTrainStep(t *testing.T) {
	const steps, batch, in, hid = 6, 4, 10, 24
	Run(t, Case{Name: "TwoLayers", Update: true, Tol: lstmTol,
		In: []In{{Shape: []int{steps, batch, in}}, {Shape: []int{batch, hid}}, {Shape: []int{batch, hid}}},
		Build: func(g *graph.Graph, x []*graph.Node) *graph.Node {
			w1 := g.Variable("w1", tensor.Uniform(-0.3, 0.3), in+hid, 4*hid)
			b1 := g.Variable("b1", tensor.Uniform(-0.1, 0.1), 4*hid)
			w2 := g.Variable("w2", tensor.Uniform(-0.3, 0.3), 2*hid, 4*hid)
			b2 := g.Variable("b2", tensor.Uniform(-0.1, 0.1), 4*hid)
			hs1, _, _ := graph.LSTMOutputs(graph.LSTM(x[0], x[1], x[2], w1, b1, 1))
			hs2, h, c := graph.LSTMOutputs(graph.LSTM(hs1, x[1], x[2], w2, b2, 0))
			loss := graph.Add(graph.ReduceSum(graph.Mul(hs2, hs2)), graph.ReduceSum(graph.Mul(h, c)))
			up, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss, w1, b1, w2, b2)
			if err != nil {
				panic(err)
			}
			return up
		}})
}
