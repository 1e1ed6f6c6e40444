//go:build !amd64

package vmath

func expSum(dst, x []float32, shift float32) float32 { return expSumGo(dst, x, shift) }

func maxOf(x []float32) float32 { return maxGo(x) }

func scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}
