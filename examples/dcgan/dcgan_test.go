package main

import (
	"context"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
	"gonum.org/v1/gonum/mat"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The networks' shapes and parameter counts, layer by layer as in the DCGAN
// paper's architecture scaled to 28×28: the generator projects z to 7×7×2GF,
// two stride-2 transposed convolutions double the size twice; the
// discriminator mirrors it. Counts include batch norm's moving statistics.
func TestShapesAndParameterCounts(t *testing.T) {
	a := arch{Z: 100, GF: 64, DF: 64, Kernel: 5, Size: 28}
	g := graph.New(1)
	eng := graph.NewEngine(g, nil)
	defer eng.Close()
	n, err := newGAN(g, options{Arch: a, LR: 2e-4}, eng)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]tensor.Shape{
		"g/fc": {-1, 7 * 7 * 128}, "g/reshape": {-1, 7, 7, 128}, "g/deconv1": {-1, 14, 14, 64}, "g/deconv2": {-1, 28, 28, 1},
		"d/conv1": {-1, 14, 14, 64}, "d/conv2": {-1, 7, 7, 128}, "d/logit": {-1, 1},
	}
	for name, want := range shapes {
		l := n.dFake.Find(name)
		if l == nil || !l.Shape().Equal(want) {
			t.Errorf("layer %s: %v, want shape %v", name, l, want)
		}
	}
	k := a.Kernel * a.Kernel
	gen := 100*7*7*128 + 4*128 + k*64*128 + 4*64 + k*64*1 + 1
	dis := k*1*64 + 64 + k*64*128 + 4*128 + 7*7*128 + 1
	if n.gen.ParamCount() != gen || n.dReal.ParamCount() != dis {
		t.Fatalf("parameters: generator %d, discriminator %d; want %d and %d", n.gen.ParamCount(), n.dReal.ParamCount(), gen, dis)
	}
	// The players share nothing: each optimizer updates its own network only.
	if len(n.dFake.TrainableUnder("g/"))+len(n.dFake.TrainableUnder("d/")) != len(n.dFake.Trainable()) {
		t.Fatalf("trainable parameters outside g/ and d/: %v", n.dFake.Trainable())
	}
}

// Two time scales and one-sided label smoothing take effect: Adam's first step
// moves every weight by about its learning rate whatever the gradient, so a
// discriminator learning rate twice the generator's doubles the
// discriminator's first move and leaves the generator's; a real label of 0.9
// changes the discriminator's loss.
func TestTwoTimeScalesAndLabelSmoothing(t *testing.T) {
	real := tensor.New(tensor.Float32, 16, 28, 28, 1)
	for i, p := range blobs(16, 28, 1).Pixels {
		real.Float32s()[i] = float32(p)/127.5 - 1
	}
	move := func(o options) (d, g, dLoss float64) {
		gr := graph.New(1)
		eng := graph.NewEngine(gr, nil)
		defer eng.Close()
		n, err := newGAN(gr, o, eng)
		if err != nil {
			t.Fatal(err)
		}
		dw, gw := gr.VariableByName("d/conv1/W").Tensor(), gr.VariableByName("g/deconv1/W").Tensor()
		d0, g0 := dw.Clone(), gw.Clone()
		st, err := n.step(real, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range dw.Float32s() {
			d += math.Abs(float64(v-d0.Float32s()[i])) / float64(dw.Shape().Size())
		}
		for i, v := range gw.Float32s() {
			g += math.Abs(float64(v-g0.Float32s()[i])) / float64(gw.Shape().Size())
		}
		return d, g, st.DLoss
	}
	a := arch{Z: 8, GF: 8, DF: 8, Kernel: 5, Size: 28}
	d1, g1, l1 := move(options{Arch: a, LR: 2e-4})
	d2, g2, l2 := move(options{Arch: a, LR: 2e-4, DLR: 4e-4, RealLabel: 0.9})
	t.Logf("mean first moves: discriminator %.3g -> %.3g, generator %.3g -> %.3g; D loss %.4f -> %.4f", d1, d2, g1, g2, l1, l2)
	if r := d2 / d1; r < 1.8 || r > 2.2 {
		t.Errorf("discriminator's first move %.3g with --d-lr 4e-4, %.3g with 2e-4: ratio %.2f, want 2", d2, d1, r)
	}
	if r := g2 / g1; r < 0.9 || r > 1.1 {
		t.Errorf("generator's first move %.3g, then %.3g: want it unchanged by --d-lr", g1, g2)
	}
	if l1 == l2 {
		t.Errorf("D loss %v with real label 1 and with 0.9: want them to differ", l1)
	}
}

// Images the generator cannot produce are refused before training, naming the
// layers and their shapes.
func TestBadSizes(t *testing.T) {
	// A 28×28 generator (30/4 doubled twice) for a 30×30 discriminator.
	g30 := graph.New(1)
	_, err := newGAN(g30, options{Arch: arch{Z: 8, GF: 4, DF: 4, Kernel: 3, Size: 30}, LR: 2e-4}, graph.NewEngine(g30, nil))
	for _, want := range []string{"g/deconv2", "(?, 28, 28, 1)", "real", "(?, 30, 30, 1)", "multiple of 4"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("size 30: %v; want an error that says %q", err, want)
		}
	}
	// A 32×32 generator for a discriminator built on 28×28 images: the
	// discriminator's dense layer, sized for 28×28, refuses the larger maps.
	g := graph.New(1)
	a28, a32 := arch{Z: 8, GF: 4, DF: 4, Kernel: 3, Size: 28}, arch{Z: 8, GF: 4, DF: 4, Kernel: 3, Size: 32}
	if d := discriminator(layers.Input(g, "real", -1, 28, 28, 1), a28); d.Err() != nil {
		t.Fatal(d.Err())
	}
	fake := discriminator(generator(layers.Input(g, "z", -1, 8), a32), a28)
	for _, want := range []string{"d/logit", "(392, 1)", "(512, 1)"} { // 7·7·8 and 8·8·8 features
		if fake.Err() == nil || !strings.Contains(fake.Err().Error(), want) {
			t.Fatalf("32×32 generator, 28×28 discriminator: %v; want an error that says %q", fake.Err(), want)
		}
	}
	im := blobs(64, 32, 1)
	_, err = run(context.Background(), options{Arch: arch{Z: 8, GF: 4, DF: 4, Kernel: 3, Size: 28}, Epochs: 1, Batch: 8, LR: 2e-4, Train: im, OutDir: t.TempDir(), Log: quiet()})
	if err == nil || !strings.Contains(err.Error(), "28×28×1") {
		t.Fatalf("32×32 images for a 28×28 generator: %v", err)
	}
}

// blobs is n generated h×h images: a dark background and one soft bright
// spot (a Gaussian of width h/14 to h/7) at a random place away from the edges.
func blobs(n, h int, seed uint64) *formats.Images {
	rng := rand.New(rand.NewPCG(seed, 3))
	im := &formats.Images{N: n, H: h, W: h, C: 1, Pixels: make([]uint8, n*h*h), Labels: make([]int32, n)}
	for i := range n {
		w := float64(h) / 14 * (1 + rng.Float64())
		cx, cy := float64(h)*(0.25+0.5*rng.Float64()), float64(h)*(0.25+0.5*rng.Float64())
		for y := range h {
			for x := range h {
				d2 := (float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)
				im.Pixels[i*h*h+y*h+x] = uint8(255 * math.Exp(-d2/(2*w*w)))
			}
		}
	}
	return im
}

// meanDistance is the RMS distance between the mean of images (n, h, w, 1) in
// [-1, 1] and the mean real image.
func meanDistance(images *tensor.Tensor, real *formats.Images) float64 {
	px := real.H * real.W
	want := make([]float64, px)
	for i, p := range real.Pixels {
		want[i%px] += (float64(p)/127.5 - 1) / float64(real.N)
	}
	got := make([]float64, px)
	n := images.Shape()[0]
	for i, v := range images.Float32s() {
		got[i%px] += float64(v) / float64(n)
	}
	d := 0.0
	for i := range px {
		d += (got[i] - want[i]) * (got[i] - want[i])
	}
	return math.Sqrt(d / float64(px))
}

// A short run on generated images (a few hundred steps): the game happens (the
// discriminator's accuracy rises above chance, then falls back, and never
// settles at 100%), losses stay finite, the samples move toward the data, a
// grid is written every epoch, and both networks are recorded; the generator
// reloaded from the store makes the same samples from the same noise.
func TestLearnsOnGeneratedImages(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few hundred steps")
	}
	ctx := context.Background()
	db := storetest.Backends()[0].Open(t)
	data := blobs(1280, 28, 1)
	out := t.TempDir()
	o := options{Arch: arch{Z: 16, GF: 32, DF: 4, Kernel: 5, Size: 28}, Epochs: 8, Batch: 32, LR: 2e-4, Train: data,
		OutDir: out, Seed: 1, LogEvery: 10, Log: quiet(), DB: db, Name: "gan-test"}

	// The untrained generator's distance to the data.
	g0 := graph.New(o.Seed)
	eng0 := graph.NewEngine(g0, nil)
	defer eng0.Close()
	n0, err := newGAN(g0, o, eng0)
	if err != nil {
		t.Fatal(err)
	}
	fixed := noise(rand.New(rand.NewPCG(o.Seed, 2)), 64, o.Arch.Z)
	s0, err := n0.sample.Run(n0.z.Feed(fixed))
	if err != nil {
		t.Fatal(err)
	}
	before := meanDistance(s0[0], data)

	res, err := run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 8*40 {
		t.Fatalf("%d steps, want 320", len(res.Steps))
	}
	// The discriminator's accuracy in windows of 20 steps.
	var acc []float64
	for lo := 0; lo < len(res.Steps); lo += 20 {
		m := 0.0
		for _, s := range res.Steps[lo : lo+20] {
			if math.IsNaN(s.DLoss) || math.IsNaN(s.GLoss) || math.IsInf(s.DLoss, 0) || math.IsInf(s.GLoss, 0) {
				t.Fatalf("a loss is not finite: %+v", s)
			}
			m += s.DAcc / 20
		}
		acc = append(acc, m)
	}
	t.Logf("discriminator accuracy by 20 steps: %.2f", acc)
	peak, fell := 0, false
	for i, a := range acc {
		if a > acc[peak] {
			peak = i
		}
		if i > peak && a < acc[peak]-0.1 {
			fell = true
		}
	}
	if acc[peak] < 0.65 || !fell {
		t.Fatalf("discriminator accuracy %.2f: want it to rise above 0.65 and then fall back by 0.1 (the game)", acc)
	}
	half := 0.0
	for _, a := range acc[len(acc)/2:] {
		half += a / float64(len(acc)-len(acc)/2)
	}
	if half > 0.95 || acc[len(acc)-1] > 0.97 {
		t.Fatalf("discriminator accuracy %.2f: over the second half %.2f, at the end %.2f; want under 0.95 and 0.97 (a discriminator that always wins: the game collapsed)", acc, half, acc[len(acc)-1])
	}
	after := meanDistance(res.Samples, data)
	t.Logf("mean-image distance to the data: %.3f before, %.3f after", before, after)
	if after > before/2 {
		t.Fatalf("mean-image distance %.3f after training, %.3f before: want it halved", after, before)
	}
	for ep := 1; ep <= 8; ep++ {
		f, err := os.Open(filepath.Join(out, "epoch-00"+string(rune('0'+ep))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != 8*29+1 || img.Bounds().Dy() != 8*29+1 {
			t.Fatalf("grid of epoch %d: %v, %v; want 233×233", ep, err, img.Bounds())
		}
	}

	// Recorded: both versions, linked to the run of the losses.
	if res.GenVersion != 1 || res.DisVersion != 1 {
		t.Fatalf("versions %d and %d, want 1 and 1", res.GenVersion, res.DisVersion)
	}
	evs, err := events.Find(ctx, db, events.Query{Model: "gan-test-generator", Run: res.Run})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs {
		for k := range e.Values {
			count[e.Phase+"/"+k]++
		}
	}
	if count["train/d_loss"] != 32 || count["train/g_loss"] != 32 || count["validation/d_accuracy"] != 8 {
		t.Fatalf("events %v: want 32 train losses each and 8 epoch summaries", count)
	}
	if s, err := events.RunSummary(ctx, db, res.Run); err != nil || len(s.Images) != 8 {
		t.Fatalf("the run's sample grids: %v, %v; want one image per epoch (8)", s, err)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(99)
	gen, m, err := netstore.Load(ctx, ms, models.Ref{Name: "gan-test-generator"}, g)
	if err != nil {
		t.Fatal(err)
	}
	if m.Lineage.Run != res.Run {
		t.Fatalf("generator version's run %q, want %q", m.Lineage.Run, res.Run)
	}
	exec, err := g.NewExecutor(graph.Options{}, gen.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Close()
	again, err := exec.Run(gen.InputLayers()[0].Feed(fixed))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range again[0].Float32s() {
		if v != res.Samples.Float32s()[i] {
			t.Fatalf("reloaded generator: sample value %d is %v, the trained one gave %v", i, v, res.Samples.Float32s()[i])
		}
	}
}

// A generator checkpoint, as a model version in the store and as files,
// reloads into a fresh graph and makes the trained generator's samples from
// the same noise, bit for bit (batch norm's moving statistics included).
func TestGeneratorCheckpointReloads(t *testing.T) {
	ctx := context.Background()
	db := storetest.Backends()[0].Open(t)
	save := t.TempDir()
	o := options{Arch: arch{Z: 8, GF: 8, DF: 4, Kernel: 5, Size: 28}, Epochs: 2, Batch: 16, LR: 2e-4, Train: blobs(64, 28, 1),
		OutDir: t.TempDir(), SaveDir: save, Seed: 3, Log: quiet(), DB: db, Name: "ckpt"}
	res, err := run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	fixed := noise(rand.New(rand.NewPCG(o.Seed, 2)), 64, o.Arch.Z)
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fromStore, _, err := netstore.Load(ctx, ms, models.Ref{Name: "ckpt-generator", Version: res.GenVersion}, graph.New(7))
	if err != nil {
		t.Fatal(err)
	}
	fromFiles, _, err := modelio.Load(ctx, filepath.Join(save, "generator"), graph.New(8))
	if err != nil {
		t.Fatal(err)
	}
	for name, gen := range map[string]*layers.Layer{"model version": fromStore, "files": fromFiles} {
		exec, err := gen.Graph().NewExecutor(graph.Options{}, gen.Output())
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Run(gen.InputLayers()[0].Feed(fixed))
		exec.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !out[0].Shape().Equal(res.Samples.Shape()) {
			t.Fatalf("%s: samples of shape %v, want %v", name, out[0].Shape(), res.Samples.Shape())
		}
		for i, v := range out[0].Float32s() {
			if v != res.Samples.Float32s()[i] {
				t.Fatalf("%s: sample value %d is %v, the trained generator gave %v", name, i, v, res.Samples.Float32s()[i])
			}
		}
	}
}

// On Fashion-MNIST itself, one short epoch runs, writes its grid and saves
// files that rebuild the generator.
func TestFashionMNISTEpoch(t *testing.T) {
	dir := formats.FashionMNISTDir
	_, err := os.Stat(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist; .ci/run does)", err)
	ctx := context.Background()
	im, err := formats.FashionMNIST(ctx, dir, formats.Train)
	if err != nil {
		t.Fatal(err)
	}
	if im, err = im.Slice(0, 256); err != nil {
		t.Fatal(err)
	}
	save := t.TempDir()
	res, err := run(ctx, options{Arch: arch{Z: 16, GF: 8, DF: 8, Kernel: 5, Size: 28}, Epochs: 1, Batch: 64, LR: 2e-4, Train: im,
		OutDir: t.TempDir(), SaveDir: save, Seed: 1, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.Epochs[0].Grid); err != nil {
		t.Fatal(err)
	}
	net, meta, err := modelio.Load(ctx, filepath.Join(save, "generator"), graph.New(1))
	if err != nil || meta["program"] != "examples/dcgan" || !net.Shape().Equal(tensor.Shape{-1, 28, 28, 1}) {
		t.Fatalf("saved generator: %v, %v, %v", err, meta, net)
	}
}

// The Frechet distance of two Gaussians with diagonal covariances has a closed
// form: |μ1-μ2|² + Σ(σ1 - σ2)² over the axes.
func TestFrechetDiagonal(t *testing.T) {
	p := gaussian{mu: []float64{0, 1, 2}, cov: mat.NewSymDense(3, []float64{4, 0, 0, 0, 1, 0, 0, 0, 9})}
	q := gaussian{mu: []float64{1, 1, 0}, cov: mat.NewSymDense(3, []float64{1, 0, 0, 0, 1, 0, 0, 0, 16})}
	got, err := frechet(p, q)
	if err != nil {
		t.Fatal(err)
	}
	want := 1.0 + 4 + (2-1)*(2-1) + 0 + (3-4)*(3-4)
	if math.Abs(got-want) > 1e-9 {
		t.Fatalf("frechet %v, want %v", got, want)
	}
	// A rotated copy of p against itself: 0; and against q rotated the same way, the same distance.
	if d, err := frechet(p, p); err != nil || math.Abs(d) > 1e-9 {
		t.Fatalf("frechet(p, p) = %v, %v", d, err)
	}
	r := mat.NewDense(3, 3, []float64{0.6, -0.8, 0, 0.8, 0.6, 0, 0, 0, 1})
	rot := func(g gaussian) gaussian {
		var c, m mat.Dense
		c.Mul(r, g.cov)
		m.Mul(&c, r.T())
		s := mat.NewSymDense(3, nil)
		for a := range 3 {
			for b := a; b < 3; b++ {
				s.SetSym(a, b, m.At(a, b))
			}
		}
		mu := mat.NewVecDense(3, nil)
		mu.MulVec(r, mat.NewVecDense(3, g.mu))
		return gaussian{mu: mu.RawVector().Data, cov: s}
	}
	if d, err := frechet(rot(p), rot(q)); err != nil || math.Abs(d-want) > 1e-9 {
		t.Fatalf("rotated: frechet %v, %v; want %v", d, err, want)
	}
	if _, err := frechet(p, gaussian{mu: []float64{0}, cov: mat.NewSymDense(1, []float64{1})}); err == nil {
		t.Fatal("features of different sizes: no error")
	}
}

// The judge on a classifier of examples/fashionmnist's shape (untrained, saved
// and reloaded as a --classifier folder): real images are closer to the test
// images than noise is, and generated images that are copies of test images
// score the floor's order, with every class share a fraction.
func TestJudge(t *testing.T) {
	ctx := context.Background()
	g := graph.New(5)
	x := layers.Input(g, "image", -1, 28, 28, 1)
	h := layers.Conv2D(x, "conv1", 8, 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool1", 2, 2)
	h = layers.Flatten(h, "flatten")
	h = layers.Dense(h, "fc1", 16, layers.ReLU)
	net := layers.Dense(h, "logits", 10)
	dir := t.TempDir()
	if err := modelio.Save(ctx, dir, net, nil); err != nil {
		t.Fatal(err)
	}
	train, test := blobs(600, 28, 1), blobs(600, 28, 2)
	j, err := newJudge(ctx, dir, train, test, 600, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("floor %.4f, ceiling %.4f", j.Floor, j.Ceil)
	if !(j.Floor >= 0 && j.Floor*10 < j.Ceil) {
		t.Fatalf("floor %v, ceiling %v: want 0 <= floor < ceiling/10", j.Floor, j.Ceil)
	}
	same := tensor.New(tensor.Float32, 600, 28, 28, 1)
	for i, p := range blobs(600, 28, 3).Pixels {
		same.Float32s()[i] = float32(p) / 255
	}
	fid, classes, err := j.measure(same)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, c := range classes {
		sum += c
	}
	if fid > 3*j.Floor+1e-9 || math.Abs(sum-1) > 1e-9 {
		t.Fatalf("images from the data's distribution: distance %v (floor %v), class shares %v summing to %v", fid, j.Floor, classes, sum)
	}
	// The calibration: unchanged real images are the floor itself; every
	// perturbation gives a distance, and shifting every image by a pixel moves
	// them away from the test images.
	cal, err := j.calibrate(train, 600, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(cal) != len(perturbations) || cal[0].Distance != j.Floor {
		t.Fatalf("calibration %+v: want %d entries, the first the floor %v", cal, len(perturbations), j.Floor)
	}
	for _, c := range cal[1:] {
		if !(c.Distance >= 0) {
			t.Errorf("%s: distance %v", c.Name, c.Distance)
		}
		if c.Name == "shifted 1 pixel right" && !(c.Distance > j.Floor) {
			t.Errorf("images shifted a pixel: distance %v, not above the floor %v", c.Distance, j.Floor)
		}
	}
	if _, err := newJudge(ctx, t.TempDir(), train, test, 10, 1); err == nil {
		t.Fatal("an empty classifier folder: no error")
	}
}

// One training step (a discriminator and a generator update) on a batch of 64,
// at the default size (--gf 64 --df 64 --kernel 5) and at the size of the
// measured run (--gf 32 --df 32): images/s.
func BenchmarkTrainStep(b *testing.B) {
	for _, f := range []int{64, 32} {
		b.Run(fmt.Sprintf("gf%d", f), func(b *testing.B) {
			g := graph.New(1)
			eng := graph.NewEngine(g, nil)
			defer eng.Close()
			n, err := newGAN(g, options{Arch: arch{Z: 100, GF: f, DF: f, Kernel: 5, Size: 28}, LR: 2e-4}, eng)
			if err != nil {
				b.Fatal(err)
			}
			im := blobs(64, 28, 1)
			real := tensor.New(tensor.Float32, 64, 28, 28, 1)
			for i, p := range im.Pixels {
				real.Float32s()[i] = float32(p)/127.5 - 1
			}
			rng := rand.New(rand.NewPCG(1, 1))
			if _, err := n.step(real, rng); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := n.step(real, rng); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
