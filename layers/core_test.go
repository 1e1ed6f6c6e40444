package layers_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

func TestDense(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	net := layers.Dense(x, "fc", 2, layers.ReLU)
	wantShape(t, net, -1, 2)
	ps := net.Params()
	if len(ps) != 2 || ps[0].Name() != "fc/W" || ps[1].Name() != "fc/b" || !ps[0].Shape().Equal(tensor.Shape{3, 2}) {
		t.Fatalf("params %v, want fc/W (3, 2), fc/b (2)", ps)
	}
	setParam(t, net, "fc/W", 1, -1, 2, 0, 0, 1)
	setParam(t, net, "fc/b", 0.5, -10)
	out := run(t, net, false, feed{x, f32([]float32{1, 2, 3, -1, 0, 0}, 2, 3)})
	// row 0: (1+4+0.5, -1+0+3-10) -> (5.5, relu(-8)=0); row 1: (-1+0.5, 1-10) -> (0, 0)
	near(t, "dense", out, []float32{5.5, 0, 0, 0}, 1e-6)
	checkGrads(t, layers.Dense(x, "fc2", 4, layers.Tanh), false, feed{x, rnd(1, 2, 3)})
	roundTrip(t, net, []feed{{x, rnd(2, 5, 3)}})

	nb := layers.Dense(x, "nb", 4, layers.NoBias(), layers.WInit(tensor.HeNormal()))
	if len(nb.Params()) != 1 {
		t.Fatalf("NoBias: params %v", nb.Params())
	}
	roundTrip(t, nb, []feed{{x, rnd(2, 5, 3)}})
}

func TestActivations(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	in := f32([]float32{-2, -0.5, 0.5, 2}, 1, 4)
	for _, c := range []struct {
		act  layers.Activation
		want func(float64) float64
	}{
		{layers.Linear, func(v float64) float64 { return v }},
		{layers.ReLU, func(v float64) float64 { return max(v, 0) }},
		{layers.LeakyReLU(0.1), func(v float64) float64 { return max(v, 0.1*v) }},
		{layers.Sigmoid, func(v float64) float64 { return 1 / (1 + exp(-v)) }},
		{layers.Tanh, func(v float64) float64 { return (exp(v) - exp(-v)) / (exp(v) + exp(-v)) }},
		{layers.ELU, func(v float64) float64 {
			if v > 0 {
				return v
			}
			return exp(v) - 1
		}},
		{layers.Softplus, func(v float64) float64 { return log(1 + exp(v)) }},
	} {
		net := layers.Activate(x, "act_"+string(c.act), c.act)
		var want []float32
		for _, v := range in.Float32s() {
			want = append(want, float32(c.want(float64(v))))
		}
		near(t, string(c.act), run(t, net, false, feed{x, in}), want, 1e-5)
	}
	sm := run(t, layers.Activate(x, "sm", layers.Softmax), false, feed{x, in})
	sum := 0.0
	for _, v := range sm.Float32s() {
		sum += float64(v)
	}
	if d := sum - 1; d > 1e-5 || d < -1e-5 {
		t.Fatalf("softmax sums to %g", sum)
	}
	bad := layers.Dense(x, "bad", 2, layers.Activation("swish"))
	if err := bad.Err(); !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), "swish") {
		t.Fatalf("unknown activation: %v", err)
	}
}

func TestOptionErrors(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	net := layers.Dense(x, "fc", 2, layers.Same)
	err := net.Err()
	var le *layers.Error
	if !errors.Is(err, layers.ErrBadOption) || !errors.As(err, &le) || le.Layer != "fc" || le.Kind != "Dense" {
		t.Fatalf("Dense with a padding: %v", err)
	}
	if !strings.Contains(err.Error(), "padding") || !strings.Contains(err.Error(), "act, w_init") {
		t.Fatalf("message should name the option and what Dense takes: %v", err)
	}
	if g.Err() == nil {
		t.Fatal("the layer error is not recorded in the graph")
	}
	if _, err := g.NewExecutor(graph.Options{}, net.Output()); err == nil {
		t.Fatal("compiling a graph with a failed layer succeeded")
	}
	// Layers built on a failed layer fail with the same error.
	next := layers.Dense(net, "fc2", 3)
	if !errors.Is(next.Err(), layers.ErrBadOption) {
		t.Fatalf("error not propagated: %v", next.Err())
	}
	if _, err := next.MarshalJSON(); err == nil {
		t.Fatal("MarshalJSON of a failed network succeeded")
	}

	g = graph.New(1)
	x = layers.Input(g, "x", -1, 4)
	for name, l := range map[string]*layers.Layer{
		"units":       layers.Dense(x, "u", 0),
		"twice":       layers.Dense(x, "t", 2, layers.ReLU, layers.Tanh),
		"rank":        layers.Dense(layers.Input(g, "img", -1, 2, 2), "r", 2),
		"no name":     layers.Dense(x, "", 2),
		"nil input":   layers.Dense(nil, "n", 2),
		"dropout":     layers.Dropout(x, "d", 1.5),
		"emb float":   layers.Embedding(x, "e", 10, 2),
		"elementwise": layers.Elementwise("ew", layers.Add, x, layers.Input(g, "y", -1, 5)),
	} {
		if l.Err() == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(l.Err().Error(), "layers: ") {
			t.Errorf("%s: error does not name the layer: %v", name, l.Err())
		}
	}
}

func TestDuplicateNames(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	a := layers.Dense(x, "fc", 4)
	b := layers.Dense(a, "fc", 4)
	if err := b.Err(); !errors.Is(err, layers.ErrDuplicateName) || !strings.Contains(err.Error(), `"fc"`) {
		t.Fatalf("two layers called fc in one network: %v", err)
	}
	// With Reuse, the second shares the first's parameters.
	g = graph.New(1)
	x = layers.Input(g, "x", -1, 4)
	a = layers.Dense(x, "fc", 4)
	b = layers.Dense(a, "fc", 4, layers.Reuse())
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	if a.Params()[0] != b.Params()[0] || len(b.AllParams()) != 2 {
		t.Fatalf("Reuse did not share: %v %v", a.Params(), b.AllParams())
	}
	if !strings.Contains(b.Summary(), "(reused)") {
		t.Fatalf("summary does not show the reuse:\n%s", b.Summary())
	}
	roundTrip(t, b, []feed{{x, rnd(1, 2, 4)}})
	// Two branches with the same name joined is a duplicate too.
	g = graph.New(1)
	x = layers.Input(g, "x", -1, 4)
	c := layers.Concat("cat", -1, layers.Dense(x, "br", 3), layers.Dense(x, "br", 3))
	if !errors.Is(c.Err(), layers.ErrDuplicateName) {
		t.Fatalf("joined branches with one name: %v", c.Err())
	}
}

func TestParameterSharing(t *testing.T) {
	g := graph.New(1)
	disc := func(in *layers.Layer) *layers.Layer {
		net := layers.Dense(in, "d/fc1", 8, layers.ReLU)
		return layers.Dense(net, "d/out", 1)
	}
	real := layers.Input(g, "real", -1, 4)
	z := layers.Input(g, "z", -1, 2)
	fake := layers.Dense(z, "g/fc", 4, layers.Tanh)
	dReal, dFake := disc(real), disc(fake)
	if err := dFake.Err(); err != nil {
		t.Fatal(err)
	}
	pr, pf := dReal.AllParams(), dFake.AllParams()
	if len(pr) != 4 || len(pf) != 6 {
		t.Fatalf("params: real %d, fake %d", len(pr), len(pf))
	}
	for i := range pr {
		if pr[i] != pf[2+i] {
			t.Fatalf("discriminator parameter %s not shared", pr[i].Name())
		}
	}
	// Same weights: the discriminator gives the same output for the same image.
	img := rnd(3, 2, 4)
	a := run(t, dReal, false, feed{real, img})
	// Training one updates both: the graph has one variable per name.
	if got := len(g.Variables()); got != 6 {
		t.Fatalf("graph has %d variables, want 6", got)
	}
	b := run(t, disc(real), false, feed{real, img}) // a third copy, same weights
	near(t, "shared discriminator", b, a.Float32s(), 0)

	// A different shape under the same name is an error that says so.
	other := layers.Input(g, "wide", -1, 5)
	bad := disc(other)
	if err := bad.Err(); !errors.Is(err, layers.ErrParamShape) || !strings.Contains(err.Error(), "d/fc1/W") || !strings.Contains(err.Error(), "(4, 8)") {
		t.Fatalf("shape clash: %v", err)
	}
}

func TestDropoutModes(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 1000)
	net := layers.Dropout(x, "drop", 0.5)
	in := tensor.New(tensor.Float32, 2, 1000)
	in.Fill(1)
	// Inference: identity.
	near(t, "dropout inference", run(t, net, false, feed{x, in}), in.Float32s(), 0)
	// Training: about half dropped, the rest scaled by 2; the same graph.
	out := run(t, net, true, feed{x, in})
	zeros := 0
	for _, v := range out.Float32s() {
		switch v {
		case 0:
			zeros++
		case 2:
		default:
			t.Fatalf("dropout training value %g, want 0 or 2", v)
		}
	}
	if zeros < 850 || zeros > 1150 {
		t.Fatalf("dropout dropped %d of 2000, want about 1000", zeros)
	}
	// Gradient (inference and training: the mask is applied to dy too).
	checkGrads(t, layers.Dense(layers.Dropout(x, "d2", 0.7), "fc", 2), false, feed{x, rnd(1, 2, 1000)})
	roundTrip(t, net, []feed{{x, in}})
}

func TestGaussianNoise(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2000)
	net := layers.GaussianNoise(x, "noise", 0.5)
	in := rnd(1, 1, 2000)
	near(t, "noise inference", run(t, net, false, feed{x, in}), in.Float32s(), 0)
	out := run(t, net, true, feed{x, in})
	var s, ss float64
	for i, v := range out.Float32s() {
		d := float64(v - in.Float32s()[i])
		s += d
		ss += d * d
	}
	mean, std := s/2000, sqrt(ss/2000-(s/2000)*(s/2000))
	if mean > 0.05 || mean < -0.05 || std < 0.45 || std > 0.55 {
		t.Fatalf("noise mean %g std %g, want 0 and 0.5", mean, std)
	}
	checkGrads(t, layers.GaussianNoise(x, "n2", 0.1), false, feed{x, rnd(2, 1, 2000)})
	roundTrip(t, net, []feed{{x, in}})
}

func TestDropConnect(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 50)
	net := layers.DropConnectDense(x, "dc", 40, 0.5, layers.NoBias())
	in := rnd(1, 3, 50)
	inf := run(t, net, false, feed{x, in})
	ref := run(t, layers.Dense(x, "dc", 40, layers.NoBias()), false, feed{x, in}) // same weights by name
	near(t, "dropconnect inference = dense", inf, ref.Float32s(), 1e-6)
	tr := run(t, net, true, feed{x, in})
	same := 0
	for i, v := range tr.Float32s() {
		if v == inf.Float32s()[i] {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("training output equals inference in %d of 120 places: weights not dropped", same)
	}
	checkGrads(t, net, false, feed{x, rnd(2, 2, 50)})
	roundTrip(t, net, []feed{{x, in}})
}

func TestFlattenReshapeTranspose(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2, 3, 4)
	fl := layers.Flatten(x, "flat")
	wantShape(t, fl, -1, 24)
	rs := layers.Reshape(fl, "rs", -1, 6, 4)
	wantShape(t, rs, -1, 6, 4)
	tr := layers.Transpose(rs, "tr", 0, 2, 1)
	wantShape(t, tr, -1, 4, 6)
	in := rnd(1, 2, 2, 3, 4)
	out := run(t, tr, false, feed{x, in})
	for b := 0; b < 2; b++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 6; j++ {
				if got, want := out.At(b, i, j), in.Float32s()[b*24+j*4+i]; got != float64(want) {
					t.Fatalf("transpose [%d %d %d] = %g, want %g", b, i, j, got, want)
				}
			}
		}
	}
	checkGrads(t, layers.Dense(layers.Flatten(tr, "f2"), "fc", 3), false, feed{x, in})
	roundTrip(t, tr, []feed{{x, in}})
	if l := layers.Transpose(rs, "bad", 0, 1); !errors.Is(l.Err(), layers.ErrBadConfig) {
		t.Fatalf("short perm: %v", l.Err())
	}
	if l := layers.Flatten(layers.Input(g, "u", -1, -1, 3), "f"); l.Err() == nil {
		t.Fatal("Flatten of an unknown inner dimension succeeded")
	}
}

func TestConcatElementwise(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2)
	y := layers.Input(g, "y", -1, 2)
	a, b := f32([]float32{1, -2, 3, 4}, 2, 2), f32([]float32{0.5, 1, -3, 2}, 2, 2)
	cat := layers.Concat("cat", -1, x, y)
	wantShape(t, cat, -1, 4)
	near(t, "concat", run(t, cat, false, feed{x, a}, feed{y, b}), []float32{1, -2, 0.5, 1, 3, 4, -3, 2}, 0)
	for op, want := range map[layers.ElementwiseOp][]float32{
		layers.Add: {1.5, -1, 0, 6},
		layers.Mul: {0.5, -2, -9, 8},
		layers.Max: {1, 1, 3, 4},
	} {
		net := layers.Elementwise("ew_"+string(op), op, x, y)
		near(t, string(op), run(t, net, false, feed{x, a}, feed{y, b}), want, 0)
		roundTrip(t, net, []feed{{x, a}, {y, b}})
	}
	fx := layers.Dense(x, "fx", 3)
	fy := layers.Dense(y, "fy", 3)
	checkGrads(t, layers.Elementwise("m", layers.Mul, fx, fy), false, feed{x, rnd(1, 2, 2)}, feed{y, rnd(2, 2, 2)})
	checkGrads(t, layers.Concat("c2", 1, fx, fy), false, feed{x, rnd(1, 2, 2)}, feed{y, rnd(2, 2, 2)})
	roundTrip(t, cat, []feed{{x, a}, {y, b}})
}

func TestEmbedding(t *testing.T) {
	g := graph.New(1)
	ids := layers.IntInput(g, "ids", -1, 3)
	emb := layers.Embedding(ids, "emb", 5, 2)
	wantShape(t, emb, -1, 3, 2)
	if p := emb.Params(); len(p) != 1 || p[0].Name() != "emb/embeddings" {
		t.Fatalf("params %v", p)
	}
	setParam(t, emb, "emb/embeddings", 0, 1, 10, 11, 20, 21, 30, 31, 40, 41)
	near(t, "embedding", run(t, emb, false, feed{ids, ints([]int32{4, 0, 2}, 1, 3)}), []float32{40, 41, 0, 1, 20, 21}, 0)
	checkGrads(t, layers.Dense(layers.Flatten(emb, "f"), "fc", 2), false, feed{ids, ints([]int32{1, 1, 3, 0, 4, 2}, 2, 3)})
	roundTrip(t, emb, []feed{{ids, ints([]int32{1, 2, 3}, 1, 3)}})
}

func TestPReLU(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2)
	net := layers.PReLU(x, "prelu")
	setParam(t, net, "prelu/alpha", 0.1, 0.5)
	near(t, "prelu", run(t, net, false, feed{x, f32([]float32{-2, -2, 3, 4}, 2, 2)}), []float32{-0.2, -1, 3, 4}, 1e-6)
	checkGrads(t, net, false, feed{x, f32([]float32{-1, 0.5, 0.7, -0.3, 2, -2}, 3, 2)})
	roundTrip(t, net, []feed{{x, rnd(1, 3, 2)}})
}

func TestLambda(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	double := func(n *graph.Node) *graph.Node { return graph.Scale(n, 2) }
	net := layers.Lambda(x, "double", double)
	near(t, "lambda", run(t, net, false, feed{x, f32([]float32{1, 2, 3}, 1, 3)}), []float32{2, 4, 6}, 0)
	// A lambda that makes a variable: it becomes the layer's parameter.
	scale := func(in ...*graph.Node) *graph.Node {
		s := in[0].Graph().Variable("scaled/s", tensor.Constant(3), 3)
		return graph.Add(graph.Mul(in[0], s), in[1])
	}
	y := layers.Input(g, "y", -1, 3)
	two := layers.LambdaN("scaled", scale, net, y)
	if p := two.Params(); len(p) != 1 || p[0].Name() != "scaled/s" {
		t.Fatalf("lambda params %v", p)
	}
	checkGrads(t, two, false, feed{x, rnd(1, 2, 3)}, feed{y, rnd(2, 2, 3)})
	// JSON keeps the function's name; FromJSON takes the function.
	data, _ := two.MarshalJSON()
	if _, err := layers.FromJSON(graph.New(1), data); err == nil || !strings.Contains(err.Error(), "WithFunc") {
		t.Fatalf("FromJSON without the functions: %v", err)
	}
	roundTrip(t, two, []feed{{x, rnd(1, 2, 3)}, {y, rnd(2, 2, 3)}},
		layers.WithFunc("double", func(in ...*graph.Node) *graph.Node { return double(in[0]) }),
		layers.WithFunc("scaled", scale))
}

func TestInputNode(t *testing.T) {
	g := graph.New(1)
	p := g.Placeholder("raw", tensor.Float32, -1, 4)
	pre := graph.Scale(p, 0.5)
	in := layers.InputNode("pre", pre)
	net := layers.Dense(in, "fc", 2)
	wantShape(t, net, -1, 2)
	if net.InputLayers()[0].Output() != pre {
		t.Fatal("InputNode does not use the node")
	}
}

func TestFromJSONErrors(t *testing.T) {
	g := graph.New(1)
	for name, doc := range map[string]string{
		"not json":     `{`,
		"format":       `{"format":"other","layers":[]}`,
		"empty":        `{"format":"tlgo-layers/1","layers":[]}`,
		"kind":         `{"format":"tlgo-layers/1","layers":[{"name":"a","kind":"Magic","config":{}}]}`,
		"forward ref":  `{"format":"tlgo-layers/1","layers":[{"name":"a","kind":"Flatten","inputs":[1],"config":{}}]}`,
		"config field": `{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,2],"dtype":"float32","extra":1}}]}`,
		"bad init": `{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,2],"dtype":"float32"}},` +
			`{"name":"fc","kind":"Dense","inputs":[0],"config":{"units":2,"w_init":"mystery","b_init":null}}]}`,
	} {
		if _, err := layers.FromJSON(g, []byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSummary(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 784)
	net := layers.Dense(x, "fc1", 1000, layers.ReLU)
	net = layers.Dropout(net, "drop", 0.5)
	net = layers.Dense(net, "out", 10)
	s := net.Summary()
	for _, want := range []string{"fc1", "Dense", "(?, 1000)", "785,000", "10,010", "params: 795,010 (trainable 795,010, other 0), in 4 variables"} {
		if !strings.Contains(s, want) {
			t.Fatalf("summary lacks %q:\n%s", want, s)
		}
	}
	if net.ParamCount() != 795010 || len(net.Layers()) != 4 || len(net.Nodes()) != 4 {
		t.Fatalf("counts: params %d, layers %d", net.ParamCount(), len(net.Layers()))
	}
	if ps := net.ParamsByLayer(); len(ps["fc1"]) != 2 || len(ps["drop"]) != 0 {
		t.Fatalf("ParamsByLayer %v", ps)
	}
}

func TestTrainingAndInferenceNetsShareWeights(t *testing.T) {
	g := graph.New(1)
	build := func(in *layers.Layer, training bool) *layers.Layer {
		net := layers.Dense(in, "fc1", 8, layers.ReLU)
		if training {
			net = layers.Dropout(net, "drop", 0.5)
		}
		return layers.Dense(net, "out", 2)
	}
	x := layers.Input(g, "x", -1, 4)
	trainNet := build(x, true)
	xe := layers.Input(g, "x_eval", -1, 4)
	evalNet := build(xe, false)
	if len(evalNet.AllParams()) != 4 {
		t.Fatalf("eval net params %v", evalNet.AllParams())
	}
	for i, p := range evalNet.AllParams() {
		if p != trainNet.AllParams()[i] {
			t.Fatalf("parameter %s not shared", p.Name())
		}
	}
	// The training net in inference mode equals the eval net.
	in := rnd(1, 3, 4)
	near(t, "train net in inference = eval net", run(t, trainNet, false, feed{x, in}), run(t, evalNet, false, feed{xe, in}).Float32s(), 0)
}

func TestActivateAndInputNodeRoundTrip(t *testing.T) {
	g := graph.New(1)
	p := g.Placeholder("raw", tensor.Float32, -1, 3)
	in := layers.InputNode("in", p)
	net := layers.Activate(layers.Dense(in, "fc", 3), "act", layers.LeakyReLU(0.3))
	roundTrip(t, net, []feed{{in, rnd(1, 2, 3)}})
}

// A training step of a network of layers allocates nothing once compiled: the
// layers add nodes, never work per step.
func TestTrainingStepAllocates0(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 6)
	m := layers.Input(g, "m", -1, 3)
	net := layers.Reshape(x, "seq", -1, 3, 2)
	net = layers.GRU(net, "gru", 4, layers.Mask(m))
	net = layers.LSTM(net, "lstm", 4) // the fused sequence op
	net = layers.Flatten(net, "flat")
	net = layers.GaussianNoise(net, "noise", 0.1)
	net = layers.DropConnectDense(net, "dc", 5, 0.8, layers.ReLU)
	net = layers.Dropout(net, "drop", 0.5)
	net = layers.PReLU(net, "prelu")
	net = layers.Dense(net, "out", 3)
	y := g.Placeholder("y", tensor.Int32, -1)
	loss := graph.ReduceMean(graph.SparseSoftmaxCrossEntropy(net.Output(), y))
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.1), loss, net.Trainable()...)
	if err != nil {
		t.Fatal(err)
	}
	e, err := g.NewExecutor(graph.Options{Training: true, Threads: 1}, loss, step)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	feeds := []graph.Feed{{Node: x.Output(), Value: rnd(1, 4, 6)}, {Node: m.Output(), Value: f32([]float32{1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1}, 4, 3)}, {Node: y, Value: ints([]int32{0, 1, 2, 1}, 4)}}
	if _, err := e.Run(feeds...); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(5, func() {
		if _, err := e.Run(feeds...); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("a training step allocates %v times", n)
	}
}

func TestBuildFromConfig(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	// No BInit: no bias, as NoBias.
	l := layers.Build(nil, "fc", &layers.DenseConfig{Units: 2, Act: layers.Tanh, WInit: layers.Init{Initializer: tensor.Ones()}}, x)
	wantShape(t, l, -1, 2)
	if len(l.Params()) != 1 {
		t.Fatalf("params %v", l.Params())
	}
	v := math.Tanh(6)
	near(t, "built", run(t, l, false, feed{x, f32([]float32{1, 2, 3}, 1, 3)}), []float32{float32(v), float32(v)}, 1e-6)
	in := layers.Build(g, "y", &layers.InputConfig{Shape: []int{-1, 2}, DType: "int32"})
	if in.Output().Value().DType != tensor.Int32 {
		t.Fatalf("Build Input: %v", in.Output().Value())
	}
	if l := layers.Build(nil, "none", nil, x); !errors.Is(l.Err(), layers.ErrBadConfig) {
		t.Fatalf("nil config: %v", l.Err())
	}
	if l := layers.Build(nil, "noin", &layers.InputConfig{Shape: []int{2}}); !errors.Is(l.Err(), layers.ErrBadConfig) {
		t.Fatalf("no graph: %v", l.Err())
	}
}

func TestNewConfig(t *testing.T) {
	c, err := layers.NewConfig("Conv2D")
	if err != nil {
		t.Fatal(err)
	}
	cc := c.(*layers.ConvConfig)
	cc.Filters, cc.Kernel, cc.Strides, cc.Dilations, cc.Padding = 2, []int{3, 3}, []int{1, 1}, []int{1, 1}, layers.Same
	cc.WInit = layers.Init{Initializer: tensor.GlorotUniform()}
	g := graph.New(1)
	l := layers.Build(nil, "conv", c, layers.Input(g, "x", -1, 5, 5, 1))
	wantShape(t, l, -1, 5, 5, 2)
	if l.Kind() != "Conv2D" || len(l.Params()) != 1 {
		t.Fatalf("kind %q, params %v", l.Kind(), l.Params())
	}
	if _, err := layers.NewConfig("Conv3D"); !errors.Is(err, layers.ErrBadConfig) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// In training, the gradient of dropout goes through the same mask as the
// forward pass: for y = x·mask, dL/dx = dL/dy · y/x.
func TestDropoutTrainingGradient(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 50)
	for _, net := range []*layers.Layer{layers.Dropout(x, "drop", 0.6), layers.GaussianNoise(x, "noise", 0.3)} {
		w := rnd(7, 4, 50)
		loss := graph.ReduceSum(graph.Mul(net.Output(), g.Const(w)))
		dx, err := graph.Gradients(loss, x.Output())
		if err != nil {
			t.Fatal(err)
		}
		e, err := g.NewExecutor(graph.Options{Training: true, Threads: 1}, net.Output(), dx[0])
		if err != nil {
			t.Fatal(err)
		}
		in := gradcheckAway(4, 50)
		out, err := e.Run(x.Feed(in))
		if err != nil {
			t.Fatal(err)
		}
		y, d := out[0].Float32s(), out[1].Float32s()
		for i, xv := range in.Float32s() {
			want := w.Float32s()[i] // noise: dy/dx = 1
			if net.Kind() == "Dropout" {
				want *= y[i] / xv
			}
			if diff := d[i] - want; diff > 1e-4 || diff < -1e-4 {
				t.Fatalf("%s: dx[%d] = %g, want %g", net.Name(), i, d[i], want)
			}
		}
		e.Close()
	}
}

func TestElementwiseAndActivationGradients(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	y := layers.Input(g, "y", -1, 3)
	fx, fy := layers.Dense(x, "fx", 4), layers.Dense(y, "fy", 4)
	for _, op := range []layers.ElementwiseOp{layers.Add, layers.Max} {
		checkGrads(t, layers.Elementwise("ew"+string(op), op, fx, fy), false, feed{x, spread(1, 2, 3)}, feed{y, spread(2, 2, 3)})
	}
	for _, act := range []layers.Activation{layers.ReLU, layers.Sigmoid, layers.Tanh, layers.ELU, layers.Softplus, layers.Softmax, layers.LeakyReLU(0.2)} {
		checkGrads(t, layers.Activate(fx, "a"+string(act), act), false, feed{x, spread(3, 2, 3)})
	}
}

// gradcheckAway returns values in ±[0.2, 1): never near zero.
func gradcheckAway(rows, cols int) *tensor.Tensor {
	t := rnd(11, rows, cols)
	for i, v := range t.Float32s() {
		if v >= 0 {
			t.Float32s()[i] = 0.2 + 0.8*v
		} else {
			t.Float32s()[i] = -0.2 + 0.8*v
		}
	}
	return t
}

// A failed network still answers every question without panicking.
func TestFailedLayerMethods(t *testing.T) {
	for _, l := range []*layers.Layer{
		layers.Dense(nil, "a", 2),
		layers.Concat("c", 0, nil, nil),
		layers.Dense(layers.Input(graph.New(1), "x", -1, 2), "b", 0),
		layers.InputNode("n", nil),
	} {
		if l.Err() == nil {
			t.Fatalf("%s: no error", l.Name())
		}
		_ = l.Layers()
		_ = l.AllParams()
		_ = l.Nodes()
		_ = l.Summary()
		_ = l.Shape()
		_ = l.ParamsByLayer()
		if _, err := l.MarshalJSON(); err == nil {
			t.Fatalf("%s: MarshalJSON of a failed layer succeeded", l.Name())
		}
	}
}
