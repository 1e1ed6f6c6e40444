package train

import (
	"context"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// lstmLM is a one-layer LSTM language model whose state enters through
// placeholders h0, c0 and leaves as hT, cT.
type lstmLM struct {
	g                *graph.Graph
	tokens, targets  *graph.Node
	h0, c0, hT, cT   *graph.Node
	loss, update     *graph.Node
	params           []*graph.Node
	vocab, steps, hd int
}

func newLSTMLM(t testing.TB, vocab, steps, hidden int) *lstmLM {
	t.Helper()
	g := graph.New(7)
	tok := layers.IntInput(g, "tokens", -1, steps)
	h0 := layers.Input(g, "h0", -1, hidden)
	c0 := layers.Input(g, "c0", -1, hidden)
	net := layers.Embedding(tok, "embedding", vocab, hidden)
	lstm := layers.LSTM(net, "lstm", hidden, layers.InitialState(h0, c0))
	net = layers.Reshape(lstm, "rows", -1, hidden)
	net = layers.Dense(net, "softmax", vocab)
	if err := net.Err(); err != nil {
		t.Fatal(err)
	}
	m := &lstmLM{g: g, tokens: tok.Output(), h0: h0.Output(), c0: c0.Output(), hT: lstm.Aux("h"), cT: lstm.Aux("c"),
		vocab: vocab, steps: steps, hd: hidden, params: net.AllParams()}
	m.targets = g.Placeholder("targets", tensor.Int32, -1, steps)
	m.loss = graph.SequenceCrossEntropy(net.Output(), m.targets, steps)
	st, err := optim.MinimizeWith(optim.NewSGD(g, "sgd", 1), m.loss, optim.MinimizeOptions{ClipNorm: 5})
	if err != nil {
		t.Fatal(err)
	}
	m.update = st.Update
	return m
}

// lmCorpus is a learnable stream: each word is mostly followed by a fixed
// successor, so a state that carries over matters little but is exercised.
func lmCorpus(n, vocab int) []int32 {
	ids := make([]int32, n)
	rng := tensor.NewRand(3)
	w := 0
	for i := range ids {
		ids[i] = int32(w)
		if rng.IntN(4) == 0 {
			w = rng.IntN(vocab)
		} else {
			w = (w*7 + 3) % vocab
		}
	}
	return ids
}

// TestCarryMatchesHandWrittenTBPTT trains the same LSTM twice: with
// Config.Carry on the CPU, and with a loop that feeds the state itself as
// ptb_word_lm does. Every step's loss and the final weights must agree.
func TestCarryMatchesHandWrittenTBPTT(t *testing.T) {
	const vocab, steps, hidden, batch, epochs = 12, 5, 8, 4, 2
	src, err := feed.NewLanguageModel(lmCorpus(600, vocab), batch, steps)
	if err != nil {
		t.Fatal(err)
	}
	loader, err := feed.NewLoader(src, batch)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	a := newLSTMLM(t, vocab, steps, hidden)
	var lossA []float32
	loop, err := New(Config{Inputs: []*graph.Node{a.tokens, a.targets}, Loss: a.loss, Update: a.update,
		Carry: map[*graph.Node]*graph.Node{a.hT: a.h0, a.cT: a.c0}})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	loop.Use(Hook{Name: "record", StepEnd: func(_ context.Context, s *State) error {
		lossA = append(lossA, s.Loss)
		return nil
	}})
	if _, err := loop.Run(ctx, loader, epochs); err != nil {
		t.Fatal(err)
	}

	b := newLSTMLM(t, vocab, steps, hidden)
	exe, err := b.g.NewExecutor(graph.Options{Training: true}, b.loss, b.update, b.hT, b.cT)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	h, c := tensor.New(tensor.Float32, batch, hidden), tensor.New(tensor.Float32, batch, hidden)
	var lossB []float32
	for e := 0; e < epochs; e++ {
		clear(h.Float32s())
		clear(c.Float32s())
		it := loader.Epoch(ctx, e)
		for it.Next() {
			bt := it.Batch()
			outs, err := exe.Run(graph.Feed{Node: b.tokens, Value: bt.Tensors[0]}, graph.Feed{Node: b.targets, Value: bt.Tensors[1]},
				graph.Feed{Node: b.h0, Value: h}, graph.Feed{Node: b.c0, Value: c})
			if err != nil {
				t.Fatal(err)
			}
			lossB = append(lossB, outs[0].Float32s()[0])
			copy(h.Float32s(), outs[2].Float32s())
			copy(c.Float32s(), outs[3].Float32s())
		}
		it.Close()
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}

	if len(lossA) != len(lossB) || len(lossA) != epochs*src.Windows() {
		t.Fatalf("%d steps with Carry, %d by hand, want %d", len(lossA), len(lossB), epochs*src.Windows())
	}
	for i := range lossA {
		if d := math.Abs(float64(lossA[i] - lossB[i])); d > 1e-4*math.Abs(float64(lossB[i])) {
			t.Fatalf("step %d: loss %v with Carry, %v by hand", i, lossA[i], lossB[i])
		}
	}
	if !(lossA[len(lossA)-1] < lossA[0]*0.8) {
		t.Fatalf("loss %v -> %v: the model does not learn, the comparison says little", lossA[0], lossA[len(lossA)-1])
	}
	for i, p := range a.params {
		pa, pb := p.Tensor().Float32s(), b.params[i].Tensor().Float32s()
		for j := range pa {
			if d := math.Abs(float64(pa[j] - pb[j])); d > 1e-5 {
				t.Fatalf("%s[%d]: %v with Carry, %v by hand", p.Name(), j, pa[j], pb[j])
			}
		}
	}

	// Without the carry the state starts from zero at every window: the
	// losses differ, so the test above can tell carrying from not.
	n := newLSTMLM(t, vocab, steps, hidden)
	var lossN []float32
	plain, err := New(Config{Inputs: []*graph.Node{n.tokens, n.targets, n.h0, n.c0}, Loss: n.loss, Update: n.update})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.Use(Hook{Name: "record", StepEnd: func(_ context.Context, s *State) error {
		lossN = append(lossN, s.Loss)
		return nil
	}})
	zeros, err := feed.FromTensors(tensor.New(tensor.Float32, src.Len(), hidden), tensor.New(tensor.Float32, src.Len(), hidden))
	if err != nil {
		t.Fatal(err)
	}
	zl, err := feed.NewLoader(zipSources{src, zeros}, batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Run(ctx, zl, 1); err != nil {
		t.Fatal(err)
	}
	same := true
	for i := 1; i < len(lossN); i++ {
		same = same && math.Abs(float64(lossN[i]-lossA[i])) < 1e-6
	}
	if same {
		t.Fatal("the losses with a zero state at every step equal those with Carry: the state did not carry")
	}
}

// zipSources joins the components of sources of the same length.
type zipSources []feed.Source

func (z zipSources) Len() int { return z[0].Len() }
func (z zipSources) Specs() []feed.Spec {
	var s []feed.Spec
	for _, src := range z {
		s = append(s, src.Specs()...)
	}
	return s
}
func (z zipSources) Read(k int, out []*tensor.Tensor) error {
	for _, src := range z {
		n := len(src.Specs())
		if err := src.Read(k, out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// TestCarryStepAllocatesNothing: feeding and keeping the carried state adds no
// allocation to a training step.
func TestCarryStepAllocatesNothing(t *testing.T) {
	const batch = 3
	m := newLSTMLM(t, 10, 4, 6)
	l, err := New(Config{Inputs: []*graph.Node{m.tokens, m.targets}, Loss: m.loss, Update: m.update,
		Carry: map[*graph.Node]*graph.Node{m.hT: m.h0, m.cT: m.c0}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.feeds[0].Value = tensor.New(tensor.Int32, batch, 4)
	l.feeds[1].Value = tensor.New(tensor.Int32, batch, 4)
	step := func() {
		l.carry.prepare(l.feeds, batch)
		outs, err := l.exe.Run(l.feeds...)
		if err == nil {
			err = l.carry.keep(outs)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Fatalf("a step with Carry allocated %v times", a)
	}
	// The state moved: after steps, h0's buffer is no longer zero.
	nonzero := false
	for _, v := range l.carry.links[0].buf.Float32s() {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Fatal("the carried state is still zero after steps")
	}
	l.ResetCarry()
	for _, v := range l.carry.links[0].buf.Float32s() {
		if v != 0 {
			t.Fatal("ResetCarry left a non-zero state")
		}
	}
}

func TestCarryConfigErrors(t *testing.T) {
	m := newLSTMLM(t, 10, 4, 6)
	for _, tc := range []struct {
		carry map[*graph.Node]*graph.Node
		want  string
	}{
		{map[*graph.Node]*graph.Node{m.hT: m.loss}, "want a placeholder"},
		{map[*graph.Node]*graph.Node{m.loss: m.h0}, "shape"},
		{map[*graph.Node]*graph.Node{m.hT: m.tokens}, "shape"},
	} {
		_, err := New(Config{Inputs: []*graph.Node{m.tokens, m.targets}, Loss: m.loss, Update: m.update, Carry: tc.carry})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Carry %v: error %v, want one saying %q", tc.carry, err, tc.want)
		}
	}
	_, err := New(Config{Inputs: []*graph.Node{m.tokens, m.targets, m.h0}, Loss: m.loss, Update: m.update,
		Carry: map[*graph.Node]*graph.Node{m.hT: m.h0}})
	if err == nil || !strings.Contains(err.Error(), "one of Inputs") {
		t.Errorf("Carry into an input: error %v", err)
	}
}

// On a device (a GPU, or the CPU emulator) the state stays on the device
// (DeviceOptions.Carry) and training matches the CPU's, step by step; the
// evaluator carries too.
func TestCarryOnDevice(t *testing.T) {
	dev := cudatest.Open(t)
	const vocab, steps, hidden, batch = 12, 5, 8, 4
	src, err := feed.NewLanguageModel(lmCorpus(400, vocab), batch, steps)
	if err != nil {
		t.Fatal(err)
	}
	loader, err := feed.NewLoader(src, batch)
	if err != nil {
		t.Fatal(err)
	}
	run := func(onDevice bool) ([]float32, float64, *lstmLM) {
		m := newLSTMLM(t, vocab, steps, hidden)
		cfg := Config{Inputs: []*graph.Node{m.tokens, m.targets}, Loss: m.loss, Update: m.update,
			Carry: map[*graph.Node]*graph.Node{m.hT: m.h0, m.cT: m.c0}}
		if onDevice {
			cfg.Device = m.g.OnDevice(dev)
			t.Cleanup(cfg.Device.Close)
		}
		loop, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer loop.Close()
		var losses []float32
		loop.Use(Hook{Name: "record", StepEnd: func(_ context.Context, s *State) error {
			losses = append(losses, s.Loss)
			return nil
		}})
		if _, err := loop.Run(context.Background(), loader, 2); err != nil {
			t.Fatal(err)
		}
		ev, err := loop.NewEvaluator()
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
		r, err := ev.Evaluate(context.Background(), loader)
		if err != nil {
			t.Fatal(err)
		}
		return losses, r.Loss, m
	}
	cpu, cpuEval, mc := run(false)
	gpu, gpuEval, mg := run(true)
	if len(cpu) != len(gpu) {
		t.Fatalf("%d steps on the CPU, %d on the device", len(cpu), len(gpu))
	}
	for i := range cpu {
		if math.Abs(float64(cpu[i]-gpu[i])) > 1e-3*(1+math.Abs(float64(cpu[i]))) {
			t.Fatalf("step %d: loss %v on the CPU, %v on the device", i, cpu[i], gpu[i])
		}
	}
	if math.Abs(cpuEval-gpuEval) > 1e-3*(1+math.Abs(cpuEval)) {
		t.Fatalf("evaluation loss %v on the CPU, %v on the device", cpuEval, gpuEval)
	}
	for i, p := range mc.params {
		a, b := p.Tensor().Float32s(), mg.params[i].Tensor().Float32s()
		for j := range a {
			if math.Abs(float64(a[j]-b[j])) > 1e-3*(1+math.Abs(float64(a[j]))) {
				t.Fatalf("%s[%d]: %v on the CPU, %v on the device", p.Name(), j, a[j], b[j])
			}
		}
	}
}

// BenchmarkCarry compares a step of the loop with Config.Carry with a step of
// a hand-written loop that feeds the state itself (the same LSTM language
// model, 20 steps of 20 rows): the carry costs two copies of the state.
func BenchmarkCarry(b *testing.B) {
	const vocab, steps, hidden, batch = 1000, 20, 64, 20
	src, err := feed.NewLanguageModel(lmCorpus(batch*(steps*50+1), vocab), batch, steps)
	if err != nil {
		b.Fatal(err)
	}
	loader, err := feed.NewLoader(src, batch)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cpuTime := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.Run("loop-carry", func(b *testing.B) {
		m := newLSTMLM(b, vocab, steps, hidden)
		loop, err := New(Config{Inputs: []*graph.Node{m.tokens, m.targets}, Loss: m.loss, Update: m.update,
			Carry: map[*graph.Node]*graph.Node{m.hT: m.h0, m.cT: m.c0}})
		if err != nil {
			b.Fatal(err)
		}
		defer loop.Close()
		loop.Use(Hook{Name: "stop", StepEnd: func(_ context.Context, s *State) error {
			if s.Step >= b.N {
				return ErrStop
			}
			return nil
		}})
		b.ResetTimer()
		cpu0 := cpuTime()
		if _, err := loop.Run(ctx, loader, b.N/src.Windows()+1); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	})
	b.Run("hand", func(b *testing.B) {
		m := newLSTMLM(b, vocab, steps, hidden)
		exe, err := m.g.NewExecutor(graph.Options{Training: true}, m.loss, m.update, m.hT, m.cT)
		if err != nil {
			b.Fatal(err)
		}
		defer exe.Close()
		h, c := tensor.New(tensor.Float32, batch, hidden), tensor.New(tensor.Float32, batch, hidden)
		b.ResetTimer()
		cpu0 := cpuTime()
		for n, e := 0, 0; n < b.N; e++ {
			clear(h.Float32s())
			clear(c.Float32s())
			it := loader.Epoch(ctx, e)
			for n < b.N && it.Next() {
				bt := it.Batch()
				outs, err := exe.Run(graph.Feed{Node: m.tokens, Value: bt.Tensors[0]}, graph.Feed{Node: m.targets, Value: bt.Tensors[1]},
					graph.Feed{Node: m.h0, Value: h}, graph.Feed{Node: m.c0, Value: c})
				if err != nil {
					b.Fatal(err)
				}
				copy(h.Float32s(), outs[2].Float32s())
				copy(c.Float32s(), outs[3].Float32s())
				n++
			}
			it.Close()
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	})
}
