package cuda

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/kernels"
)

// Device is one GPU (or the CPU emulator) with its primary context, one
// non-blocking stream, the compiled kernel set, a caching allocator and a
// cuBLAS handle. It implements graph.Device.
//
// A CUDA context is current per OS thread, and goroutines move between
// threads: every method that calls the driver first locks its goroutine to
// the thread and makes the context current (cuCtxSetCurrent is cheap), so a
// Device may be used from any goroutine. Work is queued on one stream in call
// order; Capture must not overlap other use of the Device.
type Device struct {
	cfg      Config
	drv      *driver
	dev      int32
	ctx      uintptr
	stream   uintptr
	emulated bool

	name             string
	ccMajor, ccMinor int
	sms              int
	totalMem         int64
	driverVersion    int

	capturing atomic.Bool
	closed    atomic.Bool

	mu        sync.Mutex // guards everything below
	module    uintptr
	moduleErr error
	nvrtc     *NVRTC
	funcs     map[string]graph.DeviceFunc
	shared    map[graph.DeviceFunc]int // dynamic shared memory opted into, per kernel
	alloc     allocator
	blas      *cublas
	blasErr   error
}

var _ graph.Device = (*Device)(nil)

// noDevice wraps ErrNoDevice with what was looked for and why it failed.
func noDevice(format string, args ...any) error {
	return fmt.Errorf("%w: %s (to run without a GPU, set %s to the CPU emulator built by cuda/emu)",
		ErrNoDevice, fmt.Sprintf(format, args...), EnvEmulator)
}

// Open initialises the driver and opens GPU cfg.Ordinal. Without a driver or a
// GPU the error wraps ErrNoDevice and says what was looked for. The kernel set
// is compiled on the first Function call, not here, so that Open stays fast.
func Open(cfg Config) (*Device, error) {
	lib, err := load(LibDriver, cfg)
	if err != nil {
		return nil, noDevice("%s", strings.TrimPrefix(err.Error(), "cuda: "))
	}
	drv, err := bindDriver(lib)
	if err != nil {
		return nil, noDevice("%v", err)
	}
	if err := drv.check("cuInit", call(drv.init, 0)); err != nil {
		switch codeOf(err) {
		case errNoDevice, errNoDriver, errStubLibrary, errSystemDriver, errCompatibility, errNotPermitted, errNotSupported:
			return nil, noDevice("%s loaded, but %v", realPath(lib.path), err)
		}
		return nil, fmt.Errorf("cuda: initialising the driver (%s): %w", realPath(lib.path), err)
	}
	var count int32
	if err := drv.check("cuDeviceGetCount", call(drv.deviceGetCount, uintptr(unsafe.Pointer(&count)))); err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	if count == 0 {
		return nil, noDevice("the driver (%s) sees no GPU", realPath(lib.path))
	}
	if cfg.Ordinal < 0 || cfg.Ordinal >= int(count) {
		return nil, fmt.Errorf("cuda: GPU %d requested, but there are %d (ordinals 0 to %d)", cfg.Ordinal, count, count-1)
	}
	d := &Device{cfg: cfg, drv: drv, funcs: map[string]graph.DeviceFunc{}, shared: map[graph.DeviceFunc]int{}}
	d.alloc.init()
	emu := cfg.Emulator
	if emu == "" {
		emu = os.Getenv(EnvEmulator)
	}
	d.emulated = cfg.LibCUDA == "" && emu != ""
	if err := d.open(); err != nil {
		return nil, fmt.Errorf("cuda: opening GPU %d: %w", cfg.Ordinal, err)
	}
	return d, nil
}

func (d *Device) open() error {
	drv := d.drv
	if err := drv.check("cuDeviceGet", call(drv.deviceGet, uintptr(unsafe.Pointer(&d.dev)), uintptr(d.cfg.Ordinal))); err != nil {
		return err
	}
	var v int32
	if err := drv.check("cuDriverGetVersion", call(drv.driverGetVersion, uintptr(unsafe.Pointer(&v)))); err != nil {
		return err
	}
	d.driverVersion = int(v)
	name := make([]byte, 256)
	if err := drv.check("cuDeviceGetName", call(drv.deviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(d.dev))); err != nil {
		return err
	}
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	d.name = strings.TrimSpace(string(name))
	var err error
	if d.ccMajor, err = drv.attribute(d.dev, attrComputeCapabilityMajor); err != nil {
		return err
	}
	if d.ccMinor, err = drv.attribute(d.dev, attrComputeCapabilityMinor); err != nil {
		return err
	}
	if d.sms, err = drv.attribute(d.dev, attrMultiprocessorCount); err != nil {
		return err
	}
	if strings.Contains(d.name, "emulator") {
		d.emulated = true
	}
	if d.emulated {
		// Always set, so that an earlier Open's limit does not carry over.
		var limit uintptr
		if err := d.drv.lib.syms(map[string]*uintptr{"tl_emu_set_memory_limit": &limit}); err != nil {
			return fmt.Errorf("cuda: the emulator %s: %w", d.drv.lib.path, err)
		}
		purego.SyscallN(limit, uintptr(max(d.cfg.EmulatorMemory, 0)))
	}
	var total uintptr
	if err := drv.check("cuDeviceTotalMem_v2", call(drv.deviceTotalMem, uintptr(unsafe.Pointer(&total)), uintptr(d.dev))); err != nil {
		return err
	}
	d.totalMem = int64(total)
	d.alloc.exact = d.emulated

	// The primary context: CUDA 13 changed cuCtxCreate's signature, and the
	// primary context is the one the runtime API and other libraries share.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := drv.check("cuDevicePrimaryCtxRetain", call(drv.primaryCtxRetain, uintptr(unsafe.Pointer(&d.ctx)), uintptr(d.dev))); err != nil {
		return err
	}
	if err := drv.check("cuCtxSetCurrent", call(drv.ctxSetCurrent, d.ctx)); err != nil {
		call(drv.primaryCtxRelease, uintptr(d.dev))
		return err
	}
	const nonBlocking = 1 // CU_STREAM_NON_BLOCKING: no implicit sync with the legacy stream
	if err := drv.check("cuStreamCreate", call(drv.streamCreate, uintptr(unsafe.Pointer(&d.stream)), nonBlocking)); err != nil {
		call(drv.primaryCtxRelease, uintptr(d.dev))
		return err
	}
	return nil
}

// enter locks the goroutine to its thread and makes the context current there.
// The caller defers runtime.UnlockOSThread when enter succeeds.
func (d *Device) enter() error {
	if d.closed.Load() {
		return errClosed
	}
	runtime.LockOSThread()
	if err := d.drv.check("cuCtxSetCurrent", call(d.drv.ctxSetCurrent, d.ctx)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

// Name says which device this is: "NVIDIA H200 (sm_90, 132 SMs)".
func (d *Device) Name() string {
	return fmt.Sprintf("%s (sm_%d%d, %d SMs)", d.name, d.ccMajor, d.ccMinor, d.sms)
}

// ComputeCapability returns the GPU's compute capability, e.g. 9, 0.
func (d *Device) ComputeCapability() (major, minor int) { return d.ccMajor, d.ccMinor }

// SMs is the number of streaming multiprocessors.
func (d *Device) SMs() int { return d.sms }

// TotalMemory is the device memory in bytes.
func (d *Device) TotalMemory() int64 { return d.totalMem }

// DriverVersion is the driver's CUDA version as cuDriverGetVersion gives it (13000 for 13.0).
func (d *Device) DriverVersion() int { return d.driverVersion }

// Emulated reports whether this is the CPU emulator rather than a GPU.
func (d *Device) Emulated() bool { return d.emulated }

// DriverPath is the driver library that was loaded.
func (d *Device) DriverPath() string { return realPath(d.drv.lib.path) }

// Arch is the architecture kernels are compiled for: "sm_90".
func (d *Device) Arch() string { return fmt.Sprintf("sm_%d%d", d.ccMajor, d.ccMinor) }

// Function returns the kernel of that name from the kernel set (cfg.Source,
// else kernels.Source()), compiling and loading the set on the first call.
// CUfunctions are cached by name.
func (d *Device) Function(name string) (graph.DeviceFunc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f, ok := d.funcs[name]; ok {
		return f, nil
	}
	if err := d.enter(); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	if err := d.loadModuleLocked(); err != nil {
		return 0, err
	}
	cname := cString(name)
	var f uintptr
	err := d.drv.check("cuModuleGetFunction", call(d.drv.moduleGetFunction, uintptr(unsafe.Pointer(&f)), d.module, uintptr(unsafe.Pointer(&cname[0]))))
	runtime.KeepAlive(cname)
	if err != nil {
		if codeOf(err) == errNotFound {
			return 0, fmt.Errorf("cuda: kernel %q is not in the kernel set (extern \"C\" __global__ void %s in kernels/*.cu?): %w", name, name, err)
		}
		return 0, fmt.Errorf("cuda: looking up kernel %q: %w", name, err)
	}
	d.funcs[name] = graph.DeviceFunc(f)
	return graph.DeviceFunc(f), nil
}

// loadModuleLocked compiles the kernel set for this GPU (through the disk
// cache) and loads it, once; a failure is kept and returned again.
func (d *Device) loadModuleLocked() error {
	if d.module != 0 || d.moduleErr != nil {
		return d.moduleErr
	}
	d.moduleErr = func() error {
		nv, err := d.nvrtcLocked()
		if err != nil {
			return err
		}
		src := d.cfg.Source
		if src == "" {
			src = kernels.Source()
		}
		img, cached, err := compileCached(nv, src, d.Arch(), d.cfg.CacheDir, false)
		if err != nil {
			return fmt.Errorf("cuda: compiling the kernel set for %s: %w", d.Name(), err)
		}
		mod, err := d.loadData(img)
		if err != nil && cached {
			// A cached image the driver refuses (an emulator image whose
			// object file is gone): compile afresh and replace the entry.
			if img, _, err = compileCached(nv, src, d.Arch(), d.cfg.CacheDir, true); err != nil {
				return fmt.Errorf("cuda: compiling the kernel set for %s: %w", d.Name(), err)
			}
			mod, err = d.loadData(img)
		}
		if err != nil {
			return fmt.Errorf("cuda: loading the kernel set compiled for %s by NVRTC %s: %w", d.Arch(), nv.Path(), err)
		}
		d.module = mod
		return nil
	}()
	return d.moduleErr
}

func (d *Device) loadData(img []byte) (uintptr, error) {
	var mod uintptr
	err := d.drv.check("cuModuleLoadData", call(d.drv.moduleLoadData, uintptr(unsafe.Pointer(&mod)), uintptr(unsafe.Pointer(&img[0]))))
	runtime.KeepAlive(img)
	return mod, err
}

// NVRTC returns the run-time compiler this device uses, loading it on first use.
func (d *Device) NVRTC() (*NVRTC, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nvrtcLocked()
}

func (d *Device) nvrtcLocked() (*NVRTC, error) {
	if d.nvrtc == nil {
		nv, err := LoadNVRTC(Candidates(LibNVRTC, d.cfg)...)
		if err != nil {
			return nil, fmt.Errorf("cuda: the kernels need NVRTC (install the CUDA toolkit's libnvrtc or pip's nvidia-cuda-nvrtc, or set Config.LibNVRTC): %w", err)
		}
		d.nvrtc = nv
	}
	return d.nvrtc, nil
}

var errClosed = errors.New("cuda: device is closed")

// Close waits for queued work and releases everything: memory (in use and
// cached), the kernels, cuBLAS, the stream and the primary context. Pointers
// and functions from the device are invalid afterwards.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d.closed.Store(true)
	var errs []error
	errs = append(errs, d.drv.check("cuStreamSynchronize", call(d.drv.streamSynchronize, d.stream)))
	if d.blas != nil {
		errs = append(errs, d.blas.close())
	}
	errs = append(errs, d.alloc.releaseAll(d.drv))
	if d.module != 0 {
		errs = append(errs, d.drv.check("cuModuleUnload", call(d.drv.moduleUnload, d.module)))
	}
	errs = append(errs, d.drv.check("cuStreamDestroy_v2", call(d.drv.streamDestroy, d.stream)))
	errs = append(errs, d.drv.check("cuDevicePrimaryCtxRelease_v2", call(d.drv.primaryCtxRelease, uintptr(d.dev))))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda: closing %s: %w", d.Name(), err)
	}
	return nil
}
