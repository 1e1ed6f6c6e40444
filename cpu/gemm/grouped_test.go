package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// SgemmGrouped against the plain sum, on every kernel: m that tiles into 14
// and 12 rows and m with an edge, groups of several lengths with gaps
// between them (jump beyond glen·as), narrow and wide B, beta 0, 1, another.
func TestSgemmGrouped(t *testing.T) {
	cases := []struct{ m, n, as, groups, glen, jump int }{
		{320, 64, 64, 12, 12, 16 * 64}, // a 12-wide image's filter gradient, window row 5×64
		{26, 40, 8, 3, 5, 60},
		{12, 16, 12, 4, 7, 100},
		{9, 70, 3, 2, 11, 40},
		{30, 10, 30, 1, 9, 0},
	}
	for _, e := range engines(t) {
		t.Run(fmt.Sprintf("%s/kc=%d", e.Kernel(), e.kernel.kc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			for _, c := range cases {
				for _, beta := range []float32{0, 1, 0.5} {
					k := c.groups * c.glen
					a := randSlice(r, (c.groups-1)*c.jump+(c.glen-1)*c.as+c.m+16)
					b := randSlice(r, k*c.n)
					var pb PackedB
					e.PackBDeep(&pb, k, c.n, b, c.n)
					ldc := c.n + r.IntN(3)
					cm := randSlice(r, c.m*ldc)
					want := make([]float64, c.m*c.n)
					for i := range c.m {
						for j := range c.n {
							v := float64(beta) * float64(cm[i*ldc+j])
							for g := range c.groups {
								for q := range c.glen {
									v += float64(a[g*c.jump+q*c.as+i]) * float64(b[(g*c.glen+q)*c.n+j])
								}
							}
							want[i*c.n+j] = v
						}
					}
					e.SgemmGrouped(c.m, a, c.as, c.groups, c.glen, c.jump, &pb, beta, cm, ldc)
					for i := range c.m {
						for j := range c.n {
							got, w := float64(cm[i*ldc+j]), want[i*c.n+j]
							if math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
								t.Fatalf("%+v beta=%v: C[%d][%d] = %v, want %v", c, beta, i, j, got, w)
							}
						}
					}
				}
			}
		})
	}
}

// SgemmGroupedRows against the plain sum, on every kernel: rows that overlap
// (lda below glen) and do not, m that tiles into 14 and 12 rows read in place
// and m with packed edges, narrow and wide B, beta 0, 1 and another.
func TestSgemmGroupedRows(t *testing.T) {
	cases := []struct{ m, n, lda, groups, glen, jump int }{
		{12, 64, 64, 5, 320, 16 * 64}, // a 12-wide image's output row, 5×5×64 filter
		{24, 64, 3, 5, 15, 28 * 3},    // a 24-wide one, 5×5×3
		{14, 32, 8, 2, 40, 50},
		{26, 70, 16, 3, 48, 300},
		{5, 10, 3, 2, 15, 40},
		{20, 300, 50, 1, 100, 0},
		{40, 16, 100, 2, 37, 110},
	}
	for _, e := range engines(t) {
		t.Run(fmt.Sprintf("%s/kc=%d", e.Kernel(), e.kernel.kc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			for _, c := range cases {
				for _, beta := range []float32{0, 1, 0.5} {
					k := c.groups * c.glen
					a := randSlice(r, (c.m-1)*c.lda+(c.groups-1)*c.jump+c.glen)
					b := randSlice(r, k*c.n)
					var pb PackedB
					e.PackBDeep(&pb, k, c.n, b, c.n)
					ldc := c.n + r.IntN(3)
					cm := randSlice(r, c.m*ldc)
					want := make([]float64, c.m*c.n)
					for i := range c.m {
						for j := range c.n {
							v := float64(beta) * float64(cm[i*ldc+j])
							for g := range c.groups {
								for q := range c.glen {
									v += float64(a[i*c.lda+g*c.jump+q]) * float64(b[(g*c.glen+q)*c.n+j])
								}
							}
							want[i*c.n+j] = v
						}
					}
					e.SgemmGroupedRows(c.m, a, c.lda, c.groups, c.glen, c.jump, &pb, beta, cm, ldc)
					for i := range c.m {
						for j := range c.n {
							got, w := float64(cm[i*ldc+j]), want[i*c.n+j]
							if math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
								t.Fatalf("%+v beta=%v: C[%d][%d] = %v, want %v", c, beta, i, j, got, w)
							}
						}
					}
				}
			}
		})
	}
}
