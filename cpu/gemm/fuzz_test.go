package gemm

import (
	"math/rand/v2"
	"testing"
)

// FuzzSgemm compares every kernel, on one and three threads, with the float64
// reference on fuzzed sizes, transposes, strides and scalars. Without -fuzz
// it runs the seeds.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(1), false, false, uint8(0), uint8(0), uint64(1))
	f.Add(uint8(15), uint8(33), uint8(17), true, false, uint8(2), uint8(1), uint64(2))
	f.Add(uint8(29), uint8(16), uint8(40), false, true, uint8(1), uint8(2), uint64(3))
	f.Add(uint8(200), uint8(9), uint8(255), true, true, uint8(3), uint8(3), uint64(4))
	var es []*Engine
	for _, name := range Kernels() {
		for _, threads := range []int{1, 3} {
			e, err := NewEngine(Options{Kernel: name, Backend: Native, Threads: threads})
			if err != nil {
				f.Fatal(err)
			}
			es = append(es, e)
		}
	}
	f.Cleanup(func() {
		for _, e := range es {
			e.Close()
		}
	})
	f.Fuzz(func(t *testing.T, m, n, k uint8, transA, transB bool, pad, scal uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := shape{int(m)%160 + 1, int(n)%160 + 1, int(k) + 1}
		alphas := []float32{1, -0.5, 2, 1}
		betas := []float32{0, 1, 0.25, -1}
		for _, e := range es {
			checkOne(t, e, r, transA, transB, s, alphas[scal%4], betas[(scal/4)%4], int(pad%5))
		}
	})
}
