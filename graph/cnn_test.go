package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// cifarNet builds the CNN of the paper's CIFAR-10 benchmark (TensorFlow's
// CIFAR-10 tutorial) and its SGD step:
//
//	24x24x3 ─ conv 5x5x64 SAME + ReLU ─ maxpool 3x3/2 SAME ─ LRN ─
//	conv 5x5x64 SAME + ReLU ─ LRN ─ maxpool 3x3/2 SAME ─ dense 384 ReLU ─
//	dense 192 ReLU ─ dense 10 ─ softmax cross-entropy
//
// LRN is depth_radius 4, bias 1, alpha 0.001/9, beta 0.75; without lrn the two
// LRN layers are left out.
func cifarNet(t testing.TB, lrn bool) (g *graph.Graph, x, y, loss, step *graph.Node) {
	g = graph.New(1)
	x = g.Placeholder("images", tensor.Float32, -1, 24, 24, 3)
	y = g.Placeholder("labels", tensor.Int32, -1)
	same := graph.Conv2DOpts{Padding: graph.Same}
	pool := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
	norm := func(h *graph.Node) *graph.Node {
		if !lrn {
			return h
		}
		return graph.LocalResponseNorm(h, graph.LRNOpts{DepthRadius: 4, Bias: 1, Alpha: 0.001 / 9, Beta: 0.75})
	}
	h := graph.Conv2DBiasAct(x, g.Variable("conv1/w", tensor.TruncatedNormal(0, 5e-2), 5, 5, 3, 64),
		g.Variable("conv1/b", tensor.Zeros(), 64), graph.ReluAct, same)
	h = norm(graph.MaxPool2D(h, pool))
	h = graph.Conv2DBiasAct(h, g.Variable("conv2/w", tensor.TruncatedNormal(0, 5e-2), 5, 5, 64, 64),
		g.Variable("conv2/b", tensor.Constant(0.1), 64), graph.ReluAct, same)
	h = graph.MaxPool2D(norm(h), pool)
	h = graph.Reshape(h, -1, 6*6*64)
	dense := func(h *graph.Node, name string, in, out int, std float64, act graph.Activation) *graph.Node {
		w := g.Variable(name+"/w", tensor.TruncatedNormal(0, std), in, out)
		b := g.Variable(name+"/b", tensor.Constant(0.1), out)
		return graph.BiasAct(graph.MatMul(h, w), b, act)
	}
	h = dense(h, "local3", 6*6*64, 384, 0.04, graph.ReluAct)
	h = dense(h, "local4", 384, 192, 0.04, graph.ReluAct)
	logits := dense(h, "softmax", 192, 10, 1/192.0, graph.Identity)
	loss = graph.SparseSoftmaxCrossEntropy(logits, y)
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.05), loss)
	if err != nil {
		t.Fatal(err)
	}
	return g, x, y, loss, step
}

// cifarBatch is synthetic data of the real shapes: images whose mean brightness
// depends on the label, so that a few steps can learn something.
func cifarBatch(n int, seed uint64) (*tensor.Tensor, *tensor.Tensor) {
	x := tensor.New(tensor.Float32, n, 24, 24, 3)
	tensor.Normal(0, 1).Init(x, tensor.NewRand(seed))
	y := tensor.New(tensor.Int32, n)
	rng := tensor.NewRand(seed + 1)
	per := 24 * 24 * 3
	for i := range n {
		c := int32(rng.IntN(10))
		y.Int32s()[i] = c
		for j := range per {
			x.Float32s()[i*per+j] += float32(c)*0.2 - 1
		}
	}
	return x, y
}

// TestCIFARStepLearnsAndAllocatesNothing is issue 2's headline: a training step
// of the CIFAR-10 CNN through an Executor allocates nothing after the first.
func TestCIFARStepLearnsAndAllocatesNothing(t *testing.T) {
	for _, lrn := range []bool{true, false} {
		t.Run(fmt.Sprintf("lrn=%v", lrn), func(t *testing.T) {
			g, x, y, loss, step := cifarNet(t, lrn)
			e, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			xt, yt := cifarBatch(8, 1)
			feeds := []graph.Feed{{Node: x, Value: xt}, {Node: y, Value: yt}}
			out, err := e.Run(feeds...)
			if err != nil {
				t.Fatal(err)
			}
			first := out[0].At()
			for i := 0; i < 30; i++ {
				if out, err = e.Run(feeds...); err != nil {
					t.Fatal(err)
				}
			}
			last := out[0].At()
			if !(last < first/2) || math.IsNaN(last) {
				t.Fatalf("loss went from %v to %v in 30 steps on one batch: the step does not learn", first, last)
			}
			allocs := testing.AllocsPerRun(5, func() {
				if _, err := e.Run(feeds...); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 && !raceDetector {
				t.Fatalf("a CIFAR-10 training step allocated %.1f times, want 0", allocs)
			}
			p, _ := e.Plan(feeds...)
			planned, naive := p.MemoryBytes()
			t.Logf("loss %.3f -> %.3f; planned memory %.1f MB (%.1f MB without reuse)", first, last, float64(planned)/1e6, float64(naive)/1e6)
		})
	}
}

// BenchmarkCIFARStep times one SGD step of the CIFAR-10 CNN at batch 128 and
// reports images per second and the process's CPU time per step (the steadier
// figure on a shared machine); run with -benchmem for the bytes allocated per
// step.
func BenchmarkCIFARStep(b *testing.B) {
	for _, lrn := range []bool{true, false} {
		name := "lrn"
		if !lrn {
			name = "nolrn"
		}
		b.Run(name, func(b *testing.B) {
			const batch = 128
			g, x, y, loss, step := cifarNet(b, lrn)
			e, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			xt, yt := cifarBatch(batch, 1)
			feeds := []graph.Feed{{Node: x, Value: xt}, {Node: y, Value: yt}}
			if _, err := e.Run(feeds...); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := e.Run(feeds...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "images/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
