package graph_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

func ints(v ...int32) *tensor.Tensor {
	t, _ := tensor.FromInt32(v, len(v))
	return t
}

func softplus64(z float64) float64 { return math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z))) }

// nceRef is TensorFlow's nce_loss (one true class, log-uniform sampler with
// replacement, accidental hits kept), mean over the batch, in float64.
func nceRef(w, b, x []float32, lab, smp []int32, v, d int) float64 {
	bs, s := len(lab), len(smp)
	logit := func(r int, k int32) float64 {
		z := float64(b[k])
		for j := 0; j < d; j++ {
			z += float64(x[r*d+j]) * float64(w[int(k)*d+j])
		}
		return z - math.Log(float64(s)*graph.LogUniformProb(int(k), v))
	}
	var loss float64
	for r := 0; r < bs; r++ {
		loss += softplus64(-logit(r, lab[r]))
		for _, k := range smp {
			loss += softplus64(logit(r, k))
		}
	}
	return loss / float64(bs)
}

func TestNCELossForward(t *testing.T) {
	for _, c := range []struct{ v, d, bs int }{{5, 3, 1}, {50, 7, 4}, {1, 2, 3}} {
		g := graph.New(1)
		wt, bt, xt := gradcheck.Rand(1, -1, 1, c.v, c.d), gradcheck.Rand(2, -1, 1, c.v), gradcheck.Rand(3, -1, 1, c.bs, c.d)
		lab := gradcheck.RandInt(4, c.v, c.bs)
		smp := gradcheck.RandInt(5, c.v, 6)
		loss := graph.NCELoss(g.Const(wt), g.Const(bt), g.Const(xt), g.Const(lab), g.Const(smp))
		p, err := g.Compile(graph.Options{}, nil, loss)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		want := nceRef(wt.Float32s(), bt.Float32s(), xt.Float32s(), lab.Int32s(), smp.Int32s(), c.v, c.d)
		if got := p.Outputs()[0].At(); math.Abs(got-want) > 1e-5*math.Max(1, want) {
			t.Errorf("%+v: loss %v, want %v", c, got, want)
		}
		p.Close()
	}
	// By hand: zero weights and biases, V = 1, S = 1: every logit is -log(1·1) = 0,
	// so the loss is 2·log 2.
	g := graph.New(1)
	loss := graph.NCELoss(g.Const(tensor.New(tensor.Float32, 1, 2)), g.Const(tensor.New(tensor.Float32, 1)),
		g.Const(gradcheck.Rand(1, -1, 1, 3, 2)), g.Const(ints(0, 0, 0)), g.Const(ints(0)))
	p, err := g.Compile(graph.Options{}, nil, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if got := p.Outputs()[0].At(); math.Abs(got-2*math.Ln2) > 1e-6 {
		t.Fatalf("loss %v, want 2 log 2", got)
	}
}

func TestNCELossGradients(t *testing.T) {
	for _, c := range []struct{ v, d, bs, s int }{{7, 3, 1, 2}, {20, 5, 6, 9}, {4, 1, 3, 5}} {
		lab := gradcheck.RandInt(4, c.v, c.bs, 1)
		smp := gradcheck.RandInt(5, c.v, c.s)
		smp.Int32s()[0] = lab.Int32s()[0] // an accidental hit and repeated rows
		err := gradcheck.Check(gradcheck.Case{
			Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, c.v, c.d), gradcheck.Rand(2, -1, 1, c.v),
				gradcheck.Rand(3, -1, 1, c.bs, c.d), lab, smp},
			Seed: 9,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.NCELoss(in[0], in[1], in[2], in[3], in[4])
			},
		})
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
}

func TestNCELossSparseGradients(t *testing.T) {
	g := graph.New(1)
	w := g.Variable("w", tensor.GlorotUniform(), 100, 4)
	b := g.Variable("b", tensor.Zeros(), 100)
	x := g.Placeholder("x", tensor.Float32, -1, 4)
	y := g.Placeholder("y", tensor.Int32, -1)
	loss := graph.NCELoss(w, b, x, y, graph.LogUniformSampler(g, 8, 100))
	grads, err := graph.Gradients(loss, w, b, x)
	if err != nil {
		t.Fatal(err)
	}
	if !graph.IsSparse(grads[0]) || !graph.IsSparse(grads[1]) || graph.IsSparse(grads[2]) {
		t.Fatalf("sparse: w %v b %v x %v, want true true false", graph.IsSparse(grads[0]), graph.IsSparse(grads[1]), graph.IsSparse(grads[2]))
	}
	_, vals, _ := graph.SparseParts(grads[0])
	e, err := g.NewExecutor(graph.Options{}, loss, vals)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out, err := e.Run(graph.Feed{x, gradcheck.Rand(1, -1, 1, 3, 4)}, graph.Feed{y, ints(1, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if !out[1].Shape().Equal(tensor.Shape{3 + 8, 4}) {
		t.Fatalf("sparse weight values %v, want (11, 4)", out[1].Shape())
	}
	_, err = e.Run(graph.Feed{x, gradcheck.Rand(1, -1, 1, 3, 4)}, graph.Feed{y, ints(1, 200, 3)})
	if err == nil || !strings.Contains(err.Error(), "labels id 200") {
		t.Fatalf("label 200 of 100: got %v", err)
	}
}

func TestLogUniformSampler(t *testing.T) {
	const v, s, runs = 20, 64, 400
	g := graph.New(7)
	smp := graph.LogUniformSampler(g, s, v)
	p, err := g.Compile(graph.Options{}, nil, smp)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	counts := make([]float64, v)
	var first []int32
	for i := 0; i < runs; i++ {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		ids := p.Outputs()[0].Int32s()
		if i == 0 {
			first = slices.Clone(ids)
		} else if i == 1 && slices.Equal(first, ids) {
			t.Fatal("two runs drew the same ids")
		}
		for _, k := range ids {
			if k < 0 || k >= v {
				t.Fatalf("id %d outside [0, %d)", k, v)
			}
			counts[k]++
		}
	}
	total := float64(s * runs)
	var sum float64
	for k := range counts {
		pk := graph.LogUniformProb(k, v)
		sum += pk
		exp := pk * total
		if math.Abs(counts[k]-exp) > 5*math.Sqrt(exp)+1 {
			t.Errorf("id %d drawn %v times, expected %.0f", k, counts[k], exp)
		}
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if allocs := testing.AllocsPerRun(20, func() { _ = p.Run() }); allocs != 0 {
		t.Errorf("sampler allocated %v times per run", allocs)
	}
}

func TestNCELossShapeErrors(t *testing.T) {
	g := graph.New(1)
	w := g.Variable("w", nil, 10, 4)
	b := g.Variable("b", nil, 10)
	x := g.Placeholder("x", tensor.Float32, -1, 5)
	y := g.Placeholder("y", tensor.Int32, -1)
	n := graph.NCELoss(w, b, x, y, graph.LogUniformSampler(g, 3, 10))
	if n.Err() == nil || !strings.Contains(n.Err().Error(), "inputs") || !strings.Contains(n.Err().Error(), "(?, 5)") {
		t.Fatalf("inputs (?, 5) for weights (10, 4): got %v", n.Err())
	}
}

func ExampleNCELoss() {
	g := graph.New(1)
	const vocab, dim = 1000, 16
	words := g.Placeholder("words", tensor.Int32, -1)
	context := g.Placeholder("context", tensor.Int32, -1)
	emb := g.Variable("embeddings", tensor.Uniform(-1, 1), vocab, dim)
	w := g.Variable("nce/w", tensor.TruncatedNormal(0, 0.25), vocab, dim)
	b := g.Variable("nce/b", tensor.Zeros(), vocab)
	// 8 negatives per step from the log-uniform sampler.
	neg := graph.LogUniformSampler(g, 8, vocab)
	loss := graph.NCELoss(w, b, graph.Gather(emb, words), context, neg)
	grads, _ := graph.Gradients(loss, emb, w, b)
	fmt.Println(loss.Shape(), graph.IsSparse(grads[0]), graph.IsSparse(grads[1]), graph.IsSparse(grads[2]))
	// Output: () true true true
}

// sampledSoftmaxRef is TensorFlow's sampled_softmax_loss (accidental hits removed),
// mean over the batch, in float64.
func sampledSoftmaxRef(w, b, x []float32, lab, smp []int32, v, d int) float64 {
	s := len(smp)
	logit := func(r int, k int32) float64 {
		z := float64(b[k])
		for j := 0; j < d; j++ {
			z += float64(x[r*d+j]) * float64(w[int(k)*d+j])
		}
		return z - math.Log(float64(s)*graph.LogUniformProb(int(k), v))
	}
	var loss float64
	for r := range lab {
		zt := logit(r, lab[r])
		sum := math.Exp(zt)
		for _, k := range smp {
			if k != lab[r] {
				sum += math.Exp(logit(r, k))
			}
		}
		loss += math.Log(sum) - zt
	}
	return loss / float64(len(lab))
}

func TestSampledSoftmaxLoss(t *testing.T) {
	const v, d, bs = 30, 5, 4
	wt, bt, xt := gradcheck.Rand(1, -1, 1, v, d), gradcheck.Rand(2, -1, 1, v), gradcheck.Rand(3, -1, 1, bs, d)
	lab := ints(3, 7, 3, 29)
	smp := ints(3, 0, 12, 7, 7, 1) // hits for rows 0, 1 and 2
	g := graph.New(1)
	loss := graph.SampledSoftmaxLoss(g.Const(wt), g.Const(bt), g.Const(xt), g.Const(lab), g.Const(smp))
	out := runOne(t, g, loss)
	want := sampledSoftmaxRef(wt.Float32s(), bt.Float32s(), xt.Float32s(), lab.Int32s(), smp.Int32s(), v, d)
	if got := out[0].At(); math.Abs(got-want) > 1e-5*math.Max(1, want) {
		t.Fatalf("loss %v, want %v", got, want)
	}
	err := gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{wt, bt, xt, lab, smp}, Seed: 2,
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.SampledSoftmaxLoss(in[0], in[1], in[2], in[3], in[4])
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	g2 := graph.New(1)
	bad := graph.SampledSoftmaxLoss(g2.Const(wt), g2.Const(bt), g2.Const(gradcheck.Rand(3, -1, 1, bs, d+1)), g2.Const(lab), g2.Const(smp))
	if bad.Err() == nil || !strings.Contains(bad.Err().Error(), "SampledSoftmaxLoss") {
		t.Fatalf("inputs of width 6 for weights of width 5: got %v", bad.Err())
	}
}

// nceUniqueRef is nceRef with TensorFlow's expected counts for unique sampling:
// id k's is 1 - (1 - P(k))^tries.
func nceUniqueRef(w, b, x []float32, lab, smp []int32, v, d, tries int) float64 {
	bs := len(lab)
	logit := func(r int, k int32) float64 {
		z := float64(b[k])
		for j := 0; j < d; j++ {
			z += float64(x[r*d+j]) * float64(w[int(k)*d+j])
		}
		q := 1 - math.Pow(1-graph.LogUniformProb(int(k), v), float64(tries))
		return z - math.Log(q)
	}
	var loss float64
	for r := 0; r < bs; r++ {
		loss += softplus64(-logit(r, lab[r]))
		for _, k := range smp {
			loss += softplus64(logit(r, k))
		}
	}
	return loss / float64(bs)
}

// The unique sampler draws distinct ids, counts its draws, redraws every run,
// and allocates nothing.
func TestLogUniformSamplerUnique(t *testing.T) {
	const v, s = 30, 12
	g := graph.New(3)
	smp, tries := graph.LogUniformSamplerUnique(g, s, v)
	p, err := g.Compile(graph.Options{}, nil, smp, tries)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var first []int32
	zero := 0
	for run := 0; run < 200; run++ {
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		ids, n := p.Outputs()[0].Int32s(), int(p.Outputs()[1].Int32s()[0])
		if len(ids) != s || n < s {
			t.Fatalf("%d ids after %d draws, want %d ids after at least as many draws", len(ids), n, s)
		}
		seen := map[int32]bool{}
		for _, k := range ids {
			if k < 0 || k >= v || seen[k] {
				t.Fatalf("ids %v: want %d distinct ids in [0, %d)", ids, s, v)
			}
			seen[k] = true
		}
		if seen[0] {
			zero++
		}
		if run == 0 {
			first = slices.Clone(ids)
		} else if run == 1 && slices.Equal(first, ids) {
			t.Fatal("two runs drew the same ids")
		}
	}
	// Id 0, the likeliest (P = 0.2 here), is in almost every set of 12.
	if zero < 180 {
		t.Errorf("id 0 in %d of 200 sets, want nearly all", zero)
	}
	if allocs := testing.AllocsPerRun(20, func() { _ = p.Run() }); allocs != 0 {
		t.Errorf("sampler allocated %v times per run", allocs)
	}
	if _, _ = graph.LogUniformSamplerUnique(g, v+1, v); g.Err() == nil {
		t.Error("more distinct ids than the range holds was accepted")
	}
}

// NCELossUnique and SampledSoftmaxLossUnique use the unique sampler's expected
// counts: the loss matches a float64 reference, the gradients finite
// differences, and tries below 1 is an error.
func TestNCELossUnique(t *testing.T) {
	const v, d, bs, tries = 40, 5, 4, 9
	wt, bt, xt := gradcheck.Rand(1, -1, 1, v, d), gradcheck.Rand(2, -1, 1, v), gradcheck.Rand(3, -1, 1, bs, d)
	lab := gradcheck.RandInt(4, v, bs)
	smp := ints(3, 0, 17, 8, 21, 1)
	g := graph.New(1)
	tr := g.Placeholder("tries", tensor.Int32)
	loss := graph.NCELossUnique(g.Const(wt), g.Const(bt), g.Const(xt), g.Const(lab), g.Const(smp), tr)
	p, err := g.Compile(graph.Options{}, map[*graph.Node]tensor.Shape{tr: {}}, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Input(tr).Int32s()[0] = tries
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	want := nceUniqueRef(wt.Float32s(), bt.Float32s(), xt.Float32s(), lab.Int32s(), smp.Int32s(), v, d, tries)
	if got := p.Outputs()[0].At(); math.Abs(got-want) > 1e-5*math.Max(1, want) {
		t.Errorf("loss %v, want %v", got, want)
	}
	p.Input(tr).Int32s()[0] = 0
	if err := p.Run(); err == nil || !strings.Contains(err.Error(), "tries = 0") {
		t.Errorf("tries 0: err = %v", err)
	}
	for _, softmax := range []bool{false, true} {
		err := gradcheck.Check(gradcheck.Case{
			Inputs: []*tensor.Tensor{wt, bt, xt, lab, smp, ints(tries)},
			Seed:   9,
			Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
				tr := graph.Reshape(in[5], []int{}...)
				if softmax {
					return graph.SampledSoftmaxLossUnique(in[0], in[1], in[2], in[3], in[4], tr)
				}
				return graph.NCELossUnique(in[0], in[1], in[2], in[3], in[4], tr)
			},
		})
		if err != nil {
			t.Fatalf("softmax %v: %v", softmax, err)
		}
	}
}
