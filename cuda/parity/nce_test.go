package parity

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Parity of ops_nce.go. The loss ops (NCELossLogits, SampledSoftmaxLossLogits,
// their view NCELoss, the gradient NCELossGrad and its views NCELossGradPart)
// take the sampled ids from an int input, so both backends see the same ids;
// the sampler (LogUniformSampler) is checked on its own, statistically. The
// harness checks the gradients of weights and biases as the values of their
// sparse gradients (rows labels, then sampled).

const nceTol = 1e-4

// nceIn is the inputs of NCELoss: weights (v, d), biases (v), inputs (b, d),
// labels (b) or (b, 1), sampled (s).
func nceIn(v, d, b, s int, labels2D bool) []In {
	lab := In{Shape: []int{b}, Int: v}
	if labels2D {
		lab.Shape = []int{b, 1}
	}
	return []In{{Shape: []int{v, d}}, {Shape: []int{v}}, {Shape: []int{b, d}}, lab, {Shape: []int{s}, Int: v}}
}

func nceLoss(g *graph.Graph, in []*graph.Node) *graph.Node {
	return graph.NCELoss(in[0], in[1], in[2], in[3], in[4])
}

func sampledSoftmax(g *graph.Graph, in []*graph.Node) *graph.Node {
	return graph.SampledSoftmaxLoss(in[0], in[1], in[2], in[3], in[4])
}

func TestNCELoss(t *testing.T) {
	Run(t,
		Case{Name: "Small", In: nceIn(17, 5, 3, 4, false), Build: nceLoss, Tol: nceTol},
		// Few ids: accidental hits and repeated sampled ids are common.
		Case{Name: "Hits", In: nceIn(3, 7, 9, 6, true), Build: nceLoss, Tol: nceTol},
		// word2vec's shape, scaled down: more sampled ids than warps in a block,
		// a dimension wider than a warp, odd sizes.
		Case{Name: "Word2VecLike", In: nceIn(501, 67, 37, 64, false), Build: nceLoss, Tol: nceTol},
		Case{Name: "ManySampled", In: nceIn(1000, 9, 5, 300, false), Build: nceLoss, Tol: nceTol},
	)
}

func TestSampledSoftmaxLoss(t *testing.T) {
	Run(t,
		Case{Name: "Small", In: nceIn(17, 5, 3, 4, false), Build: sampledSoftmax, Tol: nceTol},
		// Hits leave the softmax (probability 0).
		Case{Name: "Hits", In: nceIn(3, 7, 9, 6, true), Build: sampledSoftmax, Tol: nceTol},
		Case{Name: "Word2VecLike", In: nceIn(501, 67, 37, 64, false), Build: sampledSoftmax, Tol: nceTol},
		Case{Name: "ManySampled", In: nceIn(1000, 9, 5, 300, false), Build: sampledSoftmax, Tol: nceTol},
	)
}

// The sampler draws new ids at every run, in [0, V), log-uniformly: P(0) =
// log 2 / log(V+1), P(k < 10) = log 11 / log(V+1).
func TestLogUniformSampler(t *testing.T) {
	const n, v = 20000, 50
	var prev []int32
	check := func(t *testing.T, _, dev []*tensor.Tensor) {
		ids := dev[0].Int32s()
		if len(ids) != n {
			t.Fatalf("%d ids, want %d", len(ids), n)
		}
		zero, small := 0, 0
		for i, k := range ids {
			if k < 0 || k >= v {
				t.Fatalf("id %d at %d outside [0, %d)", k, i, v)
			}
			if k == 0 {
				zero++
			}
			if k < 10 {
				small++
			}
		}
		for _, c := range []struct {
			what string
			got  int
			want float64
		}{
			{"id 0", zero, math.Log(2) / math.Log(v+1)},
			{"ids < 10", small, math.Log(11) / math.Log(v+1)},
		} {
			f := float64(c.got) / n
			sd := math.Sqrt(c.want * (1 - c.want) / n)
			if math.Abs(f-c.want) > 5*sd {
				t.Errorf("%s drawn with frequency %.4f, want %.4f ± %.4f", c.what, f, c.want, 5*sd)
			}
		}
		if prev != nil && slices.Equal(prev, ids) {
			t.Errorf("two runs drew the same ids")
		}
		prev = slices.Clone(ids)
	}
	Run(t, Case{Name: "Sampler", NoGrad: true, Check: check,
		Build: func(g *graph.Graph, _ []*graph.Node) *graph.Node { return graph.LogUniformSampler(g, n, v) }})
}

// A label or sampled id outside [0, V) fails the run with the CPU's message.
func TestNCEBadIDs(t *testing.T) {
	dev := cudatest.Open(t)
	for _, c := range []struct {
		name string
		lab  []int32
		smp  []int32
		want string
	}{
		{"label", []int32{1, 9, 2}, []int32{0, 1}, "labels id 9 at position 1 is outside [0, 5)"},
		{"sampled", []int32{1, 2, 3}, []int32{0, -4}, "sampled id -4 at position 1 is outside [0, 5)"},
		{"both", []int32{1, 2, 7}, []int32{8, 1}, "labels id 7 at position 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := graph.New(1)
			w := g.Placeholder("w", tensor.Float32, 5, 4)
			b := g.Placeholder("b", tensor.Float32, 5)
			x := g.Placeholder("x", tensor.Float32, 3, 4)
			lab := g.Placeholder("lab", tensor.Int32, 3)
			smp := g.Placeholder("smp", tensor.Int32, 2)
			loss := graph.NCELoss(w, b, x, lab, smp)
			od := g.OnDevice(dev)
			defer od.Close()
			p, err := od.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{
				w: {5, 4}, b: {5}, x: {3, 4}, lab: {3}, smp: {2}}, loss)
			if err != nil {
				t.Fatalf("device compile: %v", err)
			}
			copy(p.Input(lab).Int32s(), c.lab)
			copy(p.Input(smp).Int32s(), c.smp)
			err = p.Run()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// The losses with unique sampling's expected counts, tries from an int input
// (at least the number of samples, as the sampler gives).
func TestNCELossUnique(t *testing.T) {
	in := func(v, d, b, s int) []In {
		return append(nceIn(v, d, b, s, false), In{Shape: []int{}, IntMin: s, Int: 4 * s})
	}
	nce := func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return graph.NCELossUnique(in[0], in[1], in[2], in[3], in[4], in[5])
	}
	softmax := func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return graph.SampledSoftmaxLossUnique(in[0], in[1], in[2], in[3], in[4], in[5])
	}
	Run(t,
		Case{Name: "NCE", In: in(17, 5, 3, 4), Build: nce, Tol: nceTol},
		Case{Name: "NCEWord2VecLike", In: in(501, 67, 37, 64), Build: nce, Tol: nceTol},
		Case{Name: "SampledSoftmax", In: in(17, 5, 3, 4), Build: softmax, Tol: nceTol},
	)
}

// The unique sampler on the device: distinct ids in range, the draws counted,
// new ids every run.
func TestLogUniformSamplerUnique(t *testing.T) {
	const n, v = 64, 500
	var prev []int32
	check := func(t *testing.T, _, dev []*tensor.Tensor) {
		packed := dev[0].Int32s()
		ids, tries := packed[:n], packed[n]
		seen := map[int32]bool{}
		for _, k := range ids {
			if k < 0 || k >= v || seen[k] {
				t.Fatalf("ids %v: want %d distinct ids in [0, %d)", ids, n, v)
			}
			seen[k] = true
		}
		if tries < n || !seen[0] {
			t.Errorf("%d draws for %d ids, id 0 drawn %v: want at least %d draws and id 0 (P = 0.11) among them", tries, n, seen[0], n)
		}
		if prev != nil && slices.Equal(prev, ids) {
			t.Errorf("two runs drew the same ids")
		}
		prev = slices.Clone(ids)
	}
	Run(t, Case{Name: "UniqueSampler", NoGrad: true, Check: check,
		Build: func(g *graph.Graph, _ []*graph.Node) *graph.Node {
			sampled, _ := graph.LogUniformSamplerUnique(g, n, v)
			return sampled.Inputs()[0] // the packed ids and draws
		}})
}

// Unique sampling's tries below 1 fails the device run as it fails the CPU's.
func TestNCEUniqueBadTries(t *testing.T) {
	dev := cudatest.Open(t)
	g := graph.New(1)
	w := g.Placeholder("w", tensor.Float32, 5, 4)
	b := g.Placeholder("b", tensor.Float32, 5)
	x := g.Placeholder("x", tensor.Float32, 3, 4)
	lab := g.Placeholder("lab", tensor.Int32, 3)
	smp := g.Placeholder("smp", tensor.Int32, 2)
	tries := g.Placeholder("tries", tensor.Int32)
	loss := graph.NCELossUnique(w, b, x, lab, smp, tries)
	od := g.OnDevice(dev)
	defer od.Close()
	p, err := od.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{
		w: {5, 4}, b: {5}, x: {3, 4}, lab: {3}, smp: {2}, tries: {}}, loss)
	if err != nil {
		t.Fatalf("device compile: %v", err)
	}
	copy(p.Input(lab).Int32s(), []int32{1, 2, 3})
	copy(p.Input(smp).Int32s(), []int32{0, 4})
	p.Input(tries).Int32s()[0] = 0
	if err := p.Run(); err == nil || !strings.Contains(err.Error(), "tries = 0") {
		t.Fatalf("run with tries 0: %v, want an error naming tries", err)
	}
	p.Input(tries).Int32s()[0] = 3
	if err := p.Run(); err != nil {
		t.Fatalf("run with tries 3: %v", err)
	}
}
