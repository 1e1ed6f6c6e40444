package feed

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ImageOp transforms one H×W×C float32 image (HWC, row-major). Ops are chained
// by a Loader (see Augment) and run on the loader's goroutine, one example at a
// time, with scratch memory the loader allocates once.
type ImageOp interface {
	// OutShape is the (H, W, C) of the result for an input of shape in, or an
	// error when the op cannot take it.
	OutShape(in [3]int) ([3]int, error)
	// Apply writes the result for src (shape in) into dst (shape OutShape(in)).
	// dst may be src when the shape does not change. rng draws the op's random
	// choices; Apply must not allocate.
	Apply(dst, src []float32, in [3]int, rng *rand.Rand)
}

// Augmentation as in TensorFlow's CIFAR-10 tutorial: training images are
// randomly cropped to 24×24, flipped, brightened and contrasted, then
// standardised; evaluation images are centre-cropped and standardised. Pixels are
// in [0, 1] here (the tutorial's are in [0, 255]), so its brightness delta of 63
// becomes 63/255.
func TutorialAugment(h, w int) []ImageOp {
	return []ImageOp{RandomCrop(h, w), RandomFlip(), RandomBrightness(63.0 / 255), RandomContrast(0.2, 1.8), Standardize()}
}

// TutorialEval is the evaluation counterpart of TutorialAugment: a centre crop
// and per-image standardisation.
func TutorialEval(h, w int) []ImageOp {
	return []ImageOp{CenterCrop(h, w), Standardize()}
}

type crop struct {
	h, w   int
	random bool
}

// RandomCrop cuts an h×w window at a uniformly random position.
func RandomCrop(h, w int) ImageOp { return crop{h, w, true} }

// CenterCrop cuts the h×w window at the centre (for evaluation).
func CenterCrop(h, w int) ImageOp { return crop{h, w, false} }

func (c crop) OutShape(in [3]int) ([3]int, error) {
	if c.h <= 0 || c.w <= 0 || c.h > in[0] || c.w > in[1] {
		return in, fmt.Errorf("feed: crop %d×%d of a %d×%d image: want 0 < crop <= image", c.h, c.w, in[0], in[1])
	}
	return [3]int{c.h, c.w, in[2]}, nil
}

func (c crop) Apply(dst, src []float32, in [3]int, rng *rand.Rand) {
	y0, x0 := (in[0]-c.h)/2, (in[1]-c.w)/2
	if c.random {
		y0, x0 = rng.IntN(in[0]-c.h+1), rng.IntN(in[1]-c.w+1)
	}
	ch := in[2]
	row := c.w * ch
	for y := 0; y < c.h; y++ {
		s := ((y0+y)*in[1] + x0) * ch
		copy(dst[y*row:(y+1)*row], src[s:s+row])
	}
}

type flip struct{}

// RandomFlip mirrors the image left to right with probability one half.
func RandomFlip() ImageOp { return flip{} }

func (flip) OutShape(in [3]int) ([3]int, error) { return in, nil }

func (flip) Apply(dst, src []float32, in [3]int, rng *rand.Rand) {
	h, w, ch := in[0], in[1], in[2]
	if rng.IntN(2) == 0 {
		copy(dst, src[:h*w*ch])
		return
	}
	for y := 0; y < h; y++ {
		r := y * w * ch
		// Swap pairs so that dst may be src.
		for x := 0; x < (w+1)/2; x++ {
			a, b := r+x*ch, r+(w-1-x)*ch
			for k := 0; k < ch; k++ {
				va, vb := src[a+k], src[b+k]
				dst[a+k], dst[b+k] = vb, va
			}
		}
	}
}

type brightness float32

// RandomBrightness adds one delta drawn from U[-maxDelta, maxDelta] to every
// pixel.
func RandomBrightness(maxDelta float32) ImageOp { return brightness(maxDelta) }

func (brightness) OutShape(in [3]int) ([3]int, error) { return in, nil }

func (b brightness) Apply(dst, src []float32, in [3]int, rng *rand.Rand) {
	d := float32(b) * (2*rng.Float32() - 1)
	n := in[0] * in[1] * in[2]
	for i, v := range src[:n] {
		dst[i] = v + d
	}
}

type contrast struct{ lo, hi float32 }

// RandomContrast scales each channel's distance from its mean by a factor drawn
// from U[lower, upper] (TensorFlow's adjust_contrast).
func RandomContrast(lower, upper float32) ImageOp { return contrast{lower, upper} }

func (c contrast) OutShape(in [3]int) ([3]int, error) {
	if c.lo < 0 || c.lo > c.hi {
		return in, fmt.Errorf("feed: RandomContrast(%g, %g): want 0 <= lower <= upper", c.lo, c.hi)
	}
	return in, nil
}

func (c contrast) Apply(dst, src []float32, in [3]int, rng *rand.Rand) {
	f := c.lo + (c.hi-c.lo)*rng.Float32()
	ch := in[2]
	n := in[0] * in[1]
	for k := 0; k < ch; k++ {
		var s float64
		for p := 0; p < n; p++ {
			s += float64(src[p*ch+k])
		}
		m := float32(s / float64(max(n, 1)))
		for p := 0; p < n; p++ {
			dst[p*ch+k] = (src[p*ch+k]-m)*f + m
		}
	}
}

type standardize struct{}

// Standardize scales an image to zero mean and unit variance:
// (x - mean) / max(stddev, 1/sqrt(N)), TensorFlow's per_image_standardization.
func Standardize() ImageOp { return standardize{} }

func (standardize) OutShape(in [3]int) ([3]int, error) { return in, nil }

func (standardize) Apply(dst, src []float32, in [3]int, _ *rand.Rand) {
	n := in[0] * in[1] * in[2]
	var s, ss float64
	for _, v := range src[:n] {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	mean := s / float64(n)
	std := math.Sqrt(max(ss/float64(n)-mean*mean, 0))
	std = max(std, 1/math.Sqrt(float64(n)))
	m, inv := float32(mean), float32(1/std)
	for i, v := range src[:n] {
		dst[i] = (v - m) * inv
	}
}
