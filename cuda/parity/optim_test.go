package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// Parity of the optimizers' updates (optim/kernels.go, optim.go,
// optimizers.go): each case applies a fed gradient to a variable, and the
// harness compares every variable (weights, slots, learning rate, step) after
// each of its three rounds, so slots carry over between steps. Dense cases feed
// the gradient; sparse ones feed indices with many repeats (the device sums
// repeated rows with atomicAdd, in another order than the CPU: rounding only)
// and the rows' values.

const optimTol = 1e-5

// newOpt makes an optimizer on g.
type newOpt func(g *graph.Graph) optim.Optimizer

var optimizers = []struct {
	name string
	make newOpt
}{
	{"SGD", func(g *graph.Graph) optim.Optimizer { return optim.NewSGD(g, "sgd", 0.1) }},
	{"Momentum", func(g *graph.Graph) optim.Optimizer { return optim.NewMomentum(g, "mom", 0.1, 0.9, false) }},
	{"Nesterov", func(g *graph.Graph) optim.Optimizer { return optim.NewMomentum(g, "nest", 0.05, 0.8, true) }},
	{"Adam", func(g *graph.Graph) optim.Optimizer { return optim.NewAdam(g, "adam", 0.01, 0.9, 0.999, 1e-8) }},
	{"Adagrad", func(g *graph.Graph) optim.Optimizer { return optim.NewAdagrad(g, "adagrad", 0.1, 0.1, 1e-7) }},
	{"RMSProp", func(g *graph.Graph) optim.Optimizer { return optim.NewRMSProp(g, "rms", 0.01, 0.9, 0.5, 1e-10) }},
	{"RMSPropNoMomentum", func(g *graph.Graph) optim.Optimizer { return optim.NewRMSProp(g, "rms0", 0.01, 0.9, 0, 1e-10) }},
}

// denseCase applies a fed gradient of shape to a variable of that shape.
func denseCase(name string, mk newOpt, shape ...int) Case {
	return Case{Name: name, Update: true, Tol: optimTol, In: []In{{Shape: shape}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			v := g.Variable("w", tensor.Uniform(-1, 1), shape...)
			up, err := mk(g).Apply([]*graph.Node{in[0]}, []*graph.Node{v})
			if err != nil {
				panic(err)
			}
			return up
		}}
}

// sparseCase applies n rows of a gradient, indices in [0, rows), to a variable
// (rows, width).
func sparseCase(name string, mk newOpt, n, rows, width int) Case {
	return Case{Name: name, Update: true, Tol: optimTol, In: []In{{Shape: []int{n}, Int: rows}, {Shape: []int{n, width}}},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			v := g.Variable("emb", tensor.Uniform(-1, 1), rows, width)
			gr := graph.IndexedSlices(in[0], in[1], tensor.Shape{rows, width})
			up, err := mk(g).Apply([]*graph.Node{gr}, []*graph.Node{v})
			if err != nil {
				panic(err)
			}
			return up
		}}
}

func TestOptimDense(t *testing.T) {
	var cases []Case
	for _, o := range optimizers {
		cases = append(cases,
			denseCase(o.name+"Small", o.make, 7),
			// 9933 elements: many blocks, the last one partly used.
			denseCase(o.name+"Matrix", o.make, 33, 301))
	}
	Run(t, cases...)
}

func TestOptimSparse(t *testing.T) {
	var cases []Case
	for _, o := range optimizers {
		cases = append(cases,
			// 40 slices into 13 rows: every row repeated about three times.
			sparseCase(o.name+"Repeats", o.make, 40, 13, 19),
			// word2vec's update, scaled down: 192 rows of 128 into 5000, some repeated.
			sparseCase(o.name+"Word2VecLike", o.make, 192, 5000, 128),
			// A row narrower than a warp, all slices on 2 rows.
			sparseCase(o.name+"TwoRows", o.make, 9, 2, 3))
	}
	Run(t, cases...)
}

// One word2vec step, scaled down: embedding lookup, NCE loss with fed sampled
// ids, sparse SGD on the embedding and on NCE's weights and biases (rows
// labels then sampled, with repeats); then the same with Adam (lazy).
func TestOptimWord2VecStep(t *testing.T) {
	const vocab, dim, batch, sampled = 300, 32, 24, 16
	step := func(mk newOpt) func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return func(g *graph.Graph, in []*graph.Node) *graph.Node {
			emb := g.Variable("emb", tensor.Uniform(-1, 1), vocab, dim)
			w := g.Variable("nce_w", tensor.Uniform(-0.5, 0.5), vocab, dim)
			b := g.Variable("nce_b", tensor.Zeros(), vocab)
			loss := graph.NCELoss(w, b, graph.Gather(emb, in[0]), in[1], in[2])
			up, err := optim.Minimize(mk(g), loss, emb, w, b)
			if err != nil {
				panic(err)
			}
			return up
		}
	}
	in := []In{{Shape: []int{batch}, Int: vocab}, {Shape: []int{batch}, Int: 40}, {Shape: []int{sampled}, Int: 40}}
	Run(t,
		Case{Name: "SGD", Update: true, Tol: optimTol, In: in, Build: step(optimizers[0].make)},
		Case{Name: "Adam", Update: true, Tol: optimTol, In: in, Build: step(optimizers[3].make)},
	)
}
