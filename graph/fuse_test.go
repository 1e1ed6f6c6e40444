package graph_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

func hasOp(p *graph.Plan, op string) bool {
	for _, n := range p.Nodes() {
		if n.Op().Type() == op {
			return true
		}
	}
	return false
}

// BiasAct(MatMul(x, w), b) runs as one kernel, the bias added inside the
// product, when the product has no other reader and nothing runs between: the
// plan has no MatMul kernel and its result is the unfused one's (the product
// also a target). A kernel between the two, or a second reader, keeps them
// apart. Wide (packed) and narrow (A read in place) products, with and
// without an activation.
func TestDenseProductAndBiasFuse(t *testing.T) {
	for _, c := range []struct {
		n   int
		act graph.Activation
	}{{300, graph.Identity}, {300, graph.ReluAct}, {10, graph.TanhAct}} {
		g := graph.New(1)
		x := g.Placeholder("x", tensor.Float32, -1, 70)
		w := g.Variable("w", tensor.Uniform(-1, 1), 70, c.n)
		b := g.Variable("b", tensor.Uniform(-1, 1), c.n)
		m := graph.MatMul(x, w)
		y := graph.BiasAct(m, b, c.act)
		// The same layer with a kernel between the product and the bias.
		m2 := graph.MatMul(x, w)
		between := graph.Tanh(x)
		y2 := graph.BiasAct(m2, b, c.act)

		shapes := map[*graph.Node]tensor.Shape{x: {33, 70}}
		fusedP, err := g.Compile(graph.Options{}, shapes, y)
		if err != nil {
			t.Fatal(err)
		}
		defer fusedP.Close()
		plainP, err := g.Compile(graph.Options{}, shapes, y, m) // the product is a target
		if err != nil {
			t.Fatal(err)
		}
		defer plainP.Close()
		apartP, err := g.Compile(graph.Options{}, shapes, y2, between)
		if err != nil {
			t.Fatal(err)
		}
		defer apartP.Close()
		if hasOp(fusedP, "MatMul") || !hasOp(plainP, "MatMul") || !hasOp(apartP, "MatMul") {
			t.Fatalf("n=%d: MatMul kernels: fused plan %v, product a target %v, a kernel between %v; want false, true, true",
				c.n, hasOp(fusedP, "MatMul"), hasOp(plainP, "MatMul"), hasOp(apartP, "MatMul"))
		}
		in := tensor.New(tensor.Float32, 33, 70)
		tensor.Uniform(-1, 1).Init(in, tensor.NewRand(2))
		for _, p := range []*graph.Plan{fusedP, plainP, apartP} {
			if err := p.Input(x).CopyFrom(in); err != nil {
				t.Fatal(err)
			}
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
		}
		want := plainP.Outputs()[0].Float32s()
		for name, got := range map[string][]float32{"fused": fusedP.Outputs()[0].Float32s(), "apart": apartP.Outputs()[0].Float32s()} {
			for i, v := range got {
				if math.Abs(float64(v-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("n=%d %s: element %d = %v, unfused %v", c.n, name, i, v, want[i])
				}
			}
		}
	}
}

// A convolution and the pooling after it run as one kernel, chunk by chunk of
// images, when nothing runs between them: the plan has no convolution kernel,
// and the pooled result (and, in training, the convolution's output and every
// gradient) equals that of the same layers kept apart by a view. In training,
// the max pooling's gradient, the filter gradient and the bias gradient below
// it run as one kernel too (kept apart, the view stops the ReLU's mask from
// joining the pooling's gradient, so the group is not formed). Two layers,
// so that the second convolution reads the first pooling's output, whose
// memory must not be handed to the second pooling's; max and average pooling;
// chunks of one image (the first convolution) and of several (the second).
func TestConvAndPoolFuse(t *testing.T) {
	for _, tc := range []struct{ training, withC1, max2 bool }{{false, false, false}, {true, true, false}, {true, false, false}, {true, false, true}, {false, false, true}} {
		training := tc.training
		g := graph.New(1)
		const n, hw = 5, 9
		x := g.Placeholder("x", tensor.Float32, -1, hw, hw, 3)
		w1 := g.Variable("w1", tensor.Uniform(-0.5, 0.5), 3, 3, 3, 16)
		b1 := g.Variable("b1", tensor.Uniform(-0.2, 0.2), 16)
		w2 := g.Variable("w2", tensor.Uniform(-0.3, 0.3), 3, 3, 16, 12)
		b2 := g.Variable("b2", tensor.Uniform(-0.2, 0.2), 12)
		conv := graph.Conv2DOpts{Padding: graph.Same}
		max3 := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
		avg2 := graph.PoolOpts{Size: [2]int{2, 2}}
		// apart puts a view (a reshape to the same shape) between each
		// convolution and its pooling.
		build := func(apart bool) (out, c1 *graph.Node) {
			sep := func(v *graph.Node) *graph.Node {
				if apart {
					return graph.Reshape(v, v.Shape()...)
				}
				return v
			}
			c1 = graph.Conv2DBiasAct(x, w1, b1, graph.ReluAct, conv)
			p1 := graph.MaxPool2D(sep(c1), max3)
			c2 := graph.Conv2DBiasAct(p1, w2, b2, graph.ReluAct, conv)
			if tc.max2 {
				// The second layer's pooling gradient is then followed
				// by its input gradient: no group there (joined, the
				// input gradient's columns and the filter gradient's,
				// 3.7 MB each a chunk, took the caches from each other:
				// CIFAR's second layer 39 → 42 ms).
				return graph.MaxPool2D(sep(c2), max3), c1
			}
			return graph.AvgPool2D(sep(c2), avg2), c1
		}
		fused, fusedC1 := build(false)
		plain, plainC1 := build(true)
		targets := func(out, c1 *graph.Node) []*graph.Node {
			if !training {
				return []*graph.Node{out}
			}
			gs, err := graph.Gradients(graph.ReduceSum(graph.Mul(out, out)), w1, b1, w2, b2)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.withC1 {
				// The first convolution's output is then read by
				// nothing but its pooling and that pooling's
				// gradient, which routes by the recorded argmax:
				// it is not written.
				return append([]*graph.Node{out}, gs...)
			}
			return append([]*graph.Node{out, c1}, gs...)
		}
		shapes := map[*graph.Node]tensor.Shape{x: {n, hw, hw, 3}}
		in := tensor.New(tensor.Float32, n, hw, hw, 3)
		tensor.Uniform(-1, 1).Init(in, tensor.NewRand(5))
		var outs [2][]*tensor.Tensor
		var planned [2]int64
		for i, tg := range [][]*graph.Node{targets(fused, fusedC1), targets(plain, plainC1)} {
			p, err := g.Compile(graph.Options{Training: training, Threads: 2}, shapes, tg...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if got := hasOp(p, "Conv2DBiasAct"); got != (i == 1) {
				t.Fatalf("training %v, plan %d: a convolution kernel %v, want %v", training, i, got, i == 1)
			}
			if training {
				// The first layer's pooling gradient, filter gradient
				// and bias gradient run as one kernel (the second's
				// pooling is an average: apart).
				filters := 0
				for _, n := range p.Nodes() {
					if n.Op().Type() == "Conv2DBackpropFilter" {
						filters++
					}
				}
				// The second layer's, below an average pooling or after
				// its input gradient, stays apart.
				if fused := filters == 1 && (!hasOp(p, "MaxPoolReluGrad") || tc.max2); fused != (i == 0) {
					t.Fatalf("plan %d: %d filter gradient kernels, a MaxPoolReluGrad kernel %v; want the first layer's fused: %v", i, filters, hasOp(p, "MaxPoolReluGrad"), i == 0)
				}
				if i == 0 {
					if ops := profiledOps(t, p); !slices.Contains(ops, "MaxPoolReluGrad+Conv2DBackpropFilter+BiasGrad") {
						t.Fatalf("profile of the fused training plan by op: %v", ops)
					}
				}
			}
			if err := p.Input(x).CopyFrom(in); err != nil {
				t.Fatal(err)
			}
			// Unless kept, the first convolution's output is never
			// written, and the plan gives it no memory.
			if i == 0 {
				if stored := p.Tensor(fusedC1) != nil; stored != tc.withC1 {
					t.Fatalf("training %v: the first convolution's output has memory: %v, want %v", training, stored, tc.withC1)
				}
			}
			planned[i], _ = p.MemoryBytes()
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			outs[i] = p.Outputs()
			if i == 0 && !training {
				// The profile books the fused kernels to both ops.
				ops := profiledOps(t, p)
				if !slices.Contains(ops, "Conv2DBiasAct+MaxPool2D") || !tc.max2 && !slices.Contains(ops, "Conv2DBiasAct+AvgPool2D") {
					t.Fatalf("profile of the fused plan by op: %v, want Conv2DBiasAct+MaxPool2D and Conv2DBiasAct+AvgPool2D", ops)
				}
			}
		}
		if c1 := int64(n * hw * hw * 16 * 4); !tc.withC1 && planned[0] > planned[1]-c1/2 {
			// The first convolution's output, 16 channels of 9×9 a
			// image, is the biggest value: without it the plan holds
			// much less (at least half of it less: the slabs are
			// shared, so not all of it).
			t.Fatalf("training %v: fused plan %d bytes, apart %d; want at least %d less", training, planned[0], planned[1], c1/2)
		}
		for k := range outs[0] {
			got, want := outs[0][k].Float32s(), outs[1][k].Float32s()
			nonzero := false
			for i, v := range got {
				nonzero = nonzero || v != 0
				if math.Abs(float64(v-want[i])) > 1e-5*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("training %v, target %d: element %d = %v, apart %v", training, k, i, v, want[i])
				}
			}
			if !nonzero {
				t.Fatalf("training %v, target %d: all zeros", training, k)
			}
		}
	}
}

// profiledOps runs one step of p under its profile and returns the op types
// the time was booked to.
func profiledOps(t *testing.T, p *graph.Plan) []string {
	t.Helper()
	prof, err := p.Profile()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, o := range prof.ByOp() {
		ops = append(ops, o.Op)
	}
	return ops
}
