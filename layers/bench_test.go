package layers_test

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// The paper's Table 1 claim, at small scale: a network built with layers runs
// the same graph as one written against the engine, so a training step costs
// the same. Compare BenchmarkMLPStep/layers with BenchmarkMLPStep/graph.
func BenchmarkMLPStep(b *testing.B) {
	const batch, in, hidden, classes = 64, 784, 512, 10
	build := map[string]func(g *graph.Graph) (x, logits *graph.Node){
		"layers": func(g *graph.Graph) (*graph.Node, *graph.Node) {
			x := layers.Input(g, "x", -1, in)
			net := layers.Dense(x, "fc1", hidden, layers.ReLU)
			net = layers.Dense(net, "fc2", hidden, layers.ReLU)
			net = layers.Dense(net, "out", classes)
			return x.Output(), net.Output()
		},
		"graph": func(g *graph.Graph) (*graph.Node, *graph.Node) {
			x := g.Placeholder("x", tensor.Float32, -1, in)
			h := x
			for i, n := range []int{in, hidden, hidden} {
				units := hidden
				if i == 2 {
					units = classes
				}
				w := g.Variable([]string{"fc1", "fc2", "out"}[i]+"/W", tensor.GlorotUniform(), n, units)
				bias := g.Variable([]string{"fc1", "fc2", "out"}[i]+"/b", tensor.Zeros(), units)
				act := graph.ReluAct
				if i == 2 {
					act = graph.Identity
				}
				h = graph.BiasAct(graph.MatMul(h, w), bias, act)
			}
			return x, h
		},
	}
	for _, name := range []string{"layers", "graph"} {
		b.Run(name, func(b *testing.B) {
			g := graph.New(1)
			x, logits := build[name](g)
			y := g.Placeholder("y", tensor.Int32, -1)
			loss := graph.SparseSoftmaxCrossEntropy(logits, y)
			step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.01), loss)
			if err != nil {
				b.Fatal(err)
			}
			e, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			labels := tensor.New(tensor.Int32, batch)
			feeds := []graph.Feed{{Node: x, Value: rnd(1, batch, in)}, {Node: y, Value: labels}}
			if _, err := e.Run(feeds...); err != nil { // compile the plan
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.Run(feeds...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
