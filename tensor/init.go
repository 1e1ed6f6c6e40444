package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Initializer fills a Float32 tensor with starting values drawn from rng.
type Initializer interface {
	Init(t *Tensor, rng *rand.Rand)
	String() string
}

// NewRand returns a reproducible random source for a seed.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// Fans returns the fan-in and fan-out of a weight shape: [in, out] for dense
// weights, [..spatial.., in, out] for convolution filters (HWIO).
func Fans(s Shape) (fanIn, fanOut int) {
	switch len(s) {
	case 0:
		return 1, 1
	case 1:
		return s[0], s[0]
	}
	receptive := 1
	for _, d := range s[:len(s)-2] {
		receptive *= d
	}
	return s[len(s)-2] * receptive, s[len(s)-1] * receptive
}

type constant float32

// Constant sets every element to v.
func Constant(v float32) Initializer            { return constant(v) }
func (c constant) Init(t *Tensor, _ *rand.Rand) { t.Fill(float32(c)) }
func (c constant) String() string               { return fmt.Sprintf("constant(%g)", float32(c)) }

// Zeros sets every element to 0.
func Zeros() Initializer { return constant(0) }

// Ones sets every element to 1.
func Ones() Initializer { return constant(1) }

type uniform struct{ lo, hi float64 }

// Uniform draws from U[lo, hi).
func Uniform(lo, hi float64) Initializer { return uniform{lo, hi} }
func (u uniform) Init(t *Tensor, rng *rand.Rand) {
	d := t.Float32s()
	for i := range d {
		d[i] = float32(u.lo + (u.hi-u.lo)*rng.Float64())
	}
}
func (u uniform) String() string { return fmt.Sprintf("uniform(%g, %g)", u.lo, u.hi) }

type normal struct {
	mean, std float64
	truncated bool
}

// Normal draws from N(mean, std²).
func Normal(mean, std float64) Initializer { return normal{mean, std, false} }

// TruncatedNormal draws from N(mean, std²), redrawing values more than two standard
// deviations from the mean (TensorFlow's truncated_normal).
func TruncatedNormal(mean, std float64) Initializer { return normal{mean, std, true} }

func (n normal) Init(t *Tensor, rng *rand.Rand) {
	d := t.Float32s()
	for i := range d {
		z := rng.NormFloat64()
		for n.truncated && math.Abs(z) > 2 {
			z = rng.NormFloat64()
		}
		d[i] = float32(n.mean + n.std*z)
	}
}
func (n normal) String() string {
	if n.truncated {
		return fmt.Sprintf("truncated_normal(%g, %g)", n.mean, n.std)
	}
	return fmt.Sprintf("normal(%g, %g)", n.mean, n.std)
}

type scaled struct {
	name    string
	uniform bool
	scale   func(fanIn, fanOut int) float64 // the variance
}

func (s scaled) Init(t *Tensor, rng *rand.Rand) {
	v := s.scale(Fans(t.Shape()))
	if s.uniform {
		lim := math.Sqrt(3 * v)
		uniform{-lim, lim}.Init(t, rng)
		return
	}
	normal{0, math.Sqrt(v), true}.Init(t, rng)
}
func (s scaled) String() string { return s.name }

// GlorotUniform is Xavier's uniform initialiser: variance 2/(fanIn+fanOut).
func GlorotUniform() Initializer {
	return scaled{"glorot_uniform", true, func(i, o int) float64 { return 2 / float64(i+o) }}
}

// GlorotNormal is Xavier's normal initialiser (truncated): variance 2/(fanIn+fanOut).
func GlorotNormal() Initializer {
	return scaled{"glorot_normal", false, func(i, o int) float64 { return 2 / float64(i+o) }}
}

// HeNormal is He's initialiser for ReLU networks (truncated normal): variance 2/fanIn.
func HeNormal() Initializer {
	return scaled{"he_normal", false, func(i, _ int) float64 { return 2 / float64(i) }}
}

// HeUniform is He's uniform initialiser: variance 2/fanIn.
func HeUniform() Initializer {
	return scaled{"he_uniform", true, func(i, _ int) float64 { return 2 / float64(i) }}
}
