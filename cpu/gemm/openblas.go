package gemm

import "sync"

// openBLAS is the system OpenBLAS, loaded once per process.
type openBLAS struct {
	path     string
	corename string
	config   string

	sgemmFn    uintptr // Fortran sgemm_: every argument by reference
	setThreads func(n int)

	mu   sync.Mutex
	free []*blasArgs
}

// blasArgs holds the by-reference scalar arguments of one sgemm_ call; they
// live on the heap (recycled) so that C may hold pointers to them.
type blasArgs struct {
	transA, transB byte
	m, n, k        int32
	lda, ldb, ldc  int32
	alpha, beta    float32
	args           [13]uintptr
}

// BLASInfo describes the OpenBLAS library the package loaded.
type BLASInfo struct {
	Loaded   bool
	Path     string // the file that was loaded
	CoreName string // the kernel OpenBLAS runs, e.g. "SkylakeX"
	Config   string // openblas_get_config()
	Err      error  // why it did not load
}

var (
	blasOnce sync.Once
	blasLib  *openBLAS
	blasErr  error
)

// loadOpenBLAS loads OpenBLAS once per process; later calls return the same
// library or the same error.
func loadOpenBLAS() (*openBLAS, error) {
	blasOnce.Do(func() { blasLib, blasErr = openOpenBLAS() })
	return blasLib, blasErr
}

// OpenBLASInfo reports whether OpenBLAS could be loaded, from where, and which
// kernel it runs. It loads the library if nothing has yet.
func OpenBLASInfo() BLASInfo {
	l, err := loadOpenBLAS()
	if err != nil {
		return BLASInfo{Err: err}
	}
	return BLASInfo{Loaded: true, Path: l.path, CoreName: l.corename, Config: l.config}
}

func (l *openBLAS) getArgs() *blasArgs {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		a := l.free[n-1]
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return a
	}
	l.mu.Unlock()
	return new(blasArgs)
}

func (l *openBLAS) putArgs(a *blasArgs) {
	l.mu.Lock()
	l.free = append(l.free, a)
	l.mu.Unlock()
}
