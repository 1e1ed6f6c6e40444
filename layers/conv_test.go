package layers_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// img4 is one 4×4 single-channel image.
func img4() []float32 {
	return []float32{
		1, 2, 3, 4,
		5, 6, 7, 8,
		9, 10, 11, 12,
		13, 14, 15, 16,
	}
}

func TestConv2D(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4, 4, 1)
	net := layers.Conv2D(x, "conv", 1, 2, 2, layers.WInit(tensor.Ones()))
	wantShape(t, net, -1, 3, 3, 1)
	if ps := net.Params(); len(ps) != 2 || ps[0].Name() != "conv/W" || !ps[0].Shape().Equal(tensor.Shape{2, 2, 1, 1}) || ps[1].Name() != "conv/b" {
		t.Fatalf("params %v", ps)
	}
	setParam(t, net, "conv/b", -20)
	near(t, "conv valid", run(t, net, false, feed{x, f32(img4(), 1, 4, 4, 1)}),
		[]float32{-6, -2, 2, 10, 14, 18, 26, 30, 34}, 1e-5)
	same := layers.Conv2D(x, "same", 3, 3, 3, layers.Same, layers.Stride(2), layers.ReLU)
	wantShape(t, same, -1, 2, 2, 3)
	checkGrads(t, layers.Conv2D(x, "c2", 2, 3, 2, layers.Same, layers.Tanh), false, feed{x, rnd(1, 2, 4, 4, 1)})
	checkGrads(t, layers.Conv2D(x, "c3", 2, 2, 2, layers.ELU, layers.Dilation(2)), false, feed{x, rnd(2, 1, 4, 4, 1)})
	roundTrip(t, same, []feed{{x, rnd(3, 2, 4, 4, 1)}})

	for name, l := range map[string]*layers.Layer{
		"rank":    layers.Conv2D(layers.Input(g, "flat", -1, 16), "r", 1, 2, 2),
		"stride":  layers.Conv2D(x, "s", 1, 2, 2, layers.Stride(1, 2, 3)),
		"filters": layers.Conv2D(x, "f", 0, 2, 2),
	} {
		if l.Err() == nil || !strings.Contains(l.Err().Error(), "Conv2D") {
			t.Errorf("%s: %v", name, l.Err())
		}
	}
}

func TestConv1D(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 5, 2)
	net := layers.Conv1D(x, "conv", 1, 2, layers.NoBias())
	wantShape(t, net, -1, 4, 1)
	setParam(t, net, "conv/W", 1, 0, 0, 1) // (k=2, in=2, out=1): x[t][0] + x[t+1][1]
	in := f32([]float32{1, 10, 2, 20, 3, 30, 4, 40, 5, 50}, 1, 5, 2)
	near(t, "conv1d", run(t, net, false, feed{x, in}), []float32{21, 32, 43, 54}, 1e-5)
	checkGrads(t, layers.Conv1D(x, "c2", 3, 3, layers.Same, layers.Sigmoid), false, feed{x, rnd(1, 2, 5, 2)})
	roundTrip(t, net, []feed{{x, in}})
}

func TestDeConv2D(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2, 2, 1)
	net := layers.DeConv2D(x, "up", 1, 2, 2, layers.Stride(2), layers.Same, layers.WInit(tensor.Ones()))
	wantShape(t, net, -1, 4, 4, 1)
	if w := net.Params()[0]; !w.Shape().Equal(tensor.Shape{2, 2, 1, 1}) {
		t.Fatalf("W shape %v", w.Shape())
	}
	near(t, "deconv", run(t, net, false, feed{x, f32([]float32{1, 2, 3, 4}, 1, 2, 2, 1)}),
		[]float32{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, 1e-6)
	d2 := layers.DeConv2D(x, "d2", 3, 3, 3, layers.Stride(2), layers.ReLU)
	wantShape(t, d2, -1, 5, 5, 3)
	checkGrads(t, layers.DeConv2D(x, "d3", 2, 3, 3, layers.Stride(2), layers.Same, layers.Tanh), false, feed{x, rnd(1, 2, 2, 2, 1)})
	roundTrip(t, d2, []feed{{x, rnd(2, 1, 2, 2, 1)}})
}

func TestPools(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4, 4, 1)
	in := f32(img4(), 1, 4, 4, 1)
	for _, c := range []struct {
		l     *layers.Layer
		shape []int
		want  []float32
	}{
		{layers.MaxPool2D(x, "max", 2, 2), []int{-1, 2, 2, 1}, []float32{6, 8, 14, 16}},
		{layers.MeanPool2D(x, "mean", 2, 2), []int{-1, 2, 2, 1}, []float32{3.5, 5.5, 11.5, 13.5}},
		{layers.MaxPool2D(x, "max3", 3, 3, layers.Stride(1)), []int{-1, 2, 2, 1}, []float32{11, 12, 15, 16}},
		{layers.MaxPool2D(x, "maxsame", 3, 3, layers.Stride(2), layers.Same), []int{-1, 2, 2, 1}, []float32{11, 12, 15, 16}},
		{layers.GlobalMaxPool2D(x, "gmax"), []int{-1, 1}, []float32{16}},
		{layers.GlobalMeanPool2D(x, "gmean"), []int{-1, 1}, []float32{8.5}},
	} {
		wantShape(t, c.l, c.shape...)
		near(t, c.l.Name(), run(t, c.l, false, feed{x, in}), c.want, 1e-5)
		roundTrip(t, c.l, []feed{{x, in}})
	}
	s := layers.Input(g, "seq", -1, 6, 2)
	seq := f32([]float32{1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6}, 1, 6, 2)
	for _, c := range []struct {
		l     *layers.Layer
		shape []int
		want  []float32
	}{
		{layers.MaxPool1D(s, "max1", 2), []int{-1, 3, 2}, []float32{2, -1, 4, -3, 6, -5}},
		{layers.MeanPool1D(s, "mean1", 3), []int{-1, 2, 2}, []float32{2, -2, 5, -5}},
		{layers.GlobalMaxPool1D(s, "gmax1"), []int{-1, 2}, []float32{6, -1}},
		{layers.GlobalMeanPool1D(s, "gmean1"), []int{-1, 2}, []float32{3.5, -3.5}},
	} {
		wantShape(t, c.l, c.shape...)
		near(t, c.l.Name(), run(t, c.l, false, feed{s, seq}), c.want, 1e-5)
		roundTrip(t, c.l, []feed{{s, seq}})
	}
	// Gradients through every pool: mean pools behind a convolution, so that
	// parameters are checked too; max pools on inputs whose values are far
	// apart, so that the finite differences do not cross a tie.
	cv := layers.Conv2D(x, "cv", 2, 2, 2, layers.Same)
	for _, l := range []*layers.Layer{
		layers.MeanPool2D(cv, "p2", 3, 3, layers.Stride(1), layers.Same), layers.GlobalMeanPool2D(cv, "p4"),
	} {
		checkGrads(t, l, false, feed{x, rnd(4, 2, 4, 4, 1)})
	}
	for _, l := range []*layers.Layer{
		layers.MaxPool2D(x, "p1", 2, 2), layers.MaxPool2D(x, "p5", 3, 3, layers.Stride(2), layers.Same), layers.GlobalMaxPool2D(x, "p3"),
	} {
		checkGrads(t, layers.Dense(layers.Flatten(l, l.Name()+"f"), l.Name()+"d", 2), false, feed{x, spread(6, 2, 4, 4, 1)})
	}
	cs := layers.Conv1D(s, "cs", 2, 2)
	for _, l := range []*layers.Layer{
		layers.MeanPool1D(cs, "q2", 2, layers.Stride(1)), layers.GlobalMeanPool1D(cs, "q4"),
	} {
		checkGrads(t, l, false, feed{s, rnd(5, 2, 6, 2)})
	}
	for _, l := range []*layers.Layer{layers.MaxPool1D(s, "q1", 2), layers.GlobalMaxPool1D(s, "q3")} {
		checkGrads(t, layers.Dense(layers.Flatten(l, l.Name()+"f"), l.Name()+"d", 2), false, feed{s, spread(7, 2, 6, 2)})
	}
	if l := layers.MaxPool2D(s, "bad", 2, 2); !errors.Is(l.Err(), layers.ErrBadConfig) {
		t.Fatalf("2-D pool of a sequence: %v", l.Err())
	}
	if l := layers.MaxPool2D(x, "bad2", 2, 2, layers.ReLU); !errors.Is(l.Err(), layers.ErrBadOption) {
		t.Fatalf("pool with an activation: %v", l.Err())
	}
}

func TestResampling(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2, 2, 2)
	up := layers.UpSampling2D(x, "up", 2, 3)
	wantShape(t, up, -1, 4, 6, 2)
	in := f32([]float32{1, -1, 2, -2, 3, -3, 4, -4}, 1, 2, 2, 2)
	out := run(t, up, false, feed{x, in})
	for i := 0; i < 4; i++ {
		for j := 0; j < 6; j++ {
			for c := 0; c < 2; c++ {
				if got, want := out.At(0, i, j, c), in.At(0, i/2, j/3, c); got != want {
					t.Fatalf("up[%d %d %d] = %g, want %g", i, j, c, got, want)
				}
			}
		}
	}
	down := layers.DownSampling2D(up, "down", 2, 3)
	wantShape(t, down, -1, 2, 2, 2)
	near(t, "down(up(x))", run(t, down, false, feed{x, in}), in.Float32s(), 0)
	y := layers.Input(g, "y", -1, 4, 4, 1)
	near(t, "down", run(t, layers.DownSampling2D(y, "d2", 2, 2), false, feed{y, f32(img4(), 1, 4, 4, 1)}), []float32{1, 3, 9, 11}, 0)
	checkGrads(t, layers.Conv2D(down, "c", 1, 2, 2), false, feed{x, rnd(1, 2, 2, 2, 2)})
	roundTrip(t, down, []feed{{x, in}})
	if l := layers.DownSampling2D(y, "d3", 3, 3); !errors.Is(l.Err(), layers.ErrBadConfig) {
		t.Fatalf("4 not a multiple of 3: %v", l.Err())
	}
}

// spread returns a tensor of distinct values 0.1 apart, shuffled: max pooling
// has no near ties in it.
func spread(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	d := t.Float32s()
	for i := range d {
		d[i] = 0.1 * float32(i-len(d)/2)
	}
	rng := tensor.NewRand(seed)
	rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return t
}

func TestBilinearResampling(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2, 2, 1)
	up := layers.UpSampling2D(x, "up", 2, 2, layers.Bilinear)
	wantShape(t, up, -1, 4, 4, 1)
	near(t, "bilinear up", run(t, up, false, feed{x, f32([]float32{1, 2, 3, 4}, 1, 2, 2, 1)}), []float32{
		1, 1.25, 1.75, 2,
		1.5, 1.75, 2.25, 2.5,
		2.5, 2.75, 3.25, 3.5,
		3, 3.25, 3.75, 4,
	}, 1e-6)
	y := layers.Input(g, "y", -1, 4, 4, 1)
	down := layers.DownSampling2D(y, "down", 2, 2, layers.Bilinear)
	wantShape(t, down, -1, 2, 2, 1)
	near(t, "bilinear down", run(t, down, false, feed{y, f32(img4(), 1, 4, 4, 1)}), []float32{3.5, 5.5, 11.5, 13.5}, 1e-6)
	z := layers.Input(g, "z", -1, 3, 5, 2)
	odd := layers.UpSampling2D(z, "odd", 3, 2, layers.Bilinear)
	wantShape(t, odd, -1, 9, 10, 2)
	checkGrads(t, layers.Conv2D(odd, "c", 2, 3, 3), false, feed{z, rnd(1, 2, 3, 5, 2)})
	checkGrads(t, layers.DownSampling2D(z, "d2", 2, 2, layers.Bilinear), false, feed{z, rnd(2, 2, 3, 5, 2)})
	roundTrip(t, odd, []feed{{z, rnd(3, 2, 3, 5, 2)}})
	if l := layers.UpSampling2D(z, "bad", 2, 2, layers.Same); !errors.Is(l.Err(), layers.ErrBadOption) {
		t.Fatalf("padding option: %v", l.Err())
	}
}
