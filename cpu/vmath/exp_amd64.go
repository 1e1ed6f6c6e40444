//go:build amd64

package vmath

import "golang.org/x/sys/cpu"

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

func scale(x []float32, s float32) {
	n := len(x) &^ 7
	if hasAVX2 && n > 0 {
		scaleAVX2(&x[0], n, s)
	}
	for i := n; i < len(x); i++ {
		x[i] *= s
	}
}
