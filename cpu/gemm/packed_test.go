package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// SgemmPacked against the reference, on every kernel with real and tiny
// blocking, one and three threads: B packed once and used by several products
// with new A and C each (as a recurrent layer's steps), narrow and wide B,
// split inner dimensions (chunks then start at packed slices), beta 0 and 1.
func TestSgemmPacked(t *testing.T) {
	shapes := []shape{
		{1, 1, 1}, {20, 800, 200}, {20, 200, 800}, {3, 129, 5}, {14, 16, 33}, {15, 130, 384},
		{7, 10, 3000}, {2, 300, 1100}, {24, 500, 400}, {20, 150, 1400}, {33, 0, 5}, {9, 40, 0},
		{10, 800, 200}, {10, 325, 650}, {9, 16, 40},
	}
	for _, e := range engines(t) {
		t.Run(fmt.Sprintf("%s/threads=%d/kc=%d", e.Kernel(), e.Threads(), e.kernel.kc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 10))
			var pb PackedB // reused across shapes, as a layer reuses it across sequences
			for _, s := range shapes {
				for _, transB := range []bool{false, true} {
					m, n, k := s.m, s.n, s.k
					br, bc := k, n
					if transB {
						br, bc = n, k
					}
					ldb := max(bc, 1) + r.IntN(3)
					b := randSlice(r, max(br*ldb, 1))
					e.PackB(&pb, transB, k, n, b, ldb)
					for step := range 3 {
						transA := step == 1
						ar, ac := m, k
						if transA {
							ar, ac = k, m
						}
						lda, ldc := max(ac, 1)+r.IntN(3), max(n, 1)+r.IntN(3)
						a, c := randSlice(r, max(ar*lda, 1)), randSlice(r, max(m*ldc, 1))
						alpha, beta := float32(1), float32(step%2)
						if n > directAMaxNWide && step == 2 {
							alpha = -0.5
						}
						want, bound := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
						if beta == 0 {
							for i := range m {
								for j := range n {
									c[i*ldc+j] = float32(math.NaN()) // not read
								}
							}
						}
						e.SgemmPacked(transA, m, alpha, a, lda, &pb, beta, c, ldc)
						for i := range m {
							for j := range n {
								idx := i*ldc + j
								tol := 4*float64(k+2)*6e-8*bound[idx] + 1e-6
								if got := float64(c[idx]); math.IsNaN(got) || math.Abs(got-want[idx]) > tol {
									t.Fatalf("%v transA=%v transB=%v step %d: C[%d][%d]=%v want %v", s, transA, transB, step, i, j, got, want[idx])
								}
							}
						}
					}
				}
			}
		})
	}
}

// Packing again into the same PackedB allocates nothing, and a narrow B takes
// only alpha 1.
// A row of C is the same bits whichever kernel computes it, the full tile's or
// an edge kernel's of 7 or 10 rows: a product of 20 rows equals, bit for bit,
// the products of its halves (an LSTM split by batch rows relies on it) and of
// pieces of other sizes.
func TestPackedRowsSameBits(t *testing.T) {
	e, err := NewEngine(Options{Backend: Native, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []shape{{20, 800, 200}, {20, 2600, 650}, {24, 40, 70}} {
		var pb PackedB
		b := randSlice(r, s.k*s.n)
		e.PackB(&pb, false, s.k, s.n, b, s.n)
		a, c0 := randSlice(r, s.m*s.k), randSlice(r, s.m*s.n)
		whole := append([]float32(nil), c0...)
		e.SgemmPacked(false, s.m, 1, a, s.k, &pb, 1, whole, s.n)
		for _, cuts := range [][]int{{0, 10, 20}, {0, 7, 17, 20}, {0, 3, 12, 20}, {0, 14, 24}, {0, 10, 24}} {
			if cuts[len(cuts)-1] != s.m {
				continue
			}
			c := append([]float32(nil), c0...)
			for i := 1; i < len(cuts); i++ {
				lo, hi := cuts[i-1], cuts[i]
				e.SgemmPacked(false, hi-lo, 1, a[lo*s.k:], s.k, &pb, 1, c[lo*s.n:], s.n)
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(whole[i]) {
					t.Fatalf("%v cut at %v: C[%d][%d] = %v, the whole product's %v", s, cuts, i/s.n, i%s.n, c[i], whole[i])
				}
			}
		}
	}
}

func TestPackedBReuse(t *testing.T) {
	e, err := NewEngine(Options{Backend: Native, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := make([]float32, 650*2600)
	var pb PackedB
	e.PackB(&pb, true, 2600, 650, b, 2600)
	if n := testing.AllocsPerRun(5, func() { e.PackB(&pb, true, 2600, 650, b, 2600) }); n != 0 {
		t.Errorf("PackB into a PackedB of the same size: %v allocations", n)
	}
	inTurn := func(n int, body func(lo, hi int)) { body(0, n) }
	e.PackBFor(&pb, true, 2600, 650, b, 2600, inTurn)
	if n := testing.AllocsPerRun(5, func() { e.PackBFor(&pb, true, 2600, 650, b, 2600, inTurn) }); n != 0 {
		t.Errorf("PackBFor into a PackedB of the same size: %v allocations", n)
	}
	e.PackB(&pb, false, 10, 20, b, 20)
	defer func() {
		if r := recover(); r == nil {
			t.Error("alpha 2 on a narrow packed B: no panic")
		}
	}()
	e.SgemmPacked(false, 3, 2, make([]float32, 30), 10, &pb, 0, make([]float32, 60), 20)
}

// TestPackBFor checks that packing in pieces, in any order and in parallel,
// gives PackB's panels on every kernel: B plain and transposed, several
// slices of the inner dimension, edge and half-width panels.
func TestPackBFor(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, name := range Kernels() {
		e, err := NewEngine(Options{Backend: Native, Threads: 1, Kernel: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct{ k, n int }{{1, 1}, {7, 300}, {650, 2600}, {900, 77}, {385, 129}, {200, 16}, {3, 520}} {
			for _, transB := range []bool{false, true} {
				ldb := s.n + 5
				if transB {
					ldb = s.k + 5
				}
				rows := s.k
				if transB {
					rows = s.n
				}
				b := randSlice(r, rows*ldb)
				var want, got PackedB
				e.PackB(&want, transB, s.k, s.n, b, ldb)
				// Pieces in ranges of random sizes, each on its own goroutine.
				e.PackBFor(&got, transB, s.k, s.n, b, ldb, func(n int, body func(lo, hi int)) {
					var wg sync.WaitGroup
					for lo := 0; lo < n; {
						from, to := lo, min(n, lo+1+r.IntN(3))
						wg.Go(func() { body(from, to) })
						lo = to
					}
					wg.Wait()
				})
				if got.k != want.k || got.n != want.n || got.kcb != want.kcb || got.width != want.width || got.kn != want.kn || got.directA != want.directA {
					t.Fatalf("%s %v trans=%v: layout %+v, PackB's %+v", name, s, transB, got, want)
				}
				for i := range want.data {
					if math.Float32bits(got.data[i]) != math.Float32bits(want.data[i]) {
						t.Fatalf("%s %v trans=%v: packed[%d] = %v, PackB's %v", name, s, transB, i, got.data[i], want.data[i])
					}
				}
			}
		}
		e.Close()
	}
}
