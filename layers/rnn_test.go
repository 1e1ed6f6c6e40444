package layers_test

import (
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

func sig(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// seqRef runs a one-unit cell over a one-feature sequence by hand.
func seqRef(kind string, xs []float64, p []float32) []float32 {
	var h, c float64
	var out []float32
	for _, x := range xs {
		switch kind {
		case "RNN": // W (2, 1) = wx, wh; b
			h = math.Tanh(float64(p[0])*x + float64(p[1])*h + float64(p[2]))
		case "LSTM": // W (2, 4): row x, row h; b (4); forget bias 1
			z := make([]float64, 4)
			for k := range z {
				z[k] = float64(p[k])*x + float64(p[4+k])*h + float64(p[8+k])
			}
			i, f, gg, o := sig(z[0]), sig(z[1]+1), math.Tanh(z[2]), sig(z[3])
			c = f*c + i*gg
			h = o * math.Tanh(c)
		case "GRU": // gates W (2, 2), b (2); candidate W (2, 1), b (1)
			r := sig(float64(p[0])*x + float64(p[2])*h + float64(p[4]))
			u := sig(float64(p[1])*x + float64(p[3])*h + float64(p[5]))
			n := math.Tanh(float64(p[6])*x + float64(p[7])*r*h + float64(p[8]))
			h = u*h + (1-u)*n
		}
		out = append(out, float32(h))
	}
	return out
}

func TestRecurrentForward(t *testing.T) {
	params := map[string][]float32{
		"RNN":  {0.5, -0.8, 0.1},
		"LSTM": {0.3, -0.2, 0.9, 0.4, 0.1, 0.5, -0.6, 0.2, 0.05, -0.1, 0.2, 0},
		"GRU":  {0.4, -0.3, 0.7, 0.2, 1, 1, 0.8, -0.5, 0.1},
	}
	mk := map[string]func(*layers.Layer, string, int, ...layers.Option) *layers.Layer{
		"RNN": layers.RNN, "LSTM": layers.LSTM, "GRU": layers.GRU,
	}
	xs := []float64{1, -0.5, 2}
	for kind, p := range params {
		g := graph.New(1)
		x := layers.Input(g, "x", -1, 3, 1)
		net := mk[kind](x, "cell", 1)
		wantShape(t, net, -1, 3, 1)
		off := 0
		for _, v := range net.Params() {
			n := v.Shape().Size()
			setParam(t, net, v.Name(), p[off:off+n]...)
			off += n
		}
		if off != len(p) {
			t.Fatalf("%s has %d parameter values, want %d", kind, off, len(p))
		}
		in := f32([]float32{1, -0.5, 2}, 1, 3, 1)
		want := seqRef(kind, xs, p)
		near(t, kind, run(t, net, false, feed{x, in}), want, 1e-5)
		last := mk[kind](x, "cell", 1, layers.ReturnLast())
		wantShape(t, last, -1, 1)
		near(t, kind+" last", run(t, last, false, feed{x, in}), want[2:], 1e-5)
	}
}

func TestRecurrentMasksAndDirections(t *testing.T) {
	mk := map[string]func(*layers.Layer, string, int, ...layers.Option) *layers.Layer{
		"RNN": layers.RNN, "LSTM": layers.LSTM, "GRU": layers.GRU,
	}
	for kind, f := range mk {
		g := graph.New(1)
		x := layers.Input(g, "x", -1, 4, 3)
		m := layers.Input(g, "m", -1, 4)
		short := layers.Input(g, "short", -1, 2, 3)
		in := rnd(1, 2, 4, 3)
		mask := f32([]float32{1, 1, 0, 0, 1, 1, 0, 0}, 2, 4) // both sequences have 2 real steps
		inShort := f32(append(append([]float32{}, in.Float32s()[0:6]...), in.Float32s()[12:18]...), 2, 2, 3)
		for _, bidi := range []bool{false, true} {
			opts := []layers.Option{layers.Mask(m)}
			plain := []layers.Option{}
			if bidi {
				opts = append(opts, layers.Bidirectional())
				plain = append(plain, layers.Bidirectional())
			}
			name := kind
			if bidi {
				name += "_bi"
			}
			masked := f(x, name, 5, opts...)
			ref := f(short, name, 5, plain...) // same name: same weights
			units := 5
			if bidi {
				units = 10
			}
			wantShape(t, masked, -1, 4, units)
			got := run(t, masked, false, feed{x, in}, feed{m, mask})
			want := run(t, ref, false, feed{short, inShort})
			for b := 0; b < 2; b++ {
				for s := 0; s < 4; s++ {
					for u := 0; u < units; u++ {
						w := 0.0
						if s < 2 {
							w = want.At(b, s, u)
						}
						if d := got.At(b, s, u) - w; d > 1e-5 || d < -1e-5 {
							t.Fatalf("%s: masked output [%d %d %d] = %g, want %g", name, b, s, u, got.At(b, s, u), w)
						}
					}
				}
			}
			if !bidi {
				lastM := run(t, f(x, name, 5, layers.Mask(m), layers.ReturnLast()), false, feed{x, in}, feed{m, mask})
				lastS := run(t, f(short, name, 5, layers.ReturnLast()), false, feed{short, inShort})
				near(t, name+" masked last state", lastM, lastS.Float32s(), 1e-5)
			}
			checkGrads(t, masked, false, feed{x, rnd(3, 2, 4, 3)}, feed{m, f32([]float32{1, 1, 1, 0, 1, 1, 1, 1}, 2, 4)})
			roundTrip(t, masked, []feed{{x, in}, {m, mask}})
		}
	}
}

func TestRecurrentErrors(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4, 3)
	for name, l := range map[string]*layers.Layer{
		"rank":        layers.LSTM(layers.Input(g, "flat", -1, 3), "a", 2),
		"steps":       layers.LSTM(layers.Input(g, "var", -1, -1, 3), "b", 2),
		"mask shape":  layers.GRU(x, "c", 2, layers.Mask(layers.Input(g, "m", -1, 5))),
		"forget bias": layers.GRU(x, "d", 2, layers.ForgetBias(0)),
		"units":       layers.RNN(x, "e", 0),
	} {
		if l.Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestTimeDistributed(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3, 2)
	net := layers.TimeDistributed(x, "td", func(in *layers.Layer) *layers.Layer {
		return layers.Dense(in, "td/fc", 4, layers.ReLU)
	})
	wantShape(t, net, -1, 3, 4)
	in := rnd(1, 2, 3, 2)
	got := run(t, net, false, feed{x, in})
	// Each step through the same Dense, by hand.
	w := g.VariableByName("td/fc/W").Tensor()
	bias := g.VariableByName("td/fc/b").Tensor()
	for b := 0; b < 2; b++ {
		for s := 0; s < 3; s++ {
			for u := 0; u < 4; u++ {
				v := bias.At(u)
				for k := 0; k < 2; k++ {
					v += in.At(b, s, k) * w.At(k, u)
				}
				if d := got.At(b, s, u) - max(v, 0); d > 1e-5 || d < -1e-5 {
					t.Fatalf("td[%d %d %d] = %g, want %g", b, s, u, got.At(b, s, u), max(v, 0))
				}
			}
		}
	}
	checkGrads(t, layers.TimeDistributed(x, "td2", func(in *layers.Layer) *layers.Layer {
		return layers.Dense(in, "td2/fc", 3, layers.Tanh)
	}), false, feed{x, in})
	roundTrip(t, net, []feed{{x, in}})
	if l := layers.TimeDistributed(x, "bad", nil); l.Err() == nil {
		t.Fatal("nil body: no error")
	}
}

func TestEmbeddingLSTMNetwork(t *testing.T) {
	// A small sentence classifier: ids -> embedding -> masked bidirectional
	// LSTM -> last state -> dense.
	g := graph.New(1)
	ids := layers.IntInput(g, "ids", -1, 5)
	m := layers.Input(g, "mask", -1, 5)
	net := layers.Embedding(ids, "emb", 20, 4)
	net = layers.LSTM(net, "lstm", 6, layers.Mask(m), layers.Bidirectional(), layers.ReturnLast())
	net = layers.Dense(net, "out", 3)
	wantShape(t, net, -1, 3)
	feedsIn := []feed{{ids, ints([]int32{1, 4, 2, 0, 0, 7, 7, 3, 19, 5}, 2, 5)}, {m, f32([]float32{1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, 2, 5)}}
	checkGrads(t, net, false, feedsIn...)
	roundTrip(t, net, feedsIn)
}

// A state carried from one batch to the next (a language model over a long
// text) gives the same result as one pass over the whole sequence.
func TestRecurrentInitialState(t *testing.T) {
	for _, kind := range []string{"RNN", "LSTM", "GRU"} {
		f := map[string]func(*layers.Layer, string, int, ...layers.Option) *layers.Layer{
			"RNN": layers.RNN, "LSTM": layers.LSTM, "GRU": layers.GRU,
		}[kind]
		g := graph.New(1)
		long := layers.Input(g, "long", -1, 4, 2)
		half := layers.Input(g, "half", -1, 2, 2)
		h0 := layers.Input(g, "h0", -1, 3)
		c0 := layers.Input(g, "c0", -1, 3)
		states := []*layers.Layer{h0}
		if kind == "LSTM" {
			states = append(states, c0)
		}
		whole := f(long, "cell", 3, layers.ReturnLast())
		part := f(half, "cell", 3, layers.ReturnLast(), layers.InitialState(states...))
		if err := part.Err(); err != nil {
			t.Fatal(err)
		}
		in := rnd(1, 2, 4, 2)
		d := in.Float32s()
		first := f32(append(append([]float32{}, d[0:4]...), d[8:12]...), 2, 2, 2)
		second := f32(append(append([]float32{}, d[4:8]...), d[12:16]...), 2, 2, 2)

		targets := []*graph.Node{part.Output(), part.Aux("h")}
		if kind == "LSTM" {
			targets = append(targets, part.Aux("c"))
		}
		e, err := g.NewExecutor(graph.Options{Threads: 1}, targets...)
		if err != nil {
			t.Fatal(err)
		}
		zero := f32(make([]float32, 6), 2, 3)
		out, err := e.Run(graph.Feed{Node: half.Output(), Value: first}, graph.Feed{Node: h0.Output(), Value: zero}, graph.Feed{Node: c0.Output(), Value: zero})
		if err != nil {
			t.Fatal(err)
		}
		h, c := out[1].Clone(), zero
		if kind == "LSTM" {
			c = out[2].Clone()
		}
		out, err = e.Run(graph.Feed{Node: half.Output(), Value: second}, graph.Feed{Node: h0.Output(), Value: h}, graph.Feed{Node: c0.Output(), Value: c})
		if err != nil {
			t.Fatal(err)
		}
		near(t, kind+" carried state", out[0], run(t, whole, false, feed{long, in}).Float32s(), 1e-5)
		e.Close()
		fs := []feed{{half, first}, {h0, rnd(2, 2, 3)}}
		if kind == "LSTM" {
			fs = append(fs, feed{c0, rnd(3, 2, 3)})
		}
		checkGrads(t, part, false, fs...)
		roundTrip(t, part, fs)
	}
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3, 2)
	bi := layers.GRU(x, "bi", 2, layers.Bidirectional())
	if names := bi.AuxNames(); len(names) != 2 || names[0] != "bw/h" || names[1] != "fw/h" {
		t.Fatalf("bidirectional aux %v", names)
	}
	if l := layers.LSTM(x, "one", 2, layers.InitialState(layers.Input(g, "s", -1, 2))); l.Err() == nil {
		t.Fatal("LSTM with one initial state: no error")
	}
	if l := layers.GRU(x, "wide", 2, layers.InitialState(layers.Input(g, "s3", -1, 3))); l.Err() == nil {
		t.Fatal("initial state of the wrong width: no error")
	}
}

func TestSequenceMask(t *testing.T) {
	g := graph.New(1)
	lens := layers.IntInput(g, "lens", -1)
	m := layers.SequenceMask(lens, "mask", 4)
	wantShape(t, m, -1, 4)
	near(t, "mask", run(t, m, false, feed{lens, ints([]int32{0, 2, 4, 9}, 4)}),
		[]float32{0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 0)
	// Lengths drive a masked GRU like an explicit mask.
	x := layers.Input(g, "x", -1, 4, 2)
	mf := layers.Input(g, "mf", -1, 4)
	a := layers.GRU(x, "gru", 3, layers.Mask(m), layers.ReturnLast())
	b := layers.GRU(x, "gru", 3, layers.Mask(mf), layers.ReturnLast())
	in := rnd(1, 2, 4, 2)
	near(t, "lengths = mask", run(t, a, false, feed{x, in}, feed{lens, ints([]int32{3, 1}, 2)}),
		run(t, b, false, feed{x, in}, feed{mf, f32([]float32{1, 1, 1, 0, 1, 0, 0, 0}, 2, 4)}).Float32s(), 1e-6)
	checkGrads(t, a, false, feed{x, in}, feed{lens, ints([]int32{3, 1}, 2)})
	roundTrip(t, a, []feed{{x, in}, {lens, ints([]int32{2, 4}, 2)}})
	if l := layers.SequenceMask(x, "bad", 4); l.Err() == nil {
		t.Fatal("float lengths: no error")
	}
}

// OutputDropout drops outputs in training (zeros, the rest scaled by 1/keep, the
// same elements in every copy of the run's mask) and is the identity in
// inference; it survives the JSON round trip.
func TestRecurrentOutputDropout(t *testing.T) {
	for _, unrolled := range []bool{false, true} {
		g := graph.New(1)
		x := layers.Input(g, "x", -1, 6, 3)
		opts := []layers.Option{layers.OutputDropout(0.5)}
		if unrolled { // a mask sends the LSTM down the step-by-step path
			opts = append(opts, layers.Mask(layers.Input(g, "m", -1, 6)))
		}
		net := layers.LSTM(x, "lstm", 8, opts...)
		plain := layers.LSTM(x, "lstm", 8, append(opts[1:], layers.Reuse())...)
		wantShape(t, net, -1, 6, 8)
		xs := make([]float32, 4*6*3)
		for i := range xs {
			xs[i] = float32(i%7)/7 - 0.4
		}
		fs := []feed{{x, f32(xs, 4, 6, 3)}}
		if unrolled {
			ones := make([]float32, 24)
			for i := range ones {
				ones[i] = 1
			}
			fs = append(fs, feed{net.Inputs()[1], f32(ones, 4, 6)})
		}
		ref := run(t, plain, false, fs...).Float32s()
		near(t, "inference output against the layer without dropout", run(t, net, false, fs...), ref, 1e-6)
		got := run(t, net, true, fs...).Float32s()
		zeros := 0
		for i, v := range got {
			switch {
			case v == 0:
				zeros++
			case math.Abs(float64(v-2*ref[i])) > 1e-5:
				t.Fatalf("unrolled=%v: element %d = %g, want 0 or %g (2x the plain output)", unrolled, i, v, 2*ref[i])
			}
		}
		if zeros < len(got)/4 || zeros > 3*len(got)/4 {
			t.Errorf("unrolled=%v: %d of %d outputs dropped at keep 0.5", unrolled, zeros, len(got))
		}
		if !unrolled {
			roundTrip(t, net, fs)
			js, err := net.MarshalJSON()
			if err != nil || !strings.Contains(string(js), `"output_keep":0.5`) {
				t.Errorf("the architecture JSON does not keep output_keep: %s (%v)", js, err)
			}
		}
	}
	g := graph.New(1)
	if l := layers.LSTM(layers.Input(g, "x", -1, 4, 2), "bad", 3, layers.OutputDropout(1.5)); l.Err() == nil {
		t.Error("OutputDropout(1.5) was accepted")
	}
}
