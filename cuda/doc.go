// Package cuda is the CUDA backend's device: it loads the NVIDIA driver API,
// cuBLAS and NVRTC at run time and implements graph.Device on one GPU.
//
// # Loading
//
// Nothing of CUDA is needed to build: the libraries are opened with dlopen
// through github.com/ebitengine/purego, which needs no cgo (binaries built with
// CGO_ENABLED=0 run on GPU machines that have no Go toolchain), and every call
// goes through purego.SyscallN. cgo bindings such as gorgonia.org/cu need
// cuda.h at build time and call the cuCtxCreate that CUDA 13 changed.
//
// Candidates lists, in order, what is tried for each library: the path in
// Config (LibCUDA, LibCUBLAS, LibNVRTC); else the CPU emulator (Config.Emulator
// or $TL_CUDA_EMULATOR), one file exporting all three; else the sonames through
// the dynamic loader (libcuda.so.1; libcublas.so.13/.12/.11; libnvrtc.so.13/
// .12/.11.2), then the files in SearchDirs: $CUDA_PATH and $CUDA_HOME, each
// folder of $LD_LIBRARY_PATH, /usr/local/cuda/lib64, the nvidia/*/lib folders
// of pip's CUDA wheels, conda, /usr/lib/x86_64-linux-gnu. When nothing loads,
// the error lists every candidate with the loader's reason. Without a driver
// or a GPU, Open's error wraps ErrNoDevice. The only C symbols used are those
// cuda/emu exports (the driver API of CUDA 12/13, cuBLAS's v2 API, NVRTC).
//
// # Kernels
//
// The engine's kernels are CUDA C (package kernels, one translation unit). The
// first Device.Function call compiles them with NVRTC for the GPU's own
// architecture (sm_XY, a CUBIN) and loads the module; CompileCached keeps the
// image on disk (os.UserCacheDir()/tl/kernels) under a sha256 of the source,
// architecture, NVRTC version and options, written atomically and checksummed,
// so later processes skip the compile. Compile errors carry NVRTC's log, whose
// lines name the .cu file and line.
//
// # Contexts and threads
//
// A CUDA context is current per OS thread and goroutines move between threads.
// Open retains the device's primary context (the one the runtime API shares),
// and every method that calls the driver locks its goroutine to the thread and
// makes the context current first; cuCtxSetCurrent costs little. Work goes on
// one non-blocking stream, in call order.
//
// # Memory
//
// Alloc and Free go through a caching allocator: sizes are rounded up (to 512
// bytes below 1 MiB, to 2 MiB above), freed blocks wait in per-size free lists,
// and a plan that allocates the same sizes every step makes no device call
// after the first. Freeing is safe while queued work still uses the block,
// because the work that reuses it is queued after it on the same stream. Stats
// reports the counters; Trim gives the cache back to the device, and an
// allocation that runs out of memory trims and retries once. Freeing a pointer
// Alloc did not return panics: it is a bug in the caller. On the emulator sizes
// are not rounded, so that its guard bytes after each block catch a kernel that
// writes past the end of a tensor.
//
// # Matrix products
//
// Gemm takes row-major graph.GemmArgs to cuBLAS, which is column-major, by
// computing Cᵀ = op(B)ᵀ·op(A)ᵀ (operands and M/N swapped). The handle is made
// on first use, bound to the stream, with a fixed workspace from the allocator
// so that a captured product never allocates. Config.TF32 lets cuBLAS use TF32
// tensor cores: TF32 keeps a 10-bit mantissa, so expect a few 1e-4 relative
// error on products (TestGemmTF32Accuracy; off by default: float32 results then
// match the CPU to rounding).
//
// # Capture
//
// Capture records the work a function queues as a CUDA graph (relaxed capture
// mode) and returns it instantiated: Launch replays a whole training step with
// one call. Only queued work can be recorded: host copies, Synchronize and
// Trim fail inside Capture. Kernel parameters are copied at capture time, so
// values that change per step must live in device memory (the plan's step
// counter does). Timer measures device time with CUDA events.
package cuda
