package graph_test

import (
	"fmt"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// BenchmarkConv times the CIFAR-10 CNN's convolutions one op at a time at
// batch 128 (forward with bias and ReLU, the filter gradient, the input
// gradient) and reports GFLOP/s, counting 2·N·OH·OW·KH·KW·C·OC per op.
func BenchmarkConv(b *testing.B) {
	shapes := []struct {
		name      string
		hw, c, oc int
	}{{"conv1", 24, 3, 64}, {"conv2", 12, 64, 64}}
	const batch, k = 128, 5
	for _, s := range shapes {
		for _, op := range []string{"fwd", "filter", "input"} {
			b.Run(fmt.Sprintf("%s/%s", s.name, op), func(b *testing.B) {
				g := graph.New(1)
				same := graph.Conv2DOpts{Padding: graph.Same}
				x := g.Placeholder("x", tensor.Float32, batch, s.hw, s.hw, s.c)
				dy := g.Placeholder("dy", tensor.Float32, batch, s.hw, s.hw, s.oc)
				w := g.Variable("w", tensor.Normal(0, 0.1), k, k, s.c, s.oc)
				bias := g.Variable("b", tensor.Normal(0, 0.1), s.oc)
				var out *graph.Node
				switch op {
				case "fwd":
					out = graph.Conv2DBiasAct(x, w, bias, graph.ReluAct, same)
				case "filter":
					out = graph.Conv2DBackpropFilter(x, dy, w, same)
				default:
					out = graph.Conv2DBackpropInput(dy, w, x, same)
				}
				e, err := g.NewExecutor(graph.Options{}, out)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				rng := tensor.NewRand(1)
				xt := tensor.New(tensor.Float32, batch, s.hw, s.hw, s.c)
				dyt := tensor.New(tensor.Float32, batch, s.hw, s.hw, s.oc)
				tensor.Normal(0, 1).Init(xt, rng)
				tensor.Normal(0, 1).Init(dyt, rng)
				feeds := []graph.Feed{{Node: x, Value: xt}, {Node: dy, Value: dyt}}
				if _, err := e.Run(feeds...); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := e.Run(feeds...); err != nil {
						b.Fatal(err)
					}
				}
				flops := 2.0 * float64(batch*s.hw*s.hw*k*k*s.c*s.oc)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
