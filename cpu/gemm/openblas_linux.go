//go:build linux && (amd64 || arm64)

package gemm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
	"golang.org/x/sys/cpu"
)

// candidates lists where OpenBLAS is looked for, in order. A bare soname goes
// through the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
func candidates() []string {
	var c []string
	if p := os.Getenv("TL_OPENBLAS"); p != "" {
		return []string{p}
	}
	for _, dir := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if dir != "" {
			c = append(c, filepath.Join(dir, "libopenblas.so.0"), filepath.Join(dir, "libopenblas.so"))
		}
	}
	c = append(c, "libopenblas.so.0")
	for _, dir := range []string{
		"/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu/openblas-pthread",
		"/usr/lib/x86_64-linux-gnu/openblas-openmp", "/usr/lib/x86_64-linux-gnu/openblas-serial",
		"/usr/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu/openblas-pthread",
		"/usr/lib64", "/usr/lib", "/usr/local/lib", "/opt/OpenBLAS/lib",
	} {
		c = append(c, filepath.Join(dir, "libopenblas.so.0"), filepath.Join(dir, "libopenblas.so"))
	}
	return c
}

func openOpenBLAS() (*openBLAS, error) {
	if err := setCoreType(); err != nil {
		return nil, err
	}
	var (
		h    uintptr
		path string
		errs []string
	)
	// dlerror's reason is per OS thread: stay on one while loading, or a
	// failure may come back with an empty reason.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, p := range candidates() {
		if strings.Contains(p, "/") {
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		var err error
		if h, err = purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_LOCAL); err == nil {
			path = p
			break
		}
		errs = append(errs, err.Error())
	}
	if h == 0 {
		msg := "gemm: OpenBLAS not found (install libopenblas0-pthread, or set TL_OPENBLAS to the library)"
		if len(errs) > 0 {
			msg += ": " + strings.Join(errs, "; ")
		}
		return nil, errors.New(msg)
	}
	l := &openBLAS{path: path}
	var err error
	if l.sgemmFn, err = purego.Dlsym(h, "sgemm_"); err != nil {
		return nil, fmt.Errorf("gemm: %s has no sgemm_: %w", path, err)
	}
	if fn, err := purego.Dlsym(h, "openblas_set_num_threads"); err == nil {
		l.setThreads = func(n int) { purego.SyscallN(fn, uintptr(n)) }
	} else {
		l.setThreads = func(int) {}
	}
	if fn, err := purego.Dlsym(h, "openblas_get_corename"); err == nil {
		r, _, _ := purego.SyscallN(fn)
		l.corename = goString(r)
	}
	if fn, err := purego.Dlsym(h, "openblas_get_config"); err == nil {
		r, _, _ := purego.SyscallN(fn)
		l.config = strings.TrimSpace(goString(r))
	}
	l.path = loadedPath(path)
	return l, nil
}

// loadedPath returns the file the dynamic loader mapped for a library
// opened as name (a soname or a path), from /proc/self/maps.
func loadedPath(name string) string {
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		for _, line := range strings.Split(string(maps), "\n") {
			if i := strings.Index(line, "/"); i >= 0 && strings.Contains(line[i:], "libopenblas") {
				return line[i:]
			}
		}
	}
	if real, err := filepath.EvalSymlinks(name); err == nil {
		return real
	}
	return name
}

// setCoreType puts OPENBLAS_CORETYPE into the C environment before OpenBLAS
// loads. Debian's OpenBLAS 0.3.21 does not know recent AVX-512 CPUs and falls
// back to an SSE3 kernel, several times slower; SkylakeX is the right kernel
// on any CPU with AVX-512F/BW/DQ/VL/CD. Without cgo, os.Setenv does not reach
// the C environment that OpenBLAS reads with getenv, so libc's setenv is
// called directly. A value the user set is kept (and copied to the C
// environment when it was set with os.Setenv).
func setCoreType() error {
	v, ok := os.LookupEnv("OPENBLAS_CORETYPE")
	if !ok {
		x := cpu.X86
		if runtime.GOARCH != "amd64" || !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL && x.HasAVX512CD) {
			return nil
		}
		v = "SkylakeX"
	}
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("gemm: cannot open libc to set OPENBLAS_CORETYPE: %w", err)
	}
	setenv, err := purego.Dlsym(libc, "setenv")
	if err != nil {
		return fmt.Errorf("gemm: libc has no setenv: %w", err)
	}
	name := []byte("OPENBLAS_CORETYPE\x00")
	val := []byte(v + "\x00")
	// overwrite=0: a value already in the C environment wins.
	purego.SyscallN(setenv, uintptr(unsafe.Pointer(&name[0])), uintptr(unsafe.Pointer(&val[0])), 0)
	runtime.KeepAlive(name)
	runtime.KeepAlive(val)
	return nil
}

// goString copies a NUL-terminated C string.
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	// Reinterpret the address as a pointer: the memory belongs to C.
	base := *(**byte)(unsafe.Pointer(&p))
	var b []byte
	for i := 0; ; i++ {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(base), i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// sgemm calls Fortran sgemm_ for the row-major product: row-major C = op(A)op(B)
// is column-major Cᵀ = op(B)ᵀop(A)ᵀ, so the operands swap places.
func (l *openBLAS) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const maxInt32 = 1<<31 - 1
	if m > maxInt32 || n > maxInt32 || k > maxInt32 || lda > maxInt32 || ldb > maxInt32 || ldc > maxInt32 {
		panic("gemm: size too large for OpenBLAS's 32-bit integers")
	}
	ar := l.getArgs()
	ar.transA, ar.transB = 'N', 'N'
	if transA {
		ar.transA = 'T'
	}
	if transB {
		ar.transB = 'T'
	}
	ar.m, ar.n, ar.k = int32(m), int32(n), int32(k)
	ar.lda, ar.ldb, ar.ldc = int32(lda), int32(ldb), int32(ldc)
	ar.alpha, ar.beta = alpha, beta
	// The argument list lives in ar (on the heap, recycled): a variadic
	// list built here would escape and allocate on every call. Go's heap
	// does not move, and everything pointed to is kept alive below.
	ar.args = [13]uintptr{
		uintptr(unsafe.Pointer(&ar.transB)), uintptr(unsafe.Pointer(&ar.transA)),
		uintptr(unsafe.Pointer(&ar.n)), uintptr(unsafe.Pointer(&ar.m)), uintptr(unsafe.Pointer(&ar.k)),
		uintptr(unsafe.Pointer(&ar.alpha)),
		uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(&ar.ldb)),
		uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(&ar.lda)),
		uintptr(unsafe.Pointer(&ar.beta)),
		uintptr(unsafe.Pointer(unsafe.SliceData(c))), uintptr(unsafe.Pointer(&ar.ldc)),
	}
	purego.SyscallN(l.sgemmFn, ar.args[:]...)
	ar.args = [13]uintptr{}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	runtime.KeepAlive(ar)
	l.putArgs(ar)
}
