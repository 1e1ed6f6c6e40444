//go:build !amd64

package vmath

func expSum(dst, x []float32, shift float32) float32 { return expSumGo(dst, x, shift) }

func maxOf(x []float32) float32 { return maxGo(x) }

func scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

func axpy(d, x []float32, a float32)    { axpyGo(d, x, a) }
func scaleTo(d, x []float32, a float32) { scaleToGo(d, x, a) }
func dot(x, y []float32) float32        { return dotGo(x, y) }

func sigmoidSoftplus(z, e []float32) float64 { return sigmoidSoftplusGo(z, e) }
