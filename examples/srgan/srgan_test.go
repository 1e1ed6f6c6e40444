package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// classifier saves an untrained network of examples/fashionmnist's CNN shape
// (smaller) and returns its folder.
func classifier(t *testing.T) string {
	t.Helper()
	g := graph.New(3)
	x := layers.Input(g, "image", -1, 28, 28, 1)
	h := layers.Conv2D(x, "conv1", 4, 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool1", 2, 2)
	h = layers.Conv2D(h, "conv2", 8, 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool2", 2, 2)
	net := layers.Dense(layers.Flatten(h, "flatten"), "logits", 10)
	dir := t.TempDir()
	if err := modelio.Save(context.Background(), dir, net, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func build(t *testing.T, a arch, cls string) (*srgan, error) {
	g := graph.New(1)
	pool := par.NewPool(1)
	t.Cleanup(pool.Close)
	return newSRGAN(context.Background(), g, a, cls, 1e-3, 1e-4, 1e-3, func(training bool, targets ...*graph.Node) (runner, error) {
		return g.NewExecutor(graph.Options{Training: training, Pool: pool}, targets...)
	})
}

// Shapes and parameter counts against SRGAN's figure 4 (at F filters, B
// blocks): 7×7 in, two 2× sub-pixel steps, 28×28 out; the discriminator halves
// the size four times (28, 14, 7, 4, 2).
func TestShapesAndParameterCounts(t *testing.T) {
	a := arch{Size: 28, Scale: 4, F: 8, Blocks: 3, DF: 4}
	n, err := build(t, a, classifier(t))
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]tensor.Shape{
		"g/in": {-1, 7, 7, 8}, "g/res2/add": {-1, 7, 7, 8}, "g/up0/conv": {-1, 7, 7, 32}, "g/up0/shuffle": {-1, 14, 14, 8},
		"g/up1/shuffle": {-1, 28, 28, 8}, "g/out": {-1, 28, 28, 1},
		"d/b0/conv": {-1, 14, 14, 4}, "d/b2/conv": {-1, 7, 7, 8}, "d/b6/conv": {-1, 2, 2, 32}, "d/fc": {-1, 64}, "d/logit": {-1, 1},
	}
	for name, want := range shapes {
		if l := n.dFake.Find(name); l == nil || !l.Shape().Equal(want) {
			t.Errorf("layer %s: %v, want shape %v", name, l, want)
		}
	}
	F, B := 8, 3
	gen := (81*F + F) + F + // 9×9 conv, PReLU
		B*(2*9*F*F+2*4*F+F) + // per block: two 3×3 convs without bias, two BNs, a PReLU
		9*F*F + 4*F + // post conv and BN
		2*(9*F*4*F+4*F+F) + // two upsampling convs and PReLUs
		81*F + 1 // the output conv
	D := 4
	dis := 9*D + D
	in := D
	for _, f := range []int{1, 2, 2, 4, 4, 8, 8} {
		dis += 9*in*f*D + 4*f*D
		in = f * D
	}
	dis += 2*2*8*D*16*D + 16*D + 16*D + 1
	if n.gen.ParamCount() != gen || n.dReal.ParamCount() != dis {
		t.Fatalf("parameters: generator %d, discriminator %d; want %d and %d", n.gen.ParamCount(), n.dReal.ParamCount(), gen, dis)
	}
}

// Upscale factors the network cannot produce, and images of the wrong size,
// are errors at build time that say what is needed.
func TestBadSizes(t *testing.T) {
	cls := classifier(t)
	for _, c := range []struct {
		a    arch
		want string
	}{
		{arch{Size: 27, Scale: 3, F: 4, Blocks: 1, DF: 2}, "power of 2"},
		{arch{Size: 28, Scale: 8, F: 4, Blocks: 1, DF: 2}, "not a multiple of the upscale factor 8"},
		{arch{Size: 28, Scale: 1, F: 4, Blocks: 1, DF: 2}, "power of 2"},
	} {
		if _, err := build(t, c.a, cls); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.a, err, c.want)
		}
	}
	if _, err := build(t, arch{Size: 28, Scale: 4, F: 4, Blocks: 1, DF: 2}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "classifier") {
		t.Errorf("no classifier: %v", err)
	}
	_, err := run(context.Background(), options{Arch: arch{Size: 28, Scale: 4, F: 4, Blocks: 1, DF: 2}, Batch: 4, EvalN: 4,
		Train: spots(8, 32, 1), Test: spots(8, 32, 2), Classifier: cls, Log: quiet()})
	if err == nil || !strings.Contains(err.Error(), "28×28×1") {
		t.Errorf("32×32 images for --scale 4 at 28×28: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	a := make([]float32, 28*28)
	b := make([]float32, 28*28)
	for i := range a {
		a[i] = float32(i%28) / 28
		b[i] = a[i] + 0.1
	}
	if p := psnr(a, a); !math.IsInf(p, 1) {
		t.Errorf("psnr of equal images %v, want +Inf", p)
	}
	// Values past 1 are clipped: compare where both stay inside.
	if p := psnr(a[:20], b[:20]); math.Abs(p-20) > 1e-4 {
		t.Errorf("psnr of a 0.1 offset %v, want 20 dB", p)
	}
	if s := ssim(a, a, 28, 28); math.Abs(s-1) > 1e-9 {
		t.Errorf("ssim of equal images %v, want 1", s)
	}
	if s := ssim(a, b, 28, 28); !(s < 0.99 && s > 0) {
		t.Errorf("ssim of offset images %v, want in (0, 0.99)", s)
	}
	flat := make([]float32, 7*7)
	for i := range flat {
		flat[i] = 0.3
	}
	for i, v := range bicubic(flat, 7, 7, 4) {
		if math.Abs(float64(v)-0.3) > 1e-6 {
			t.Fatalf("bicubic of a constant: pixel %d is %v", i, v)
		}
	}
	// A linear ramp is reproduced exactly away from the clamped edges.
	ramp := make([]float32, 7*7)
	for i := range ramp {
		ramp[i] = float32(i % 7)
	}
	up := bicubic(ramp, 7, 7, 4)
	for X := 8; X < 20; X++ {
		want := (float64(X)+0.5)/4 - 0.5
		if math.Abs(float64(up[10*28+X])-want) > 1e-5 {
			t.Fatalf("bicubic ramp at x=%d: %v, want %v", X, up[10*28+X], want)
		}
	}
	if d := downscale(a, 28, 28, 4); len(d) != 49 || math.Abs(float64(d[0])-1.5/28) > 1e-6 {
		t.Fatalf("downscale: %d values, first %v", len(d), d[0])
	}
}

// spots is n generated h×h images: a dark background and one or two soft
// bright spots.
func spots(n, h int, seed uint64) *formats.Images {
	rng := rand.New(rand.NewPCG(seed, 3))
	im := &formats.Images{N: n, H: h, W: h, C: 1, Pixels: make([]uint8, n*h*h), Labels: make([]int32, n)}
	for i := range n {
		v := make([]float64, h*h)
		for range 1 + rng.IntN(2) {
			w := float64(h) / 20 * (1 + rng.Float64())
			cx, cy := float64(h)*(0.2+0.6*rng.Float64()), float64(h)*(0.2+0.6*rng.Float64())
			for y := range h {
				for x := range h {
					d2 := (float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)
					v[y*h+x] += math.Exp(-d2 / (2 * w * w))
				}
			}
		}
		for j, x := range v {
			im.Pixels[i*h*h+j] = uint8(255 * min(x, 1))
		}
	}
	return im
}

// A short run on generated images: pre-training lowers the pixel loss and
// beats bicubic upscaling on PSNR; the game's losses stay finite and the
// discriminator does not win every step; the three networks are recorded, and
// the generator reloaded from the store upscales exactly as the trained one.
func TestLearnsOnGeneratedImages(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few hundred steps")
	}
	ctx := context.Background()
	db := storetest.Backends()[0].Open(t)
	o := options{Arch: arch{Size: 28, Scale: 4, F: 16, Blocks: 2, DF: 4}, PreEpochs: 3, Epochs: 1, Batch: 16, PreLR: 1e-3, LR: 1e-4, Adv: 1e-3,
		Train: spots(1280, 28, 1), Test: spots(200, 28, 2), EvalN: 200, Classifier: classifier(t), OutDir: t.TempDir(), Seed: 1,
		LogEvery: 20, DB: db, Name: "sr-test", Log: quiet()}
	res, err := run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x / float64(len(xs))
		}
		return s
	}
	first, last := mean(res.PreSteps[:20]), mean(res.PreSteps[len(res.PreSteps)-20:])
	t.Logf("pixel loss %.4f -> %.4f; PSNR/SSIM bicubic %.2f/%.3f, pixel loss %.2f/%.3f, SRGAN %.2f/%.3f", first, last,
		res.Bicubic.PSNR, res.Bicubic.SSIM, res.PixelOnly.PSNR, res.PixelOnly.SSIM, res.SRGAN.PSNR, res.SRGAN.SSIM)
	if !(last < first/3) {
		t.Errorf("pixel loss %.4f at the start, %.4f at the end of pre-training: want a third", first, last)
	}
	if !(res.PixelOnly.PSNR > res.Bicubic.PSNR) {
		t.Errorf("pre-trained generator PSNR %.2f dB, bicubic %.2f dB: want it higher", res.PixelOnly.PSNR, res.Bicubic.PSNR)
	}
	acc := 0.0
	for _, s := range res.Steps {
		for _, v := range []float64{s.DLoss, s.GLoss, s.Content, s.Adv} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("a loss is not finite: %+v", s)
			}
		}
		acc += s.DAcc / float64(len(res.Steps))
	}
	if acc > 0.97 || math.IsNaN(res.SRGAN.PSNR) {
		t.Errorf("discriminator accuracy %.3f over the game, SRGAN PSNR %v", acc, res.SRGAN.PSNR)
	}
	if res.PixelVersion != 1 || res.GenVersion != 1 {
		t.Fatalf("versions %d and %d, want 1 and 1", res.PixelVersion, res.GenVersion)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(9)
	gen, m, err := netstore.Load(ctx, ms, models.Ref{Name: "sr-test-generator"}, g)
	if err != nil || m.Metrics["psnr"] != res.SRGAN.PSNR {
		t.Fatalf("reloading the generator: %v; metrics %v", err, m)
	}
	exec, err := g.NewExecutor(graph.Options{}, gen.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	test := newEvalSet(o.Test, 8, o.Arch)
	in, _ := tensor.FromFloat32(test.lr, 8, 7, 7, 1)
	got, err := exec.Run(gen.InputLayers()[0].Feed(in))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got[0].Float32s() {
		if (v+1)/2 != res.Upscaled[i] {
			t.Fatalf("reloaded generator: pixel %d is %v, the trained one made %v", i, (v+1)/2, res.Upscaled[i])
		}
	}
}
