package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernel measures the micro-kernels alone, on panels that sit in L1:
// the ceiling the blocked product can reach. GFLOP/cpu-s counts the CPU time
// of the (locked) thread, which a busy machine disturbs less than wall time.
func BenchmarkKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, name := range Kernels() {
		kn, _ := findKernel(name)
		for _, k := range []*microKernel{kn, kn.narrow} {
			if k == nil {
				continue
			}
			const kc = 256
			a := randSlice(r, kc*k.mr)
			bb := randSlice(r, kc*k.nr)
			c := make([]float32, k.mr*k.nr)
			b.Run(fmt.Sprintf("%s/%dx%d", name, k.mr, k.nr), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				c0 := threadCPUTime()
				for b.Loop() {
					k.packed(kc, &a[0], 0, &bb[0], &c[0], k.nr, 1, 1, k.nr)
				}
				flops := 2 * float64(kc*k.mr*k.nr) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if d := threadCPUTime() - c0; d > 0 {
					b.ReportMetric(flops/d.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
