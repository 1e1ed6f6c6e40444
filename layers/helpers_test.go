package layers_test

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// feed pairs an Input layer with a value.
type feed struct {
	in *layers.Layer
	v  *tensor.Tensor
}

func feeds(fs []feed) []graph.Feed {
	var gf []graph.Feed
	for _, f := range fs {
		gf = append(gf, f.in.Feed(f.v))
	}
	return gf
}

// run computes the network's output once, in training or inference mode.
func run(t *testing.T, net *layers.Layer, training bool, fs ...feed) *tensor.Tensor {
	t.Helper()
	if err := net.Err(); err != nil {
		t.Fatal(err)
	}
	e, err := net.Graph().NewExecutor(graph.Options{Training: training, Threads: 1}, net.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out, err := e.Run(feeds(fs)...)
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Clone()
}

func rnd(seed uint64, shape ...int) *tensor.Tensor { return gradcheck.Rand(seed, -1, 1, shape...) }

func ints(data []int32, shape ...int) *tensor.Tensor {
	t, err := tensor.FromInt32(data, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

func f32(data []float32, shape ...int) *tensor.Tensor {
	t, err := tensor.FromFloat32(data, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

// near fails unless got and want agree element by element.
func near(t *testing.T, what string, got *tensor.Tensor, want []float32, tol float64) {
	t.Helper()
	g := got.Float32s()
	if len(g) != len(want) {
		t.Fatalf("%s: %d values (shape %v), want %d", what, len(g), got.Shape(), len(want))
	}
	for i := range g {
		if math.Abs(float64(g[i]-want[i])) > tol || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s: element %d = %g, want %g (got %v)", what, i, g[i], want[i], g)
		}
	}
}

func wantShape(t *testing.T, l *layers.Layer, want ...int) {
	t.Helper()
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if !l.Shape().Equal(want) {
		t.Fatalf("%s: output shape %v, want %v", l.Name(), l.Shape(), tensor.Shape(want))
	}
}

// setParam writes values into a parameter.
func setParam(t *testing.T, net *layers.Layer, name string, vals ...float32) {
	t.Helper()
	v := net.Graph().VariableByName(name)
	if v == nil {
		t.Fatalf("no parameter %s", name)
	}
	d := v.Tensor().Float32s()
	if len(d) != len(vals) {
		t.Fatalf("%s has %d values (shape %v), given %d", name, len(d), v.Shape(), len(vals))
	}
	copy(d, vals)
}

// checkGrads compares the gradients of Σ w·out (w fixed, random) with respect to
// every float input and every trainable parameter of the network with central
// differences, in inference mode (random layers are deterministic there) unless
// training is set.
func checkGrads(t *testing.T, net *layers.Layer, training bool, fs ...feed) {
	t.Helper()
	if err := net.Err(); err != nil {
		t.Fatal(err)
	}
	g := net.Graph()
	out := net.Output()
	shape := out.Shape().Clone()
	for i, d := range shape {
		if d < 0 { // the batch: take it from the first feed
			shape[i] = fs[0].v.Shape()[0]
		}
	}
	w := gradcheck.Rand(99, 0.5, 1.5, shape...)
	for i := range w.Float32s() {
		if i%2 == 1 {
			w.Float32s()[i] *= -1
		}
	}
	loss := graph.ReduceSum(graph.Mul(out, g.Const(w)))
	var xs []*graph.Node
	var data [][]float32
	var names []string
	for _, f := range fs {
		if f.v.DType() == tensor.Float32 {
			xs = append(xs, f.in.Output())
			data = append(data, f.v.Float32s())
			names = append(names, f.in.Name())
		}
	}
	for _, p := range net.Trainable() {
		xs = append(xs, p)
		data = append(data, p.Tensor().Float32s())
		names = append(names, p.Name())
	}
	grads, err := graph.Gradients(loss, xs...)
	if err != nil {
		t.Fatal(err)
	}
	targets := []*graph.Node{loss}
	for i, gr := range grads {
		if gr == nil {
			t.Fatalf("no gradient reaches %s", names[i])
		}
		targets = append(targets, graph.Densify(gr))
	}
	e, err := g.NewExecutor(graph.Options{Training: training, Threads: 1}, targets...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	gf := feeds(fs)
	res, err := e.Run(gf...)
	if err != nil {
		t.Fatal(err)
	}
	analytic := make([][]float32, len(xs))
	for i := range xs {
		analytic[i] = append([]float32(nil), res[1+i].Float32s()...)
	}
	eval := func() float64 {
		r, err := e.Run(gf...)
		if err != nil {
			t.Fatal(err)
		}
		return float64(r[0].Float32s()[0])
	}
	rng := tensor.NewRand(5)
	const eps = 1e-2
	for k, d := range data {
		probes := len(d)
		if probes > 24 {
			probes = 24
		}
		for p := 0; p < probes; p++ {
			j := p
			if len(d) > 24 {
				j = rng.IntN(len(d))
			}
			orig := d[j]
			d[j] = orig + eps
			up := eval()
			d[j] = orig - eps
			down := eval()
			d[j] = orig
			h := float64(orig+eps) - float64(orig-eps)
			num := (up - down) / h
			ana := float64(analytic[k][j])
			if diff := math.Abs(num - ana); diff > 3e-3+3e-2*math.Max(math.Abs(num), math.Abs(ana)) || math.IsNaN(ana) {
				t.Fatalf("gradient of %s element %d: analytic %.5g, numeric %.5g", names[k], j, ana, num)
			}
		}
	}
}

// roundTrip writes net as JSON, rebuilds it in a fresh graph, copies the
// weights by name, and checks that names, shapes and outputs match.
func roundTrip(t *testing.T, net *layers.Layer, fs []feed, opts ...layers.LoadOption) *layers.Layer {
	t.Helper()
	data, err := net.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	g2 := graph.New(12345)
	net2, err := layers.FromJSON(g2, data, opts...)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	p1, p2 := net.AllParams(), net2.AllParams()
	if len(p1) != len(p2) {
		t.Fatalf("rebuilt network has %d parameters, want %d", len(p2), len(p1))
	}
	for i := range p1 {
		if p1[i].Name() != p2[i].Name() || !p1[i].Shape().Equal(p2[i].Shape()) {
			t.Fatalf("parameter %d: rebuilt %s %v, want %s %v", i, p2[i].Name(), p2[i].Shape(), p1[i].Name(), p1[i].Shape())
		}
		if err := p2[i].Tensor().CopyFrom(p1[i].Tensor()); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := net.Summary(), net2.Summary(); a != b {
		t.Fatalf("summaries differ:\n%s\nrebuilt:\n%s", a, b)
	}
	data2, err := net2.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(data2) {
		t.Fatalf("JSON differs after a round trip:\n%s\n%s", data, data2)
	}
	// Same output for the same weights and inputs.
	var fs2 []feed
	for _, f := range fs {
		in := net2.Find(f.in.Name())
		if in == nil {
			t.Fatalf("rebuilt network has no layer %q", f.in.Name())
		}
		fs2 = append(fs2, feed{in, f.v})
	}
	want := run(t, net, false, fs...)
	got := run(t, net2, false, fs2...)
	near(t, "rebuilt output", got, want.Float32s(), 1e-5)
	return net2
}
