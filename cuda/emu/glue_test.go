package emu

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/tlgo/tl/internal/testenv"
)

// api is the emulator's C API as the tests call it, through purego like package
// cuda does, but kept to what the tests need.
type api struct {
	lib uintptr

	cuInit                   func(uint32) int32
	cuDeviceGet              func(*int32, int32) int32
	cuDeviceGetAttribute     func(*int32, int32, int32) int32
	cuDeviceGetName          func(*byte, int32, int32) int32
	cuDevicePrimaryCtxRetain func(*uintptr, int32) int32
	cuCtxSetCurrent          func(uintptr) int32
	cuCtxSynchronize         func() int32
	cuMemAlloc               func(*uintptr, uintptr) int32
	cuMemFree                func(uintptr) int32
	cuMemcpyHtoD             func(uintptr, unsafe.Pointer, uintptr) int32
	cuMemcpyDtoH             func(unsafe.Pointer, uintptr, uintptr) int32
	cuMemcpyHtoDAsync        func(uintptr, unsafe.Pointer, uintptr, uintptr) int32
	cuMemcpyDtoDAsync        func(uintptr, uintptr, uintptr, uintptr) int32
	cuMemsetD32Async         func(uintptr, uint32, uintptr, uintptr) int32
	cuModuleLoadData         func(*uintptr, unsafe.Pointer) int32
	cuModuleGetFunction      func(*uintptr, uintptr, string) int32
	cuFuncSetAttribute       func(uintptr, int32, int32) int32
	cuLaunchKernel           func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params unsafe.Pointer, extra uintptr) int32
	cuStreamCreate           func(*uintptr, uint32) int32
	cuStreamDestroy          func(uintptr) int32
	cuStreamSynchronize      func(uintptr) int32
	cuStreamBeginCapture     func(uintptr, int32) int32
	cuStreamEndCapture       func(uintptr, *uintptr) int32
	cuGraphInstantiate       func(*uintptr, uintptr, uint64) int32
	cuGraphLaunch            func(uintptr, uintptr) int32
	cuGraphDestroy           func(uintptr) int32
	cuGraphExecDestroy       func(uintptr) int32
	cuEventCreate            func(*uintptr, uint32) int32
	cuEventRecord            func(uintptr, uintptr) int32
	cuEventElapsedTime       func(*float32, uintptr, uintptr) int32
	cuGetErrorString         func(int32, **byte) int32
	tlLastError              func() string

	cublasCreate           func(*uintptr) int32
	cublasSetStream        func(uintptr, uintptr) int32
	cublasSgemm            func(h uintptr, ta, tb, m, n, k int32, alpha *float32, a uintptr, lda int32, b uintptr, ldb int32, beta *float32, c uintptr, ldc int32) int32
	cublasSgemmBatched     func(h uintptr, ta, tb, m, n, k int32, alpha *float32, a uintptr, lda int32, b uintptr, ldb int32, beta *float32, c uintptr, ldc int32, batch int32) int32
	nvrtcCreateProgram     func(*uintptr, string, string, int32, uintptr, uintptr) int32
	nvrtcCompileProgram    func(uintptr, int32, unsafe.Pointer) int32
	nvrtcGetProgramLogSize func(uintptr, *uintptr) int32
	nvrtcGetProgramLog     func(uintptr, unsafe.Pointer) int32
	nvrtcGetCUBINSize      func(uintptr, *uintptr) int32
	nvrtcGetCUBIN          func(uintptr, unsafe.Pointer) int32
	nvrtcDestroyProgram    func(*uintptr) int32
	primaryContext         uintptr
}

var loadAPI = sync.OnceValues(func() (*api, error) {
	path, err := Build("")
	if err != nil {
		return nil, err
	}
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", path, err)
	}
	a := &api{lib: lib}
	reg := []struct {
		fn   any
		name string
	}{
		{&a.cuInit, "cuInit"}, {&a.cuDeviceGet, "cuDeviceGet"}, {&a.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
		{&a.cuDeviceGetName, "cuDeviceGetName"}, {&a.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&a.cuCtxSetCurrent, "cuCtxSetCurrent"}, {&a.cuCtxSynchronize, "cuCtxSynchronize"},
		{&a.cuMemAlloc, "cuMemAlloc_v2"}, {&a.cuMemFree, "cuMemFree_v2"},
		{&a.cuMemcpyHtoD, "cuMemcpyHtoD_v2"}, {&a.cuMemcpyDtoH, "cuMemcpyDtoH_v2"},
		{&a.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"}, {&a.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"},
		{&a.cuMemsetD32Async, "cuMemsetD32Async"}, {&a.cuModuleLoadData, "cuModuleLoadData"},
		{&a.cuModuleGetFunction, "cuModuleGetFunction"}, {&a.cuFuncSetAttribute, "cuFuncSetAttribute"},
		{&a.cuLaunchKernel, "cuLaunchKernel"}, {&a.cuStreamCreate, "cuStreamCreate"},
		{&a.cuStreamDestroy, "cuStreamDestroy_v2"}, {&a.cuStreamSynchronize, "cuStreamSynchronize"},
		{&a.cuStreamBeginCapture, "cuStreamBeginCapture_v2"}, {&a.cuStreamEndCapture, "cuStreamEndCapture"},
		{&a.cuGraphInstantiate, "cuGraphInstantiateWithFlags"}, {&a.cuGraphLaunch, "cuGraphLaunch"},
		{&a.cuGraphDestroy, "cuGraphDestroy"}, {&a.cuGraphExecDestroy, "cuGraphExecDestroy"},
		{&a.cuEventCreate, "cuEventCreate"}, {&a.cuEventRecord, "cuEventRecord"},
		{&a.cuEventElapsedTime, "cuEventElapsedTime"}, {&a.cuGetErrorString, "cuGetErrorString"},
		{&a.tlLastError, "tl_emu_last_error"},
		{&a.cublasCreate, "cublasCreate_v2"}, {&a.cublasSetStream, "cublasSetStream_v2"},
		{&a.cublasSgemm, "cublasSgemm_v2"}, {&a.cublasSgemmBatched, "cublasSgemmBatched"},
		{&a.nvrtcCreateProgram, "nvrtcCreateProgram"}, {&a.nvrtcCompileProgram, "nvrtcCompileProgram"},
		{&a.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"}, {&a.nvrtcGetProgramLog, "nvrtcGetProgramLog"},
		{&a.nvrtcGetCUBINSize, "nvrtcGetCUBINSize"}, {&a.nvrtcGetCUBIN, "nvrtcGetCUBIN"},
		{&a.nvrtcDestroyProgram, "nvrtcDestroyProgram"},
	}
	for _, r := range reg {
		sym, err := purego.Dlsym(lib, r.name)
		if err != nil {
			return nil, fmt.Errorf("symbol %s in %s: %w", r.name, path, err)
		}
		purego.RegisterFunc(r.fn, sym)
	}
	if rc := a.cuInit(0); rc != 0 {
		return nil, fmt.Errorf("cuInit: %d", rc)
	}
	var dev int32
	if rc := a.cuDeviceGet(&dev, 0); rc != 0 {
		return nil, fmt.Errorf("cuDeviceGet: %d", rc)
	}
	if rc := a.cuDevicePrimaryCtxRetain(&a.primaryContext, dev); rc != 0 {
		return nil, fmt.Errorf("cuDevicePrimaryCtxRetain: %d", rc)
	}
	return a, nil
})

// open returns the emulator with its context current on this test's OS thread
// (contexts are per OS thread, so the goroutine is pinned until the test ends).
func open(t *testing.T) *api {
	t.Helper()
	a, err := loadAPI()
	if errors.Is(err, ErrNoCompiler) {
		testenv.Require(t, "the CUDA emulator (a C++ compiler)", err)
	}
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	if rc := a.cuCtxSetCurrent(a.primaryContext); rc != 0 {
		t.Fatalf("cuCtxSetCurrent: %d", rc)
	}
	return a
}

// check fails the test with the emulator's detail when rc is not 0.
func (a *api) check(t *testing.T, what string, rc int32) {
	t.Helper()
	if rc != 0 {
		t.Fatalf("%s: error %d: %s", what, rc, a.tlLastError())
	}
}

// compile runs the emulator's NVRTC on src and returns the image or the log.
func (a *api) compile(src, name string, opts ...string) (image []byte, log string, rc int32) {
	var prog uintptr
	if rc := a.nvrtcCreateProgram(&prog, src, name, 0, 0, 0); rc != 0 {
		return nil, "", rc
	}
	defer a.nvrtcDestroyProgram(&prog)
	cs := make([][]byte, len(opts))
	ptrs := make([]*byte, len(opts)+1)
	for i, o := range opts {
		cs[i] = append([]byte(o), 0)
		ptrs[i] = &cs[i][0]
	}
	rc = a.nvrtcCompileProgram(prog, int32(len(opts)), unsafe.Pointer(&ptrs[0]))
	runtime.KeepAlive(cs)
	var n uintptr
	a.nvrtcGetProgramLogSize(prog, &n)
	buf := make([]byte, n+1)
	a.nvrtcGetProgramLog(prog, unsafe.Pointer(&buf[0]))
	log = strings.TrimRight(string(buf), "\x00")
	if rc != 0 {
		return nil, log, rc
	}
	a.nvrtcGetCUBINSize(prog, &n)
	image = make([]byte, n)
	a.nvrtcGetCUBIN(prog, unsafe.Pointer(&image[0]))
	return image, log, 0
}

// module compiles and loads src, failing the test on an error.
func (a *api) module(t *testing.T, src, name string) uintptr {
	t.Helper()
	img, log, rc := a.compile(src, name, "--gpu-architecture=sm_90", "-std=c++17", "-default-device", "-DTL_NVRTC")
	if rc != 0 {
		t.Fatalf("compile %s: nvrtc error %d:\n%s", name, rc, log)
	}
	var mod uintptr
	a.check(t, "cuModuleLoadData", a.cuModuleLoadData(&mod, unsafe.Pointer(&img[0])))
	return mod
}

func (a *api) function(t *testing.T, mod uintptr, name string) uintptr {
	t.Helper()
	var f uintptr
	a.check(t, "cuModuleGetFunction "+name, a.cuModuleGetFunction(&f, mod, name))
	return f
}

// launch passes args (pointers to each parameter's value) as cuLaunchKernel's void**.
func (a *api) launch(f uintptr, grid, block, shared uint32, stream uintptr, args ...unsafe.Pointer) int32 {
	var p unsafe.Pointer
	if len(args) > 0 {
		p = unsafe.Pointer(&args[0])
	}
	rc := a.cuLaunchKernel(f, grid, 1, 1, block, 1, 1, shared, stream, p, 0)
	runtime.KeepAlive(args)
	return rc
}

func (a *api) alloc(t *testing.T, bytes int) uintptr {
	t.Helper()
	var p uintptr
	a.check(t, "cuMemAlloc", a.cuMemAlloc(&p, uintptr(bytes)))
	t.Cleanup(func() { a.cuMemFree(p) })
	return p
}

func (a *api) upload(t *testing.T, v []float32) uintptr {
	t.Helper()
	p := a.alloc(t, 4*len(v))
	a.check(t, "cuMemcpyHtoD", a.cuMemcpyHtoD(p, unsafe.Pointer(&v[0]), uintptr(4*len(v))))
	return p
}

func (a *api) download(t *testing.T, p uintptr, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	a.check(t, "cuMemcpyDtoH", a.cuMemcpyDtoH(unsafe.Pointer(&v[0]), p, uintptr(4*n)))
	return v
}

func (a *api) errorString(rc int32) string {
	var p *byte
	if a.cuGetErrorString(rc, &p) != 0 || p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// runtimeLockAndRun runs f on one OS thread.
func runtimeLockAndRun(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f()
}
