package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// checkBias runs SgemmBias on e and compares it with the float64 reference
// plus the bias. C starts as NaN (it must not be read) and its padding must
// come back untouched.
func checkBias(t *testing.T, e *Engine, r *rand.Rand, transA, transB bool, s shape, alpha float32, pad int) {
	t.Helper()
	m, n, k := s.m, s.n, s.k
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := max(ac, 1)+pad, max(bc, 1)+pad, max(n, 1)+pad
	a, b := randSlice(r, max(ar*lda, 1)), randSlice(r, max(br*ldb, 1))
	bias := randSlice(r, n)
	c := make([]float32, max(m*ldc, 1))
	for i := range c {
		c[i] = 1234.5
		if i%ldc < n {
			c[i] = float32(math.NaN())
		}
	}
	want, bound := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, make([]float32, len(c)), ldc)
	e.SgemmBias(transA, transB, m, n, k, alpha, a, lda, b, ldb, bias, c, ldc)
	for idx, got := range c {
		i, j := idx/ldc, idx%ldc
		if i >= m || j >= n {
			if got != 1234.5 {
				t.Fatalf("%s tA=%v tB=%v %v: padding C[%d][%d] changed to %v", e.Kernel(), transA, transB, s, i, j, got)
			}
			continue
		}
		w := want[idx] + float64(bias[j])
		tol := 4*float64(k+3)*6e-8*(bound[idx]+math.Abs(float64(bias[j]))) + 1e-6
		if math.IsNaN(float64(got)) || math.Abs(float64(got)-w) > tol {
			t.Fatalf("%s backend=%v tA=%v tB=%v %v alpha=%v pad=%d: C[%d][%d]=%v want %v (tol %g)",
				e.Kernel(), e.Choose(m, n, k), transA, transB, s, alpha, pad, i, j, got, w, tol)
		}
	}
}

// The bias as an extra inner step: every kernel, one and three threads, and
// tiny blocking (kc 5) so that the step lands alone in a slice, at the end of
// a full one, and in split inner dimensions; narrow products (A read in place)
// add it afterwards; OpenBLAS starts from C filled with it.
func TestSgemmBias(t *testing.T) {
	shapes := []shape{
		{1, 129, 1}, {3, 130, 4}, {14, 160, 5}, {15, 200, 9}, {29, 257, 10}, {40, 300, 384},
		{31, 129, 383}, {2, 140, 3000}, {200, 129, 300}, {5, 600, 2000}, {64, 10, 64}, {7, 128, 9},
		{9, 150, 0},
	}
	es := engines(t)
	if OpenBLASInfo().Loaded {
		eb, err := NewEngine(Options{Backend: OpenBLAS, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(eb.Close)
		es = append(es, eb)
	}
	for _, e := range es {
		t.Run(fmt.Sprintf("%s/%v/threads=%d/kc=%d", e.Kernel(), e.Backend(), e.Threads(), e.kernel.kc), func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			for _, s := range shapes {
				for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					alpha := []float32{1, -0.75, 2}[r.IntN(3)]
					checkBias(t, e, r, tr[0], tr[1], s, alpha, r.IntN(3)*2)
				}
			}
		})
	}
}

func TestSgemmBiasShortBias(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("a bias shorter than n: no panic")
		}
	}()
	SgemmBias(false, false, 2, 3, 4, 1, make([]float32, 8), 4, make([]float32, 12), 3, make([]float32, 2), make([]float32, 6), 3)
}
