package graph_test

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// ptbConfig is TensorFlow's ptb_word_lm configuration (without dropout, as "small").
type ptbConfig struct {
	vocab, hidden, layers, steps, batch int
	clip, lr                            float32
	cells                               bool // chained LSTMCells instead of the fused LSTM
}

var ptbSmall = ptbConfig{vocab: 10000, hidden: 200, layers: 2, steps: 20, batch: 20, clip: 5, lr: 1}

type ptbModel struct {
	e         *graph.Executor
	feeds     []graph.Feed
	loss      *graph.Node
	finalH    []*graph.Node
	inputs    *graph.Node
	targets   *graph.Node
	inT, tgT  *tensor.Tensor
	stateFeed []*tensor.Tensor
}

// newPTB builds the unrolled LSTM language model and its SGD step with gradient
// clipping: embedding → layers of fused LSTM cells → softmax over the vocabulary.
func newPTB(t testing.TB, c ptbConfig) *ptbModel {
	g := graph.New(1)
	m := &ptbModel{}
	m.inputs = g.Placeholder("inputs", tensor.Int32, c.steps, -1)
	m.targets = g.Placeholder("targets", tensor.Int32, c.steps, -1)
	emb := g.Variable("embedding", tensor.Uniform(-0.1, 0.1), c.vocab, c.hidden)
	x := graph.Gather(emb, m.inputs) // (T, B, H)
	layerIn := make([]*graph.Node, c.steps)
	for s := range layerIn {
		layerIn[s] = graph.Index(x, s)
	}
	for l := 0; l < c.layers; l++ {
		w := g.Variable("lstm"+string(rune('0'+l))+"/w", tensor.Uniform(-0.1, 0.1), 2*c.hidden, 4*c.hidden)
		b := g.Variable("lstm"+string(rune('0'+l))+"/b", tensor.Zeros(), 4*c.hidden)
		h0 := g.Placeholder("h"+string(rune('0'+l)), tensor.Float32, -1, c.hidden)
		c0 := g.Placeholder("c"+string(rune('0'+l)), tensor.Float32, -1, c.hidden)
		if c.cells {
			h, cs := h0, c0
			for s := 0; s < c.steps; s++ {
				h, cs = graph.LSTMState(graph.LSTMCell(layerIn[s], h, cs, w, b, 0))
				layerIn[s] = h
			}
			m.finalH = append(m.finalH, h, cs)
		} else {
			hs, h, cs := graph.LSTMOutputs(graph.LSTM(x, h0, c0, w, b, 0))
			x = hs
			m.finalH = append(m.finalH, h, cs)
		}
		bt := tensor.New(tensor.Float32, c.batch, c.hidden)
		m.feeds = append(m.feeds, graph.Feed{Node: h0, Value: bt}, graph.Feed{Node: c0, Value: bt.Clone()})
	}
	out := graph.Reshape(x, -1, c.hidden) // (T·B, H)
	if c.cells {
		out = graph.Concat(0, layerIn...)
	}
	sw := g.Variable("softmax_w", tensor.Uniform(-0.1, 0.1), c.hidden, c.vocab)
	sb := g.Variable("softmax_b", tensor.Uniform(-0.1, 0.1), c.vocab)
	logits := graph.BiasAdd(graph.MatMul(out, sw), sb)
	m.loss = graph.SparseSoftmaxCrossEntropy(logits, graph.Reshape(m.targets, -1))
	// ptb_word_lm minimizes the loss summed over the unrolled steps and averaged
	// over the batch; m.loss is per word.
	cost := graph.Scale(m.loss, float32(c.steps))
	st, err := optim.MinimizeWith(optim.NewSGD(g, "sgd", c.lr), cost, optim.MinimizeOptions{ClipNorm: c.clip})
	if err != nil {
		t.Fatal(err)
	}
	if m.e, err = g.NewExecutor(graph.Options{Training: true}, append([]*graph.Node{m.loss, st.Update}, m.finalH...)...); err != nil {
		t.Fatal(err)
	}
	m.inT = tensor.New(tensor.Int32, c.steps, c.batch)
	m.tgT = tensor.New(tensor.Int32, c.steps, c.batch)
	// A learnable stream: each word is followed by (word·7+3) mod vocab.
	rng := tensor.NewRand(2)
	for b := 0; b < c.batch; b++ {
		w := rng.IntN(c.vocab)
		for s := 0; s < c.steps; s++ {
			m.inT.Int32s()[s*c.batch+b] = int32(w)
			w = (w*7 + 3) % c.vocab
			m.tgT.Int32s()[s*c.batch+b] = int32(w)
		}
	}
	m.feeds = append(m.feeds, graph.Feed{Node: m.inputs, Value: m.inT}, graph.Feed{Node: m.targets, Value: m.tgT})
	return m
}

func (m *ptbModel) step(t testing.TB) float64 {
	out, err := m.e.Run(m.feeds...)
	if err != nil {
		t.Fatal(err)
	}
	// Carry the state into the next batch, as ptb_word_lm does.
	for i := range m.finalH {
		copy(m.feeds[i].Value.Float32s(), out[2+i].Float32s())
	}
	return out[0].At()
}

func TestPTBModelLearnsWithoutAllocating(t *testing.T) {
	for _, cells := range []bool{false, true} {
		m := newPTB(t, ptbConfig{vocab: 50, hidden: 16, layers: 2, steps: 5, batch: 3, clip: 5, lr: 1, cells: cells})
		ptbLearns(t, m)
		m.e.Close()
	}
}

func ptbLearns(t *testing.T, m *ptbModel) {
	first := m.step(t)
	if math.Abs(first-math.Log(50)) > 0.2 {
		t.Fatalf("initial loss %v, want about log(50) = %v", first, math.Log(50))
	}
	var last float64
	for i := 0; i < 300; i++ {
		last = m.step(t)
	}
	if !(last < first/2) {
		t.Fatalf("loss %v -> %v after 300 steps: the model does not learn", first, last)
	}
	if a := testing.AllocsPerRun(10, func() { m.step(t) }); a != 0 {
		t.Fatalf("a PTB step allocated %v times", a)
	}
}

// BenchmarkPTBSmallStep is one training step of ptb_word_lm "small": 20 unrolled
// steps, 2 LSTM layers of 200, batch 20, vocabulary 10000, clip 5, SGD, with the
// fused sequence op LSTM.
func BenchmarkPTBSmallStep(b *testing.B) { benchPTB(b, ptbSmall) }

// BenchmarkPTBSmallStepCells is the same step built from 40 chained LSTMCells.
func BenchmarkPTBSmallStepCells(b *testing.B) {
	c := ptbSmall
	c.cells = true
	benchPTB(b, c)
}

func benchPTB(b *testing.B, c ptbConfig) {
	m := newPTB(b, c)
	defer m.e.Close()
	m.step(b)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		m.step(b)
	}
	b.ReportMetric(float64(b.N*c.steps*c.batch)/time.Since(start).Seconds(), "words/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

type w2vModel struct {
	e       *graph.Executor
	feeds   []graph.Feed
	batch   int
	nceW    *graph.Node
	updates *graph.Node
}

// newWord2Vec builds TensorFlow's word2vec_basic skip-gram step: embedding
// lookup, NCE loss with log-uniform sampled negatives, SGD.
func newWord2Vec(t testing.TB, vocab, dim, batch, sampled int, lr float32) *w2vModel {
	g := graph.New(1)
	in := g.Placeholder("inputs", tensor.Int32, -1)
	lab := g.Placeholder("labels", tensor.Int32, -1, 1)
	emb := g.Variable("embeddings", tensor.Uniform(-1, 1), vocab, dim)
	nw := g.Variable("nce_weights", tensor.TruncatedNormal(0, 1/math.Sqrt(float64(dim))), vocab, dim)
	nb := g.Variable("nce_biases", tensor.Zeros(), vocab)
	loss := graph.NCELoss(nw, nb, graph.Gather(emb, in), lab, graph.LogUniformSampler(g, sampled, vocab))
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", lr), loss)
	if err != nil {
		t.Fatal(err)
	}
	e, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
	if err != nil {
		t.Fatal(err)
	}
	it, lt := tensor.New(tensor.Int32, batch), tensor.New(tensor.Int32, batch, 1)
	rng := tensor.NewRand(3)
	for i := range it.Int32s() {
		// Zipf-like ids: frequent words have small ids.
		w := int32(math.Exp(rng.Float64()*math.Log(float64(vocab)+1))) - 1
		it.Int32s()[i] = w
		lt.Int32s()[i] = (w + 1) % int32(vocab)
	}
	return &w2vModel{e: e, feeds: []graph.Feed{{Node: in, Value: it}, {Node: lab, Value: lt}}, batch: batch, nceW: nw}
}

func (m *w2vModel) step(t testing.TB) float64 {
	out, err := m.e.Run(m.feeds...)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].At()
}

func TestWord2VecLearnsWithoutAllocating(t *testing.T) {
	m := newWord2Vec(t, 500, 16, 32, 8, 1)
	defer m.e.Close()
	first := m.step(t)
	var last float64
	for i := 0; i < 200; i++ {
		last = m.step(t)
	}
	if !(last < first/3) {
		t.Fatalf("NCE loss %v -> %v: does not learn", first, last)
	}
	if a := testing.AllocsPerRun(20, func() { m.step(t) }); a != 0 {
		t.Fatalf("a word2vec step allocated %v times", a)
	}
}

// BenchmarkWord2VecNCEStep is one skip-gram step of word2vec_basic: vocabulary
// 50000, embedding 128, batch 128, 64 sampled negatives, SGD lr 1.
func BenchmarkWord2VecNCEStep(b *testing.B) {
	m := newWord2Vec(b, 50000, 128, 128, 64, 1)
	defer m.e.Close()
	m.step(b)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		m.step(b)
	}
	b.ReportMetric(float64(b.N*m.batch)/time.Since(start).Seconds(), "words/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time the process has used, all threads: on a shared machine
// it says more than wall time about what a step costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLSTMLayer is the forward and backward pass of one PTB-small LSTM layer
// (20 steps, batch 20, 200 units) alone, fused op against chained cells.
func BenchmarkLSTMLayer(b *testing.B) {
	for _, cells := range []bool{false, true} {
		name := "fused"
		if cells {
			name = "cells"
		}
		b.Run(name, func(b *testing.B) {
			const steps, batch, hid = 20, 20, 200
			g := graph.New(1)
			x := g.Placeholder("x", tensor.Float32, steps, batch, hid)
			h0 := g.Placeholder("h0", tensor.Float32, batch, hid)
			w := g.Variable("w", tensor.Uniform(-0.1, 0.1), 2*hid, 4*hid)
			bias := g.Variable("b", tensor.Zeros(), 4*hid)
			var out *graph.Node
			if cells {
				h, c := h0, h0
				var hs []*graph.Node
				for t := 0; t < steps; t++ {
					h, c = graph.LSTMState(graph.LSTMCell(graph.Index(x, t), h, c, w, bias, 0))
					hs = append(hs, h)
				}
				out = graph.Concat(0, hs...)
			} else {
				out, _, _ = graph.LSTMOutputs(graph.LSTM(x, h0, h0, w, bias, 0))
			}
			loss := graph.ReduceSum(out)
			grads, err := graph.Gradients(loss, w, bias, x)
			if err != nil {
				b.Fatal(err)
			}
			p, err := g.Compile(graph.Options{}, map[*graph.Node]tensor.Shape{x: {steps, batch, hid}, h0: {batch, hid}}, append(grads, loss)...)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if err := p.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}
