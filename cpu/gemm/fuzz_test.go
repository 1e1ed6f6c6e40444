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
	es := fuzzEngines(f, 1, 3)
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

// FuzzSgemmGrouped compares SgemmGroupedRows and SgemmGrouped on every kernel
// with the float64 sums they stand for, on fuzzed row counts, widths, group
// counts and lengths, strides (rows overlapping or not), gaps between groups
// and beta. Without -fuzz it runs the seeds.
func FuzzSgemmGrouped(f *testing.F) {
	f.Add(uint8(12), uint8(64), uint8(5), uint8(40), uint8(8), uint8(20), uint8(0), uint64(1))
	f.Add(uint8(24), uint8(17), uint8(5), uint8(15), uint8(3), uint8(0), uint8(1), uint64(2))
	f.Add(uint8(9), uint8(40), uint8(1), uint8(7), uint8(30), uint8(3), uint8(2), uint64(3))
	f.Add(uint8(33), uint8(70), uint8(3), uint8(33), uint8(1), uint8(9), uint8(3), uint64(4))
	es := fuzzEngines(f, 1)
	f.Fuzz(func(t *testing.T, m8, n8, groups8, glen8, stride8, gap8, b8 uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 9))
		m, n := int(m8)%60+1, int(n8)%80+1
		groups, glen := int(groups8)%6+1, int(glen8)%40+1
		stride, gap := int(stride8)%50+1, int(gap8)%30
		beta := []float32{0, 1, 0.5, -1}[b8%4]
		k := groups * glen
		b := randSlice(r, k*n)
		for _, e := range es {
			var pb PackedB
			e.PackBDeep(&pb, k, n, b, n)
			check := func(what string, a []float32, at func(i, p int) float32, run func(c []float32)) {
				c := randSlice(r, m*n)
				want := make([]float64, m*n)
				for i := range m {
					for j := range n {
						v := float64(beta) * float64(c[i*n+j])
						for p := range k {
							v += float64(at(i, p)) * float64(b[p*n+j])
						}
						want[i*n+j] = v
					}
				}
				run(c)
				for i, w := range want {
					if d := float64(c[i]) - w; d > 1e-4*(1+abs64(w)) || d < -1e-4*(1+abs64(w)) {
						t.Fatalf("%s %s m=%d n=%d groups=%d glen=%d stride=%d jump=%d beta=%v: C[%d][%d] = %v, want %v",
							e.Kernel(), what, m, n, groups, glen, stride, gap, beta, i/n, i%n, c[i], w)
					}
				}
			}
			// Rows: A(i, g·glen+q) = a[i·lda + g·jump + q], lda = stride.
			jumpR := glen + gap
			aR := randSlice(r, (m-1)*stride+(groups-1)*jumpR+glen)
			check("GroupedRows", aR, func(i, p int) float32 { return aR[i*stride+p/glen*jumpR+p%glen] },
				func(c []float32) { e.SgemmGroupedRows(m, aR, stride, groups, glen, jumpR, &pb, beta, c, n) })
			// Columns: A(i, g·glen+q) = a[g·jump + q·as + i], as = stride.
			jumpC := (glen-1)*stride + m + gap
			aC := randSlice(r, (groups-1)*jumpC+(glen-1)*stride+m+16)
			check("Grouped", aC, func(i, p int) float32 { return aC[p/glen*jumpC+p%glen*stride+i] },
				func(c []float32) { e.SgemmGrouped(m, aC, stride, groups, glen, jumpC, &pb, beta, c, n) })
		}
	})
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// fuzzEngines returns native engines for every kernel of this CPU at each of
// the thread counts, closed when f ends.
func fuzzEngines(f *testing.F, threads ...int) []*Engine {
	var es []*Engine
	for _, name := range Kernels() {
		for _, th := range threads {
			e, err := NewEngine(Options{Kernel: name, Backend: Native, Threads: th})
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
	return es
}
