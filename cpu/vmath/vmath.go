// Package vmath holds vectorised float32 math kernels for the engine's ops: the
// exponentials of softmax and cross-entropy run eight at a time with AVX2 and FMA
// where the CPU has them, and in plain Go elsewhere. Results match math.Exp to a
// relative 2e-7.
package vmath

import "math"

// ExpSum writes dst[i] = e^(x[i]-shift) and returns the sum of those values. dst
// may be nil (only the sum is wanted) or x itself; otherwise it must be at least
// as long as x. Arguments below about -87 give 0; above 88 the result saturates
// at e^88 ≈ 1.65e38 (so that 1/(1+e) and the like stay finite).
func ExpSum(dst, x []float32, shift float32) float32 {
	if dst != nil {
		dst = dst[:len(x)]
	}
	return expSum(dst, x, shift)
}

// Exp returns e^x in float32 (the scalar kernel the vector loop's tail uses),
// saturating at e^88 like ExpSum.
func Exp(x float32) float32 {
	if x > 88 {
		x = 88
	}
	if x < -87.33654 {
		return 0
	}
	// Round x·log2(e) to the nearest integer k by adding 1.5·2²³.
	t := x*1.44269504088896341 + 12582912
	k := t - 12582912
	r := x - k*0.693359375 - k*-2.12194440e-4
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	ki := int32(math.Float32bits(t)&0x7fffff) - 0x400000
	return p * math.Float32frombits(uint32(ki+127)<<23)
}

func expSumGo(dst, x []float32, shift float32) float32 {
	var s float32
	if dst == nil {
		for _, v := range x {
			s += Exp(v - shift)
		}
		return s
	}
	dst = dst[:len(x)]
	for i, v := range x {
		e := Exp(v - shift)
		dst[i] = e
		s += e
	}
	return s
}

// Max returns the largest element of x (-Inf for an empty x). NaNs are not
// propagated: use it on values known to be numbers.
func Max(x []float32) float32 { return maxOf(x) }

// Scale multiplies x by s in place.
func Scale(x []float32, s float32) { scale(x, s) }

func maxGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// Axpy sets d[i] += a·x[i] for i < len(d); x must be at least as long as d.
// The vector loop fuses each multiply and add (FMA), so results may differ
// from the plain Go loop in the last bit.
func Axpy(d, x []float32, a float32) { axpy(d, x[:len(d)], a) }

// ScaleTo sets d[i] = a·x[i] for i < len(d); x must be at least as long as d.
func ScaleTo(d, x []float32, a float32) { scaleTo(d, x[:len(d)], a) }

// Dot returns Σ x[i]·y[i] over i < len(x); y must be at least as long as x.
// The vector loop sums in 16 lanes and adds them at the end, so the result
// differs from a sequential sum in the last bits.
func Dot(x, y []float32) float32 { return dot(x, y[:len(x)]) }

func axpyGo(d, x []float32, a float32) {
	x = x[:len(d)]
	for i := range d {
		d[i] += a * x[i]
	}
}

func scaleToGo(d, x []float32, a float32) {
	x = x[:len(d)]
	for i := range d {
		d[i] = a * x[i]
	}
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// SigmoidSoftplus replaces each z[i] by σ(z[i]), given e[i] = e^-|z[i]| (from
// ExpSum of -|z|), and returns Σ softplus(z[i]) = Σ max(z[i], 0) + log(1+e[i]):
// an NCE row's loss and what its gradient needs, with one exponential per
// element. The logarithms are taken of products of the 1+e[i] ∈ (1, 2], a few
// per 512 elements.
func SigmoidSoftplus(z, e []float32) float64 { return sigmoidSoftplus(z, e[:len(z)]) }

func sigmoidSoftplusGo(z, e []float32) float64 {
	e = e[:len(z)]
	var lin, logs float64
	prod := 1.0
	for j, v := range z {
		ej := e[j]
		p := 1 + ej
		if v >= 0 {
			lin += float64(v)
			z[j] = 1 / p
		} else {
			z[j] = ej / p
		}
		prod *= float64(p)
		if j&511 == 511 {
			logs += math.Log(prod)
			prod = 1
		}
	}
	return lin + logs + math.Log(prod)
}
