package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// dylib is one loaded shared library.
type dylib struct {
	handle uintptr
	path   string // what was passed to dlopen (a soname or a path)
}

// openFirst dlopens the first candidate that loads. Candidates with a slash that
// do not exist are recorded as missing rather than passed to dlopen, so that the
// error lists every place looked at with the reason each failed.
func openFirst(what string, candidates []string) (*dylib, error) {
	// dlopen's reason for a failure (dlerror) is kept per OS thread: a
	// goroutine moved to another thread between the call and the read gets
	// an empty reason. Stay on one thread while loading.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tried []string
	for _, p := range candidates {
		if strings.Contains(p, "/") {
			if _, err := os.Stat(p); err != nil {
				tried = append(tried, p+" (missing)")
				continue
			}
		}
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err == nil {
			return &dylib{handle: h, path: p}, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
	}
	if len(tried) == 0 {
		return nil, fmt.Errorf("cuda: %s not found: no candidate paths", what)
	}
	return nil, fmt.Errorf("cuda: %s not found; tried: %s", what, strings.Join(tried, "; "))
}

// syms resolves the named symbols into the uintptr fields they point to.
func (l *dylib) syms(table map[string]*uintptr) error {
	var missing []string
	for name, dst := range table {
		p, err := purego.Dlsym(l.handle, name)
		if err != nil || p == 0 {
			missing = append(missing, name)
			continue
		}
		*dst = p
	}
	if len(missing) > 0 {
		return fmt.Errorf("cuda: %s lacks %s (too old a version?)", l.path, strings.Join(missing, ", "))
	}
	return nil
}

// call runs a C function that returns a 32-bit status code. Like
// purego.SyscallN, it moves to the heap what the uintptr(unsafe.Pointer(&x))
// arguments written in its call expression point at, so that a stack move
// cannot leave C with a stale address.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) int {
	r, _, _ := purego.SyscallN(fn, args...)
	return int(int32(r))
}

// cString returns s NUL-terminated; the caller keeps the slice alive across the call.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString copies a NUL-terminated C string.
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	var b []byte
	for i := uintptr(0); ; i++ {
		c := *(*byte)(ptrAt(p, i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// realPath returns the file a library opened as name (a soname or a path) was
// mapped from: /proc/self/maps knows where the dynamic loader found a soname.
func realPath(name string) string {
	if strings.Contains(name, "/") {
		if r, err := filepath.EvalSymlinks(name); err == nil {
			return r
		}
		return name
	}
	stem := strings.SplitN(name, ".so", 2)[0] + ".so"
	if maps, err := os.ReadFile("/proc/self/maps"); err == nil {
		for _, line := range strings.Split(string(maps), "\n") {
			if i := strings.Index(line, "/"); i >= 0 && strings.HasPrefix(filepath.Base(line[i:]), stem) {
				return line[i:]
			}
		}
	}
	return name
}

// callPtr runs a C function that returns a pointer.
//
//go:uintptrescapes
func callPtr(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}
