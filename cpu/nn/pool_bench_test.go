package nn

import (
	"math/rand/v2"
	"testing"
)

// pool1 of the CIFAR-10 CNN: 24×24×64 images, 3×3 windows, stride 2, SAME.
func pool1() Conv {
	return Conv{N: 1, H: 24, W: 24, C: 64, KH: 3, KW: 3, OC: 64, SH: 2, SW: 2, DH: 1, DW: 1, PT: 0, PL: 0, OH: 12, OW: 12}
}

func BenchmarkMaxPoolGrad(b *testing.B) {
	g := pool1()
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, g.ImageSize())
	for i := range x {
		x[i] = max(0, r.Float32()*2-1)
	}
	dy := make([]float32, g.OutImageSize())
	for i := range dy {
		dy[i] = r.Float32()
	}
	dx := make([]float32, g.ImageSize())
	nf, ni := MaxPoolGradScratch(&g)
	scratch := make([]float32, nf)
	arg := make([]int32, ni)
	b.SetBytes(int64(4 * (len(x) + len(dx))))
	for b.Loop() {
		MaxPoolGrad(&g, x, dy, dx, scratch, arg, true)
	}
}

func BenchmarkMaxPool(b *testing.B) {
	g := pool1()
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, g.ImageSize())
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]float32, g.OutImageSize())
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		MaxPool(&g, x, y)
	}
}
