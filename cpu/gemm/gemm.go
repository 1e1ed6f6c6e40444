package gemm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Backend names the code that multiplies.
type Backend int

const (
	// Auto lets the engine choose per product: see the package documentation.
	Auto Backend = iota
	// Native is this package's own blocked GEMM with SIMD micro-kernels.
	Native
	// OpenBLAS is the system's OpenBLAS, loaded at run time.
	OpenBLAS
)

func (b Backend) String() string {
	switch b {
	case Auto:
		return "auto"
	case Native:
		return "native"
	case OpenBLAS:
		return "openblas"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// ParseBackend parses "auto", "native" or "openblas" (the values of TL_BLAS).
func ParseBackend(s string) (Backend, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "native", "go":
		return Native, nil
	case "openblas":
		return OpenBLAS, nil
	}
	return Auto, fmt.Errorf("gemm: unknown backend %q (want auto, native or openblas)", s)
}

// Options configure an Engine. The zero value is a good engine: all cores,
// automatic backend, the best kernel of the CPU.
type Options struct {
	// Threads is the number of goroutines a product may use; 0 means
	// runtime.GOMAXPROCS(0).
	Threads int
	// Backend forces a backend. OpenBLAS fails when the library is missing.
	Backend Backend
	// Kernel forces a native micro-kernel by name (see Kernels); "" picks
	// the best one the CPU runs.
	Kernel string
}

// An Engine multiplies matrices. It holds the thread count, the chosen
// backend and micro-kernel, recycled packing buffers and a pool of worker
// goroutines. An Engine is safe for concurrent use; concurrent products each
// get their own packing buffers.
type Engine struct {
	threads atomic.Int64
	backend Backend
	kernel  *microKernel
	blas    *openBLAS // nil when OpenBLAS is not loaded

	// mu guards free, workers and closed. It is held only for those
	// fields, never while computing and never together with another lock
	// (the OpenBLAS argument free list has its own mutex, taken alone).
	mu      sync.Mutex
	free    []*call // recycled per-product state, buffers included
	workers int     // worker goroutines started, reading tasks
	closed  bool
	tasks   chan task
}

// NewEngine returns an engine configured by o.
func NewEngine(o Options) (*Engine, error) {
	kn, ok := findKernel(o.Kernel)
	if !ok {
		return nil, fmt.Errorf("gemm: kernel %q not available on this CPU (have %v)", o.Kernel, Kernels())
	}
	if o.Threads < 0 {
		return nil, fmt.Errorf("gemm: negative thread count %d", o.Threads)
	}
	e := &Engine{backend: o.Backend, kernel: kn, tasks: make(chan task, 64)}
	switch o.Backend {
	case Auto:
		// OpenBLAS only stands in for the scalar kernel (see Choose).
		if kn.name == KernelScalar && o.Kernel == "" {
			e.blas, _ = loadOpenBLAS()
		}
	case Native:
	case OpenBLAS:
		var err error
		if e.blas, err = loadOpenBLAS(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("gemm: unknown backend %v", o.Backend)
	}
	t := o.Threads
	if t == 0 {
		t = runtime.GOMAXPROCS(0)
	}
	e.SetThreads(t)
	return e, nil
}

// Threads returns the number of goroutines a product may use.
func (e *Engine) Threads() int { return int(e.threads.Load()) }

// SetThreads sets the number of goroutines a product may use (at least 1).
// OpenBLAS keeps one process-wide thread count: it is set too.
func (e *Engine) SetThreads(n int) {
	n = max(n, 1)
	e.threads.Store(int64(n))
	if e.blas != nil {
		e.blas.setThreads(n)
	}
}

// Kernel returns the name of the native micro-kernel the engine uses.
func (e *Engine) Kernel() string { return e.kernel.name }

// Backend returns the backend the engine was asked for.
func (e *Engine) Backend() Backend { return e.backend }

// HasOpenBLAS reports whether the engine has OpenBLAS loaded (Backend
// OpenBLAS, or Auto on a CPU without a SIMD kernel).
func (e *Engine) HasOpenBLAS() bool { return e.blas != nil }

// Close stops the engine's worker goroutines. The engine must not be used
// afterwards. Closing the default engine does nothing: it is shared.
func (e *Engine) Close() {
	if e == defaultEngine {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.tasks)
	}
}

// Choose returns the backend the engine uses for an m×n×k product.
//
// The Auto policy, from the figures in docs/BENCHMARKS.md: the native
// kernels run whenever the CPU has a SIMD kernel (AVX-512 or AVX2+FMA),
// where they run at 0.95-1.5 times OpenBLAS on the shapes the engine runs;
// OpenBLAS, when it loads, replaces only the scalar kernel, which is many
// times slower. Mixing the two per shape is avoided on purpose:
// OpenBLAS's idle threads spin for a while after each call and would take
// the cores from the native threads that follow.
func (e *Engine) Choose(m, n, k int) Backend {
	switch e.backend {
	case Native:
		return Native
	case OpenBLAS:
		return OpenBLAS
	}
	if e.blas != nil {
		return OpenBLAS
	}
	return Native
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// op(X) = X or Xᵀ. A is m×k (k×m if transA), B is k×n (n×k if transB), C is
// m×n. lda, ldb, ldc are row strides. When beta is 0, C is not read (it may
// hold NaN). It allocates nothing in steady state.
//
// Sgemm panics, naming the argument, on negative sizes, strides smaller than
// a row, or slices too short for the matrices they hold.
func (e *Engine) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if e.blas != nil && e.Choose(m, n, k) == OpenBLAS && k > 0 {
		e.blas.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	e.native(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmBias computes C = alpha·op(A)·op(B) + 1·biasᵀ: the product with bias
// (n values) added to every row; C is not read. The native kernels take the
// bias as one more inner step of the product (a column of ones in A, the bias
// as a row of B), so adding it costs no pass over C of its own; a dense
// layer's output is written once.
func (e *Engine) SgemmBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, bias, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if len(bias) < n {
		panic(fmt.Sprintf("gemm: bias has %d values, want n=%d", len(bias), n))
	}
	if m == 0 || n == 0 {
		return
	}
	switch {
	case e.blas != nil && e.Choose(m, n, k) == OpenBLAS && k > 0:
		for i := 0; i < m; i++ {
			copy(c[i*ldc:i*ldc+n], bias[:n])
		}
		e.blas.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, 1, c, ldc)
	case alpha == 0 || k == 0 || n <= directAMaxN:
		// A read in place (narrow C) has no column of ones: add afterwards,
		// while the narrow C is still in cache.
		e.native(transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc, nil)
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j, v := range bias[:n] {
				row[j] += v
			}
		}
	default:
		e.native(transA, transB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc, bias[:n])
	}
}

// checkArgs panics on arguments no product can have.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("a", a, ar, ac, lda)
	checkMatrix("b", b, br, bc, ldb)
	checkMatrix("c", c, m, n, ldc)
}

func checkMatrix(name string, s []float32, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s=%d is less than the %d columns of %s", name, ld, cols, name))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: len(%s)=%d is too short for a %d×%d matrix with ld%s=%d (need %d)", name, len(s), rows, cols, name, ld, need))
	}
}

// The default engine is created on first use rather than at package
// initialisation so that importing the package costs nothing and loads no
// shared library; sync.Once makes that creation safe from any goroutine.
// Only its thread count can change afterwards (through Threads).
var (
	defaultOnce   sync.Once
	defaultEngine *Engine
)

// Default returns the engine behind the package-level Sgemm. Its backend
// comes from the environment variable TL_BLAS (auto, native or openblas;
// auto when unset) and its kernel from TL_GEMM_KERNEL (avx512, avx2,
// scalar; the best the CPU runs when unset). A forced backend that cannot
// load, or a bad value, falls back to the automatic choice with a message
// on standard error.
func Default() *Engine {
	defaultOnce.Do(func() {
		var o Options
		if v, ok := os.LookupEnv("TL_BLAS"); ok {
			b, err := ParseBackend(v)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			o.Backend = b
		}
		o.Kernel = os.Getenv("TL_GEMM_KERNEL")
		e, err := NewEngine(o)
		if err != nil && o.Kernel != "" {
			fmt.Fprintf(os.Stderr, "gemm: TL_GEMM_KERNEL: %v; using the best kernel\n", err)
			o.Kernel = ""
			e, err = NewEngine(o)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gemm: TL_BLAS: %v; using the automatic choice\n", err)
			o.Backend = Auto
			e, _ = NewEngine(o)
		}
		defaultEngine = e
	})
	return defaultEngine
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C on the default engine; see
// Engine.Sgemm.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Default().Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmBias runs Engine.SgemmBias on the default engine.
func SgemmBias(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, bias, c []float32, ldc int) {
	Default().SgemmBias(transA, transB, m, n, k, alpha, a, lda, b, ldb, bias, c, ldc)
}

// Threads sets the number of goroutines the default engine uses when n > 0
// and returns the previous setting (like runtime.GOMAXPROCS); Threads(0)
// only reports it. The default is runtime.GOMAXPROCS(0) at first use.
func Threads(n int) int {
	e := Default()
	old := e.Threads()
	if n > 0 {
		e.SetThreads(n)
	}
	return old
}
