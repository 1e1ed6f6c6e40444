package layers_test

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

func TestBatchNorm(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2)
	bn := layers.BatchNorm(x, "bn", layers.Momentum(0.5), layers.Epsilon(1e-5))
	wantShape(t, bn, -1, 2)
	ps := bn.Params()
	names := []string{"bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"}
	for i, p := range ps {
		if p.Name() != names[i] {
			t.Fatalf("param %d is %s, want %s", i, p.Name(), names[i])
		}
	}
	if tr := bn.Trainable(); len(tr) != 2 {
		t.Fatalf("trainable %v, want gamma and beta", tr)
	}
	setParam(t, bn, "bn/gamma", 2, 1)
	setParam(t, bn, "bn/beta", 0, 10)
	setParam(t, bn, "bn/moving_mean", 1, -1)
	setParam(t, bn, "bn/moving_variance", 4, 1)
	in := f32([]float32{1, 0, 3, 2, 5, 1}, 3, 2)
	// Inference: the moving statistics.
	want := []float32{0, 11, 2, 13, 4, 12}
	near(t, "bn inference", run(t, bn, false, feed{x, in}), want, 1e-3)
	// Training, the same graph: the batch's statistics (mean 3, 1; variance 8/3, 2/3).
	out := run(t, bn, true, feed{x, in})
	for j := 0; j < 2; j++ {
		var m, v float64
		for i := 0; i < 3; i++ {
			m += out.At(i, j) / 3
		}
		for i := 0; i < 3; i++ {
			v += (out.At(i, j) - m) * (out.At(i, j) - m) / 3
		}
		gamma, beta := []float64{2, 1}[j], []float64{0, 10}[j]
		if math.Abs(m-beta) > 1e-3 || math.Abs(math.Sqrt(v)-gamma) > 1e-2 {
			t.Fatalf("bn training channel %d: mean %g std %g, want %g and %g", j, m, math.Sqrt(v), beta, gamma)
		}
	}
	// The training run moved the moving mean halfway to the batch mean.
	mm := g.VariableByName("bn/moving_mean").Tensor().Float32s()
	if math.Abs(float64(mm[0]-2)) > 1e-5 || math.Abs(float64(mm[1]-0)) > 1e-5 {
		t.Fatalf("moving mean %v after one training step, want (2, 0)", mm)
	}
	d := layers.Dense(x, "fc", 3)
	checkGrads(t, layers.BatchNorm(d, "bn2"), true, feed{x, rnd(1, 4, 2)})
	checkGrads(t, layers.BatchNorm(d, "bn3", layers.ReLU), false, feed{x, rnd(1, 4, 2)})
	img := layers.Input(g, "img", -1, 3, 3, 2)
	wantShape(t, layers.BatchNorm(img, "bn4"), -1, 3, 3, 2)
	roundTrip(t, bn, []feed{{x, in}})
}

func TestLayerNorm(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	ln := layers.LayerNorm(x, "ln", layers.Epsilon(1e-6))
	wantShape(t, ln, -1, 4)
	in := f32([]float32{1, 2, 3, 4, -1, -1, 1, 1}, 2, 4)
	s := float32(math.Sqrt(1.25))
	near(t, "layer norm", run(t, ln, false, feed{x, in}),
		[]float32{-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, -1, -1, 1, 1}, 1e-4)
	checkGrads(t, layers.LayerNorm(layers.Dense(x, "fc", 3), "ln2"), false, feed{x, rnd(1, 2, 4)})
	roundTrip(t, ln, []feed{{x, in}})
}

func TestLocalResponseNorm(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 1, 1, 3)
	lrn := layers.LocalResponseNorm(x, "lrn", 1, 1, 0.5, 0.75)
	wantShape(t, lrn, -1, 1, 1, 3)
	in := f32([]float32{1, 2, 3}, 1, 1, 1, 3)
	v := []float64{1, 2, 3}
	var want []float32
	for d := 0; d < 3; d++ {
		sum := 0.0
		for k := max(0, d-1); k <= min(2, d+1); k++ {
			sum += v[k] * v[k]
		}
		want = append(want, float32(v[d]/math.Pow(1+0.5*sum, 0.75)))
	}
	near(t, "lrn", run(t, lrn, false, feed{x, in}), want, 1e-5)
	checkGrads(t, layers.LocalResponseNorm(layers.Conv2D(x, "c", 4, 1, 1), "lrn2", 2, 1, 0.1, 0.75), false, feed{x, rnd(1, 2, 1, 1, 3)})
	roundTrip(t, lrn, []feed{{x, in}})
}
