package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKernel measures the micro-kernels alone, on panels that sit in L1:
// the ceiling the blocked product can reach.
func BenchmarkKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, name := range Kernels() {
		kn, _ := findKernel(name)
		for _, kc := range []int{256} {
			a := randSlice(r, kc*kn.mr)
			bb := randSlice(r, kc*kn.nr)
			c := make([]float32, kn.mr*kn.nr)
			b.Run(fmt.Sprintf("%s/kc=%d", name, kc), func(b *testing.B) {
				for b.Loop() {
					kn.packed(kc, &a[0], 0, &bb[0], &c[0], kn.nr, 1, 1, kn.nr)
				}
				b.ReportMetric(2*float64(kc*kn.mr*kn.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
