package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// SgemmShifted against the sum of plain products, on every kernel with real
// and tiny blocking: rows that overlap (lda below k) and do not, row counts
// that read A in place (14, 12, multiples of the kernel's rows) and bottom
// edges that are packed, narrow and wide B, beta 0, 1 and another.
func TestSgemmShifted(t *testing.T) {
	type tc struct {
		m, n, lda int
		ks        []int
	}
	cases := []tc{
		{12, 64, 64, []int{320, 320, 320, 320, 320}}, // a 12-wide image's output row, 5×5×64 filter
		{14, 32, 8, []int{40, 40}},
		{26, 70, 16, []int{48, 48, 48}},
		{5, 10, 3, []int{15, 15}},
		{20, 300, 50, []int{100}},
		{40, 16, 100, []int{100, 37}},
		{9, 17, 4, []int{700}},
	}
	for _, e := range engines(t) {
		t.Run(fmt.Sprintf("%s/kc=%d", e.Kernel(), e.kernel.kc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			for _, c := range cases {
				for _, beta := range []float32{0, 1, 0.5} {
					offs := make([]int, len(c.ks))
					bs := make([]PackedB, len(c.ks))
					raw := make([][]float32, len(c.ks))
					end := 0
					for s, k := range c.ks {
						offs[s] = s*c.lda*2 + r.IntN(3)
						end = max(end, offs[s]+(c.m-1)*c.lda+k)
						raw[s] = randSlice(r, k*c.n)
						e.PackB(&bs[s], false, k, c.n, raw[s], c.n)
					}
					a := randSlice(r, end)
					ldc := c.n + r.IntN(3)
					cm := randSlice(r, c.m*ldc)
					want := make([]float64, c.m*c.n)
					for i := range c.m {
						for j := range c.n {
							v := float64(beta) * float64(cm[i*ldc+j])
							for s, k := range c.ks {
								for p := range k {
									v += float64(a[offs[s]+i*c.lda+p]) * float64(raw[s][p*c.n+j])
								}
							}
							want[i*c.n+j] = v
						}
					}
					e.SgemmShifted(c.m, a, c.lda, offs, bs, beta, cm, ldc)
					for i := range c.m {
						for j := range c.n {
							got, w := float64(cm[i*ldc+j]), want[i*c.n+j]
							if math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
								t.Fatalf("m=%d n=%d lda=%d ks=%v beta=%v: C[%d][%d] = %v, want %v", c.m, c.n, c.lda, c.ks, beta, i, j, got, w)
							}
						}
					}
				}
			}
		})
	}
}

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
