package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestThreadSplits runs products big enough to be split across threads
// (rows with B packed by all the threads together and rows claimed in
// shrinking pieces, columns, the inner dimension) on 1, 2 and 3 threads. A
// split by rows or columns changes no sum's order, so those results must be
// bit-identical to one thread's; every result is also checked against the
// float64 reference. Some engines use tiny blocking, so that B has many
// slices and panels to pack and the rows many pieces.
func TestThreadSplits(t *testing.T) {
	shapes := []struct {
		s              shape
		transA, transB bool
		exact          bool // not an inner-dimension split
	}{
		{shape{300, 200, 400}, false, false, true}, // rows, B shared
		{shape{421, 161, 777}, true, true, true},   // rows, odd edges, 3 slices of B
		{shape{230, 1030, 70}, false, true, true},  // columns
		{shape{517, 100, 300}, true, false, true},  // rows, A read in place
		{shape{60, 50, 6000}, true, false, false},  // inner dimension
	}
	for _, name := range Kernels() {
		for _, tiny := range []bool{false, true} {
			var es []*Engine
			for _, threads := range []int{1, 2, 3} {
				e, err := NewEngine(Options{Kernel: name, Backend: Native, Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(e.Close)
				if tiny {
					kn := *e.kernel
					kn.mc, kn.kc, kn.kcDirect = 3*kn.mr, 40, 56
					kn.narrow = nil
					e.kernel = &kn
				}
				es = append(es, e)
			}
			r := rand.New(rand.NewPCG(11, 12))
			for _, sh := range shapes {
				m, n, k := sh.s.m, sh.s.n, sh.s.k
				lda, ldb := k+1, n+2
				if sh.transA {
					lda = m + 1
				}
				if sh.transB {
					ldb = k + 2
				}
				a, b := randSlice(r, max(m, k)*lda), randSlice(r, max(n, k)*ldb)
				c0 := randSlice(r, m*(n+3))
				want, bound := refGemm(sh.transA, sh.transB, m, n, k, 0.75, a, lda, b, ldb, 0.5, c0, n+3)
				var first []float32
				for _, e := range es {
					label := fmt.Sprintf("%s tiny=%v threads=%d %v tA=%v tB=%v", name, tiny, e.Threads(), sh.s, sh.transA, sh.transB)
					c := append([]float32(nil), c0...)
					e.Sgemm(sh.transA, sh.transB, m, n, k, 0.75, a, lda, b, ldb, 0.5, c, n+3)
					for idx, v := range c {
						i, j := idx/(n+3), idx%(n+3)
						if j >= n {
							if v != c0[idx] {
								t.Fatalf("%s: padding C[%d][%d] changed", label, i, j)
							}
							continue
						}
						tol := 4*float64(k+2)*6e-8*bound[idx] + 1e-6
						if math.IsNaN(float64(v)) || math.Abs(float64(v)-want[idx]) > tol {
							t.Fatalf("%s: C[%d][%d]=%v want %v", label, i, j, v, want[idx])
						}
						if first != nil && sh.exact && v != first[idx] {
							t.Fatalf("%s: C[%d][%d]=%v, one thread gave %v (want bit-identical)", label, i, j, v, first[idx])
						}
					}
					if first == nil {
						first = c
					}
				}
			}
		}
	}
}
