package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/tensor"
	"gonum.org/v1/gonum/mat"
)

// firstImages returns the first n images of im (all if fewer) as a tensor
// (n, H, W, 1) with pixels in [0, 1].
func firstImages(im *formats.Images, n int) *tensor.Tensor {
	m := min(n, im.N)
	t := tensor.New(tensor.Float32, m, im.H, im.W, 1)
	px := t.Float32s()
	for i, p := range im.Pixels[:m*im.H*im.W] {
		px[i] = float32(p) / 255
	}
	return t
}

// judge measures samples with a Fashion-MNIST classifier trained by
// examples/fashionmnist (--save DIR): a Frechet distance between the
// Gaussians fitted to its penultimate features ("fc1") of the samples and of
// the test images (FID's formula, on this project's own network instead of
// Inception), and the share of each class it sees in the samples.
type judge struct {
	exec        *graph.Executor
	in          *layers.Layer
	feat        *graph.Node
	logits      *graph.Node
	ref         gaussian // the test images
	Floor, Ceil float64  // the distance of real training images and of noise
}

// gaussian is the mean and covariance of a set of feature vectors.
type gaussian struct {
	mu  []float64
	cov *mat.SymDense
}

// newJudge loads the classifier saved in dir and measures the reference (n
// test images), the floor (n training images) and the ceiling (n images of
// uniform noise).
func newJudge(ctx context.Context, dir string, trainSet, testSet *formats.Images, n int, seed uint64) (*judge, error) {
	g := graph.New(seed)
	net, _, err := modelio.Load(ctx, dir, g)
	if err != nil {
		return nil, fmt.Errorf("dcgan: loading the judge classifier: %w", err)
	}
	fc1 := net.Find("fc1")
	if fc1 == nil || len(net.InputLayers()) != 1 || len(net.Shape()) != 2 || net.Shape()[1] != 10 {
		return nil, fmt.Errorf("dcgan: classifier in %s: want examples/fashionmnist's network (a layer fc1, one input, 10 logits), got output %v", dir, net.Shape())
	}
	exec, err := g.NewExecutor(graph.Options{}, fc1.Output(), net.Output())
	if err != nil {
		return nil, fmt.Errorf("dcgan: the judge classifier in %s: %w", dir, err)
	}
	j := &judge{exec: exec, in: net.InputLayers()[0], feat: fc1.Output(), logits: net.Output()}
	if j.ref, _, err = j.stats(firstImages(testSet, n)); err != nil {
		return nil, err
	}
	floor, _, err := j.stats(firstImages(trainSet, n))
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	noise := tensor.New(tensor.Float32, n, testSet.H, testSet.W, 1)
	for i := range noise.Float32s() {
		noise.Float32s()[i] = rng.Float32()
	}
	ceil, _, err := j.stats(noise)
	if err != nil {
		return nil, err
	}
	if j.Floor, err = frechet(floor, j.ref); err != nil {
		return nil, err
	}
	if j.Ceil, err = frechet(ceil, j.ref); err != nil {
		return nil, err
	}
	return j, nil
}

// measure returns the distance of images (pixels in [0, 1]) to the test set and
// the share of each class the classifier assigns them.
func (j *judge) measure(images *tensor.Tensor) (fid float64, classes []float64, err error) {
	st, classes, err := j.stats(images)
	if err != nil {
		return 0, nil, err
	}
	fid, err = frechet(st, j.ref)
	return fid, classes, err
}

// stats runs the classifier over images in batches of 500: the features'
// Gaussian and the share of each predicted class.
func (j *judge) stats(images *tensor.Tensor) (gaussian, []float64, error) {
	s := images.Shape()
	n, per := s[0], s[1]*s[2]*s[3]
	var feats [][]float32
	classes := make([]float64, 10)
	for lo := 0; lo < n; lo += 500 {
		hi := min(lo+500, n)
		batch, err := tensor.FromFloat32(images.Float32s()[lo*per:hi*per], hi-lo, s[1], s[2], s[3])
		if err != nil {
			return gaussian{}, nil, err
		}
		out, err := j.exec.Run(j.in.Feed(batch))
		if err != nil {
			return gaussian{}, nil, fmt.Errorf("dcgan: classifying samples: %w", err)
		}
		f, logits := out[0].Float32s(), out[1].Float32s()
		d := len(f) / (hi - lo)
		for i := 0; i < hi-lo; i++ {
			feats = append(feats, append([]float32(nil), f[i*d:(i+1)*d]...))
			best := 0
			for k := range 10 {
				if logits[i*10+k] > logits[i*10+best] {
					best = k
				}
			}
			classes[best] += 1 / float64(n)
		}
	}
	return fit(feats), classes, nil
}

// fit returns the mean and the (unbiased) covariance of vectors.
func fit(vs [][]float32) gaussian {
	n, d := len(vs), len(vs[0])
	mu := make([]float64, d)
	for _, v := range vs {
		for i, x := range v {
			mu[i] += float64(x) / float64(n)
		}
	}
	c := make([]float64, d*d)
	dev := make([]float64, d)
	for _, v := range vs {
		for i, x := range v {
			dev[i] = float64(x) - mu[i]
		}
		for a := range d {
			for b := a; b < d; b++ {
				c[a*d+b] += dev[a] * dev[b]
			}
		}
	}
	for a := range d {
		for b := a; b < d; b++ {
			c[a*d+b] /= float64(n - 1)
			c[b*d+a] = c[a*d+b]
		}
	}
	return gaussian{mu: mu, cov: mat.NewSymDense(d, c)}
}

// frechet is the Frechet distance of two Gaussians:
// |μ1-μ2|² + tr(Σ1 + Σ2 - 2(Σ1Σ2)^½), with tr((Σ1Σ2)^½) computed as the sum of
// the square roots of the eigenvalues of Σ1^½ Σ2 Σ1^½ (symmetric, so exact
// eigenvalues from a symmetric solver).
func frechet(p, q gaussian) (float64, error) {
	if len(p.mu) != len(q.mu) {
		return 0, fmt.Errorf("dcgan: frechet distance of %d- and %d-dimensional features", len(p.mu), len(q.mu))
	}
	d := 0.0
	for i := range p.mu {
		d += (p.mu[i] - q.mu[i]) * (p.mu[i] - q.mu[i])
	}
	root, err := sqrtSym(p.cov)
	if err != nil {
		return 0, err
	}
	var m, prod mat.Dense
	m.Mul(root, q.cov)
	prod.Mul(&m, root)
	n := len(p.mu)
	sym := mat.NewSymDense(n, nil)
	for a := range n {
		for b := a; b < n; b++ {
			sym.SetSym(a, b, (prod.At(a, b)+prod.At(b, a))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return 0, fmt.Errorf("dcgan: frechet distance: the eigen-decomposition of Σ1^½Σ2Σ1^½ (%d×%d) did not converge", n, n)
	}
	tr := 0.0
	for _, l := range eig.Values(nil) {
		tr += math.Sqrt(max(l, 0))
	}
	return d + mat.Trace(p.cov) + mat.Trace(q.cov) - 2*tr, nil
}

// sqrtSym is the symmetric square root of a positive semi-definite matrix
// (negative eigenvalues from rounding are taken as 0).
func sqrtSym(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("dcgan: frechet distance: the eigen-decomposition of a %d×%d covariance did not converge", s.SymmetricDim(), s.SymmetricDim())
	}
	var v mat.Dense
	eig.VectorsTo(&v)
	vals := eig.Values(nil)
	n := len(vals)
	scaled := mat.NewDense(n, n, nil)
	for a := range n {
		for b := range n {
			scaled.Set(a, b, v.At(a, b)*math.Sqrt(max(vals[b], 0)))
		}
	}
	var r mat.Dense
	r.Mul(scaled, v.T())
	return &r, nil
}

// perturbation is a change to real images that leaves them real to the eye.
type perturbation struct {
	Name string
	fn   func(img []float32, h, w int, rng *rand.Rand) // in place, pixels in [0, 1]
}

// perturbations are what calibrate measures: a distance the generator cannot
// beat, since a perfect generator's samples are at best real images.
var perturbations = []perturbation{
	{"none (the floor)", func([]float32, int, int, *rand.Rand) {}},
	{"mirrored left-right", func(img []float32, h, w int, _ *rand.Rand) {
		for y := range h {
			row := img[y*w : (y+1)*w]
			for a, b := 0, w-1; a < b; a, b = a+1, b-1 {
				row[a], row[b] = row[b], row[a]
			}
		}
	}},
	{"shifted 1 pixel right", func(img []float32, h, w int, _ *rand.Rand) {
		for y := range h {
			row := img[y*w : (y+1)*w]
			copy(row[1:], row[:w-1])
			row[0] = 0
		}
	}},
	{"noise sd 1/255", pixelNoise(1.0 / 255)},
	{"noise sd 4/255", pixelNoise(4.0 / 255)},
	{"quantised to 32 levels", func(img []float32, _, _ int, _ *rand.Rand) {
		for i, p := range img {
			img[i] = float32(math.Round(float64(p)*31) / 31)
		}
	}},
}

func pixelNoise(sd float64) func([]float32, int, int, *rand.Rand) {
	return func(img []float32, _, _ int, rng *rand.Rand) {
		for i, p := range img {
			img[i] = float32(min(1, max(0, float64(p)+sd*rng.NormFloat64())))
		}
	}
}

// calibration is the distance of one perturbation of real training images
// to the test images.
type calibration struct {
	Name     string
	Distance float64
}

// calibrate measures the distance to the test images of n real training
// images under each perturbation: how far from the floor the judge puts
// images a person would take for real ones.
func (j *judge) calibrate(trainSet *formats.Images, n int, seed uint64) ([]calibration, error) {
	per := trainSet.H * trainSet.W
	rng := rand.New(rand.NewPCG(seed, 11))
	var out []calibration
	for _, p := range perturbations {
		t := firstImages(trainSet, n)
		px := t.Float32s()
		for i := range t.Shape()[0] {
			p.fn(px[i*per:(i+1)*per], trainSet.H, trainSet.W, rng)
		}
		st, _, err := j.stats(t)
		if err != nil {
			return nil, err
		}
		d, err := frechet(st, j.ref)
		if err != nil {
			return nil, err
		}
		out = append(out, calibration{p.Name, d})
	}
	return out, nil
}
