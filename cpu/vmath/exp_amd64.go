//go:build amd64

package vmath

import (
	"math"

	"golang.org/x/sys/cpu"
)

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func expSumAVX2(dst, x *float32, n int, shift float32) float32

func expSum(dst, x []float32, shift float32) float32 {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return expSumGo(dst, x, shift)
	}
	var d *float32
	if dst != nil {
		d = &dst[0]
	}
	s := expSumAVX2(d, &x[0], n, shift)
	var rest []float32
	if dst != nil {
		rest = dst[n:]
	}
	return s + expSumGo(rest, x[n:], shift)
}

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

func maxOf(x []float32) float32 {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return maxGo(x)
	}
	m := maxAVX2(&x[0], n)
	for _, v := range x[n:] {
		if v > m {
			m = v
		}
	}
	return m
}

// vecLen is the prefix of a loop of n elements that the AVX2 kernels take:
// whole vectors of 8, none without AVX2 (the Go loops then take it all).
func vecLen(n int) int {
	if !hasAVX2 {
		return 0
	}
	return n &^ 7
}

func scale(x []float32, s float32) {
	n := vecLen(len(x))
	if n > 0 {
		scaleAVX2(&x[0], n, s)
	}
	for i := n; i < len(x); i++ {
		x[i] *= s
	}
}

//go:noescape
func axpyAVX2(d, x *float32, n int, a float32)

//go:noescape
func scaleToAVX2(d, x *float32, n int, a float32)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

func axpy(d, x []float32, a float32) {
	n := vecLen(len(d))
	if n > 0 {
		axpyAVX2(&d[0], &x[0], n, a)
	}
	axpyGo(d[n:], x[n:], a)
}

func scaleTo(d, x []float32, a float32) {
	n := vecLen(len(d))
	if n > 0 {
		scaleToAVX2(&d[0], &x[0], n, a)
	}
	scaleToGo(d[n:], x[n:], a)
}

func dot(x, y []float32) float32 {
	n := vecLen(len(x))
	var s float32
	if n > 0 {
		s = dotAVX2(&x[0], &y[0], n)
	}
	return s + dotGo(x[n:], y[n:])
}

//go:noescape
func sigSoftplusAVX2(z, e *float32, n int, prod *float32) float32

func sigmoidSoftplus(z, e []float32) float64 {
	var lin, logs float64
	i := 0
	if hasAVX2 {
		var prod [8]float32
		for len(z)-i >= 8 {
			n := min((len(z)-i)&^7, 512)
			lin += float64(sigSoftplusAVX2(&z[i], &e[i], n, &prod[0]))
			p := 1.0
			for _, v := range prod {
				p *= float64(v)
			}
			logs += math.Log(p)
			i += n
		}
	}
	return lin + logs + sigmoidSoftplusGo(z[i:], e[i:])
}
