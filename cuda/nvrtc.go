package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"
)

// NVRTC is the loaded run-time compiler.
type NVRTC struct {
	lib          *dylib
	major, minor int

	version, errorString, create, destroy, compile uintptr
	logSize, log, ptxSize, ptx, cubinSize, cubin   uintptr
}

// nvrtcOptions are passed to every compilation: C++17, functions are device
// functions unless marked, and TL_NVRTC tells the sources who compiles them.
var nvrtcOptions = []string{"-std=c++17", "-default-device", "-DTL_NVRTC"}

// LoadNVRTC loads libnvrtc from the first of paths that loads, or, with no
// paths, from the places Candidates(LibNVRTC, Config{}) lists.
func LoadNVRTC(paths ...string) (*NVRTC, error) {
	if len(paths) == 0 {
		paths = Candidates(LibNVRTC, Config{})
	}
	lib, err := openFirst(LibNVRTC.String(), paths)
	if err != nil {
		return nil, err
	}
	return bindNVRTC(lib)
}

func bindNVRTC(lib *dylib) (*NVRTC, error) {
	nv := &NVRTC{lib: lib}
	err := lib.syms(map[string]*uintptr{
		"nvrtcVersion": &nv.version, "nvrtcGetErrorString": &nv.errorString,
		"nvrtcCreateProgram": &nv.create, "nvrtcDestroyProgram": &nv.destroy,
		"nvrtcCompileProgram": &nv.compile, "nvrtcGetProgramLogSize": &nv.logSize,
		"nvrtcGetProgramLog": &nv.log, "nvrtcGetPTXSize": &nv.ptxSize, "nvrtcGetPTX": &nv.ptx,
		"nvrtcGetCUBINSize": &nv.cubinSize, "nvrtcGetCUBIN": &nv.cubin,
	})
	if err != nil {
		return nil, err
	}
	var major, minor int32
	if r := call(nv.version, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor))); r != 0 {
		return nil, nv.err("nvrtcVersion", r)
	}
	nv.major, nv.minor = int(major), int(minor)
	return nv, nil
}

// Version returns NVRTC's version, e.g. 12, 8.
func (nv *NVRTC) Version() (major, minor int) { return nv.major, nv.minor }

// Path is the library that was loaded (symlinks resolved).
func (nv *NVRTC) Path() string { return realPath(nv.lib.path) }

func (nv *NVRTC) err(fn string, code int) error {
	return &Error{Call: fn, Code: code, Name: goString(callPtr(nv.errorString, uintptr(code)))}
}

// Compile compiles CUDA C++ source; name is the file name compile errors give
// (the kernels' own #line directives name their files). arch "sm_90" returns a
// CUBIN, "compute_90" PTX (text, NUL-terminated as cuModuleLoadData wants it).
// opts are added to nvrtcOptions. A failed compilation's error holds the log.
func (nv *NVRTC) Compile(src, name, arch string, opts ...string) (image []byte, log string, err error) {
	ptx := strings.HasPrefix(arch, "compute_")
	if !ptx && !strings.HasPrefix(arch, "sm_") {
		return nil, "", fmt.Errorf("nvrtc: architecture %q: want sm_XX (CUBIN) or compute_XX (PTX)", arch)
	}
	csrc, cname := cString(src), cString(name)
	var prog uintptr
	r := call(nv.create, uintptr(unsafe.Pointer(&prog)), uintptr(unsafe.Pointer(&csrc[0])),
		uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0)
	runtime.KeepAlive(csrc)
	runtime.KeepAlive(cname)
	if r != 0 {
		return nil, "", nv.err("nvrtcCreateProgram", r)
	}
	defer call(nv.destroy, uintptr(unsafe.Pointer(&prog)))

	all := append([]string{"--gpu-architecture=" + arch}, nvrtcOptions...)
	all = append(all, opts...)
	copts := make([][]byte, len(all))
	ptrs := make([]uintptr, len(all))
	for i, o := range all {
		copts[i] = cString(o)
		ptrs[i] = uintptr(unsafe.Pointer(&copts[i][0]))
	}
	rc := call(nv.compile, prog, uintptr(len(ptrs)), uintptr(unsafe.Pointer(&ptrs[0])))
	runtime.KeepAlive(copts)
	runtime.KeepAlive(ptrs)
	log = nv.programLog(prog)
	if rc != 0 {
		return nil, log, fmt.Errorf("nvrtc %d.%d: compiling %s for %s (options %s): %w\n%s",
			nv.major, nv.minor, name, arch, strings.Join(all, " "), nv.err("nvrtcCompileProgram", rc), log)
	}
	sizeFn, getFn, what := nv.cubinSize, nv.cubin, "CUBIN"
	if ptx {
		sizeFn, getFn, what = nv.ptxSize, nv.ptx, "PTX"
	}
	var n uintptr
	if r := call(sizeFn, prog, uintptr(unsafe.Pointer(&n))); r != 0 {
		return nil, log, fmt.Errorf("nvrtc: %s size of %s: %w", what, name, nv.err("nvrtcGet"+what+"Size", r))
	}
	if n == 0 {
		return nil, log, fmt.Errorf("nvrtc: compiling %s for %s gave an empty %s", name, arch, what)
	}
	image = make([]byte, n)
	if r := call(getFn, prog, uintptr(unsafe.Pointer(&image[0]))); r != 0 {
		return nil, log, fmt.Errorf("nvrtc: %s of %s: %w", what, name, nv.err("nvrtcGet"+what, r))
	}
	return image, log, nil
}

func (nv *NVRTC) programLog(prog uintptr) string {
	var n uintptr
	if call(nv.logSize, prog, uintptr(unsafe.Pointer(&n))) != 0 || n <= 1 {
		return ""
	}
	b := make([]byte, n)
	if call(nv.log, prog, uintptr(unsafe.Pointer(&b[0]))) != 0 {
		return ""
	}
	return strings.TrimRight(string(bytes.TrimRight(b, "\x00")), "\n")
}

// cacheMagic starts every cache entry; a sha256 of the image follows it.
const cacheMagic = "tlkernel1\n"

// DefaultCacheDir is where CompileCached keeps kernels when given "":
// os.UserCacheDir()/tl/kernels, or, where there is no user cache folder (no
// $HOME, as on some batch machines), os.TempDir()/tl-<uid>/kernels.
func DefaultCacheDir() (string, error) {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "tl", "kernels"), nil
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("tl-%d", os.Getuid()), "kernels"), nil
}

// CacheKey identifies a compilation: the source, the architecture, the
// compiler (version, and its file's path, size and time, which tell a rebuilt
// emulator apart) and the options.
func CacheKey(nv *NVRTC, src, arch string) string {
	h := sha256.New()
	lib := nv.Path()
	var size int64
	var mtime int64
	if st, err := os.Stat(lib); err == nil {
		size, mtime = st.Size(), st.ModTime().UnixNano()
	}
	fmt.Fprintf(h, "arch=%s\nnvrtc=%d.%d %s %d %d\noptions=%s\n", arch, nv.major, nv.minor, lib, size, mtime,
		strings.Join(nvrtcOptions, " "))
	h.Write([]byte(src))
	return hex.EncodeToString(h.Sum(nil))
}

// CompileCached is Compile with a disk cache in cacheDir ("" for
// DefaultCacheDir) keyed by CacheKey. Entries are written atomically (a temporary
// file renamed into place) and carry a checksum: a corrupt or truncated one is
// compiled again and replaced. Failing to write the cache is not an error (the
// kernels are compiled again next time).
func CompileCached(nv *NVRTC, src, arch, cacheDir string) ([]byte, error) {
	img, _, err := compileCached(nv, src, arch, cacheDir, false)
	return img, err
}

// compileCached is CompileCached; fresh skips the cache's entry (replacing it),
// and cached says whether the image came from the cache.
func compileCached(nv *NVRTC, src, arch, cacheDir string, fresh bool) (img []byte, cached bool, err error) {
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, false, err
		}
	}
	path := filepath.Join(cacheDir, CacheKey(nv, src, arch)+".bin")
	if !fresh {
		if img, ok := readCacheEntry(path); ok {
			return img, true, nil
		}
	}
	if img, _, err = nv.Compile(src, "kernels.cu", arch); err != nil {
		return nil, false, err
	}
	_ = writeCacheEntry(path, img)
	return img, false, nil
}

func readCacheEntry(path string) ([]byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < len(cacheMagic)+sha256.Size || string(b[:len(cacheMagic)]) != cacheMagic {
		return nil, false
	}
	sum, img := b[len(cacheMagic):len(cacheMagic)+sha256.Size], b[len(cacheMagic)+sha256.Size:]
	if got := sha256.Sum256(img); len(img) == 0 || !bytes.Equal(got[:], sum) {
		return nil, false
	}
	return img, true
}

func writeCacheEntry(path string, img []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(img)
	_, err = f.Write(append(append([]byte(cacheMagic), sum[:]...), img...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return errors.Join(fmt.Errorf("cuda: caching kernels in %s", path), err)
	}
	return nil
}
