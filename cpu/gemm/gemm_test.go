package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/tlgo/tl/internal/testenv"
)

// refGemm is the float64 reference: it returns the full ldc-strided C.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, bound []float64) {
	want = make([]float64, len(c))
	bound = make([]float64, len(c))
	for i := range c {
		want[i] = float64(c[i])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			idx := i*ldc + j
			cv := 0.0
			if beta != 0 {
				cv = float64(beta) * float64(c[idx])
			}
			want[idx] = float64(alpha)*s + cv
			bound[idx] = math.Abs(float64(alpha))*abs + math.Abs(cv)
		}
	}
	return want, bound
}

type shape struct{ m, n, k int }

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// checkOne runs one product on e and compares it with the reference. Padding
// of A and B (beyond each row) is NaN, so reading it shows; padding of C must
// come back untouched.
func checkOne(t *testing.T, e *Engine, r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) {
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
	nan := float32(math.NaN())
	mk := func(rows, cols, ld int) []float32 {
		x := make([]float32, max(rows*ld, 1))
		for i := range x {
			x[i] = nan
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				x[i*ld+j] = r.Float32()*2 - 1
			}
		}
		return x
	}
	a, b := mk(ar, ac, lda), mk(br, bc, ldb)
	c := make([]float32, max(m*ldc, 1))
	for i := range c {
		c[i] = 1234.5 // sentinel in the padding
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if beta == 0 {
				c[i*ldc+j] = nan // beta == 0 must not read C
			} else {
				c[i*ldc+j] = r.Float32()*2 - 1
			}
		}
	}
	want, bound := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	e.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for idx := range c {
		i, j := idx/ldc, idx%ldc
		if i >= m || j >= n {
			if c[idx] != 1234.5 {
				t.Fatalf("%s tA=%v tB=%v %v: padding C[%d][%d] changed to %v", e.Kernel(), transA, transB, s, i, j, c[idx])
			}
			continue
		}
		got := float64(c[idx])
		tol := 4*float64(k+2)*6e-8*bound[idx] + 1e-6
		if math.IsNaN(got) || math.Abs(got-want[idx]) > tol {
			t.Fatalf("%s backend=%v tA=%v tB=%v %v alpha=%v beta=%v pad=%d: C[%d][%d]=%v want %v (tol %g)",
				e.Kernel(), e.Choose(m, n, k), transA, transB, s, alpha, beta, pad, i, j, got, want[idx], tol)
		}
	}
}

var testShapes = []shape{
	{1, 1, 1}, {1, 1, 7}, {1, 37, 1}, {29, 1, 3}, {2, 3, 4}, {5, 7, 3},
	{13, 17, 19}, {14, 32, 8}, {15, 33, 9}, {28, 64, 16}, {31, 47, 53},
	{64, 64, 64}, {97, 101, 103}, {3, 5, 1031}, {127, 10, 192}, {200, 129, 300},
	{5, 40, 2000}, {31, 17, 3001}, {1, 64, 700}, {150, 1, 90},
	{45, 16, 40}, {60, 15, 33}, {29, 12, 2500},
}

// engines returns native engines for every kernel this CPU has, single and
// multi-threaded, some with tiny blocking so that every loop of the blocked
// algorithm runs several times on small matrices.
func engines(t *testing.T) []*Engine {
	var es []*Engine
	for _, name := range Kernels() {
		for _, threads := range []int{1, 3} {
			for _, tiny := range []bool{false, true} {
				e, err := NewEngine(Options{Kernel: name, Backend: Native, Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				if tiny {
					kn := *e.kernel
					kn.mc, kn.kc, kn.kcDirect, kn.nc = 2*kn.mr, 5, 7, 3*kn.nr
					if kn.narrow != nil {
						nk := *kn.narrow
						nk.mc, nk.kc, nk.kcDirect, nk.nc = 2*nk.mr, 5, 7, 3*nk.nr
						kn.narrow = &nk
					}
					e.kernel = &kn
				}
				t.Cleanup(e.Close)
				es = append(es, e)
			}
		}
	}
	return es
}

func TestNativeKernels(t *testing.T) {
	t.Logf("kernels on this CPU: %v", Kernels())
	for _, e := range engines(t) {
		name := fmt.Sprintf("%s/threads=%d/kc=%d", e.Kernel(), e.Threads(), e.kernel.kc)
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for _, s := range testShapes {
				for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					alpha, beta := float32(1), float32(0)
					switch r.IntN(4) {
					case 1:
						alpha, beta = 0.5, 1
					case 2:
						alpha, beta = -1.25, 0.75
					case 3:
						alpha, beta = 2, -1
					}
					checkOne(t, e, r, tr[0], tr[1], s, alpha, beta, r.IntN(3)*3)
				}
			}
		})
	}
}

func TestRandomShapes(t *testing.T) {
	es := engines(t)
	r := rand.New(rand.NewPCG(3, 4))
	n := 300
	if testing.Short() {
		n = 60
	}
	for i := 0; i < n; i++ {
		e := es[r.IntN(len(es))]
		s := shape{1 + r.IntN(70), 1 + r.IntN(90), 1 + r.IntN(300)}
		betas := []float32{0, 1, 0.5, -2}
		checkOne(t, e, r, r.IntN(2) == 0, r.IntN(2) == 0, s, float32(r.NormFloat64()), betas[r.IntN(4)], r.IntN(4))
	}
}

func TestAlphaZeroAndKZero(t *testing.T) {
	e, err := NewEngine(Options{Backend: Native})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []shape{{3, 4, 0}, {5, 6, 7}} {
		checkOne(t, e, r, false, false, s, 0, 0, 1)
		checkOne(t, e, r, false, true, s, 0, 0.5, 2)
		checkOne(t, e, r, true, false, s, 1, 3, 0)
	}
	// Empty products touch nothing.
	e.Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	e.Sgemm(false, false, 4, 0, 3, 1, make([]float32, 12), 3, nil, 1, 0, nil, 1)
}

func TestOpenBLAS(t *testing.T) {
	info := OpenBLASInfo()
	if !info.Loaded {
		testenv.Require(t, "OpenBLAS", fmt.Errorf("not loaded: %v", info.Err))
	}
	t.Logf("OpenBLAS %s, core %s, config %s", info.Path, info.CoreName, info.Config)
	core := strings.ToLower(info.CoreName)
	if v, ok := os.LookupEnv("OPENBLAS_CORETYPE"); ok {
		if !strings.EqualFold(v, info.CoreName) {
			t.Logf("OPENBLAS_CORETYPE=%s set by the user, OpenBLAS runs %s", v, info.CoreName)
		}
	} else if Kernels()[0] == KernelAVX512 && !strings.Contains(core, "skylakex") && !strings.Contains(core, "cooperlake") && !strings.Contains(core, "sapphire") {
		t.Errorf("OpenBLAS runs core %q on an AVX-512 CPU; want SkylakeX or newer", info.CoreName)
	}
	for _, threads := range []int{1, 2} {
		e, err := NewEngine(Options{Backend: OpenBLAS, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(7, 8))
		for _, s := range testShapes {
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				checkOne(t, e, r, tr[0], tr[1], s, 1.5, 0, r.IntN(3))
				checkOne(t, e, r, tr[0], tr[1], s, -1, 0.5, r.IntN(3))
			}
		}
		e.Close()
	}
}

func TestConcurrent(t *testing.T) {
	var es []*Engine
	e, err := NewEngine(Options{Backend: Native, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	es = append(es, e)
	if OpenBLASInfo().Loaded {
		eb, err := NewEngine(Options{Backend: OpenBLAS, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer eb.Close()
		es = append(es, eb)
	}
	for _, e := range es {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 9))
				for i := 0; i < 10; i++ {
					s := shape{20 + r.IntN(180), 20 + r.IntN(100), 1 + r.IntN(300)}
					checkOne(t, e, r, r.IntN(2) == 0, r.IntN(2) == 0, s, 1, float32(r.IntN(2)), r.IntN(2))
				}
			}()
		}
		wg.Wait()
	}
}

func TestNoAllocs(t *testing.T) {
	type cfg struct {
		name string
		o    Options
	}
	cfgs := []cfg{{"native-1", Options{Backend: Native, Threads: 1}}, {"native-2", Options{Backend: Native, Threads: 2}}}
	if OpenBLASInfo().Loaded {
		cfgs = append(cfgs, cfg{"openblas", Options{Backend: OpenBLAS, Threads: 2}})
	}
	for _, c := range cfgs {
		e, err := NewEngine(c.o)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []shape{{7, 5, 3}, {150, 130, 70}, {200, 170, 150}, {40, 30, 5000}} {
			a, b, cc := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
			run := func() { e.Sgemm(false, true, s.m, s.n, s.k, 1, a, s.k, b, s.k, 0.5, cc, s.n) }
			run()
			if n := testing.AllocsPerRun(50, run); n != 0 {
				t.Errorf("%s %v: %v allocations per call, want 0", c.name, s, n)
			}
		}
		e.Close()
	}
	// The default engine too, on a product big enough to use its threads.
	a, b, c := make([]float32, 200*150), make([]float32, 200*170), make([]float32, 150*170)
	run := func() { Sgemm(true, false, 150, 170, 200, 1, a, 150, b, 170, 0, c, 170) }
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("package Sgemm: %v allocations per call, want 0", n)
	}
}

// TestDefaultEnv runs the test binary again with TL_BLAS and TL_GEMM_KERNEL
// set, to see the default engine obey them.
func TestDefaultEnv(t *testing.T) {
	if os.Getenv("GEMM_CHILD") == "1" {
		e := Default()
		fmt.Printf("backend=%v kernel=%s threads=%d openblas=%v\n", e.Backend(), e.Kernel(), e.Threads(), e.HasOpenBLAS())
		return
	}
	cases := []struct{ blas, kernel, want string }{
		{"", "", "backend=auto kernel=" + Kernels()[0]},
		{"native", "scalar", "backend=native kernel=scalar"},
		{"bogus", "", "backend=auto"},
		{"", "sse9", "kernel=" + Kernels()[0]},
	}
	if OpenBLASInfo().Loaded {
		cases = append(cases, struct{ blas, kernel, want string }{"openblas", "", "backend=openblas kernel=" + Kernels()[0] + " threads=3 openblas=true"})
	}
	for _, c := range cases {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDefaultEnv$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GEMM_CHILD=1", "TL_BLAS="+c.blas, "TL_GEMM_KERNEL="+c.kernel, "GOMAXPROCS=3")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("TL_BLAS=%q TL_GEMM_KERNEL=%q: %v\n%s", c.blas, c.kernel, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("TL_BLAS=%q TL_GEMM_KERNEL=%q: got\n%s\nwant %q", c.blas, c.kernel, out, c.want)
		}
	}
}

func TestThreads(t *testing.T) {
	old := Threads(0)
	if old < 1 {
		t.Fatalf("Threads(0) = %d", old)
	}
	if got := Threads(5); got != old {
		t.Errorf("Threads(5) returned %d, want the previous %d", got, old)
	}
	if got := Threads(old); got != 5 {
		t.Errorf("Threads(%d) returned %d, want 5", old, got)
	}
}

func TestPanics(t *testing.T) {
	e, err := NewEngine(Options{Backend: Native})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ok := make([]float32, 100)
	cases := []struct {
		want string
		f    func()
	}{
		{"len(a)=5", func() { e.Sgemm(false, false, 3, 3, 3, 1, ok[:5], 3, ok, 3, 0, ok, 3) }},
		{"len(b)=8", func() { e.Sgemm(false, false, 3, 3, 3, 1, ok, 3, ok[:8], 3, 0, ok, 3) }},
		{"len(c)=2", func() { e.Sgemm(false, false, 3, 3, 3, 1, ok, 3, ok, 3, 0, ok[:2], 3) }},
		{"lda=2", func() { e.Sgemm(false, false, 3, 3, 3, 1, ok, 2, ok, 3, 0, ok, 3) }},
		{"ldb=3", func() { e.Sgemm(false, false, 3, 4, 3, 1, ok, 3, ok, 3, 0, ok, 4) }},
		{"ldc=1", func() { e.Sgemm(false, false, 3, 3, 3, 1, ok, 3, ok, 3, 0, ok, 1) }},
		{"len(a)=10", func() { e.Sgemm(true, false, 4, 3, 3, 1, ok[:10], 4, ok, 3, 0, ok, 3) }},
		{"negative size", func() { e.Sgemm(false, false, -1, 3, 3, 1, ok, 3, ok, 3, 0, ok, 3) }},
	}
	for _, c := range cases {
		func() {
			defer func() {
				r := recover()
				if r == nil {
					t.Errorf("%s: no panic", c.want)
					return
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, c.want) {
					t.Errorf("panic %q does not mention %q", msg, c.want)
				}
			}()
			c.f()
		}()
	}
}

func TestParseBackend(t *testing.T) {
	for s, want := range map[string]Backend{"": Auto, "auto": Auto, "native": Native, "OpenBLAS": OpenBLAS} {
		if got, err := ParseBackend(s); err != nil || got != want {
			t.Errorf("ParseBackend(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseBackend("mkl"); err == nil {
		t.Error("ParseBackend(mkl): no error")
	}
	if _, err := NewEngine(Options{Kernel: "sse9"}); err == nil {
		t.Error("unknown kernel accepted")
	}
}
