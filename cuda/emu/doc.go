// Package emu is a CPU emulator of the CUDA driver API, cuBLAS and NVRTC
// subset that package cuda uses, so that the real Go CUDA code path (purego)
// and the real kernels (package kernels) run in CI on machines without a GPU.
// It is a test instrument: it aims at correct results and clear failures, and
// is only as fast as tests need.
//
// Build compiles the C++ sources embedded here (csrc/) with g++ into one
// shared library, libtlcudaemu-<hash>.so, that exports the driver, cuBLAS and
// NVRTC symbols at once; package cuda loads it in place of libcuda, libcublas
// and libnvrtc when Config.Emulator or $TL_CUDA_EMULATOR names it. Libraries
// are cached in the cache directory under a hash of the sources and the
// compiler's version; compiled kernel modules under its kernels/ folder.
// Linux only: x86-64 switches fibers with a few instructions of assembly,
// other architectures with ucontext (slower, less tested).
// $TL_EMU_CXX names another compiler; $TL_EMU_THREADS (1-64) the number of OS
// threads that run blocks; $TL_EMU_KERNEL_CACHE another kernel cache folder;
// $TL_EMU_SCHEDULE and $TL_EMU_FAULTS are described below.
//
// # What is emulated faithfully
//
//   - One device, "tl CPU emulator", compute capability 9.0, 132 SMs, 48 KiB of
//     shared memory per block (up to 227 KiB with cuFuncSetAttribute), warps of
//     32, at most 1024 threads per block; memory is host memory.
//   - Contexts are current per OS thread, as in CUDA: calls on a thread without
//     cuCtxSetCurrent fail with CUDA_ERROR_INVALID_CONTEXT (201). cuInit first.
//   - cuMemAlloc fills memory with 0xFF bytes (NaN as float32) so an output no
//     kernel wrote shows, and puts 256-byte canary zones right before and right
//     after each allocation (not after a rounded size: a write one element past
//     the end is caught). After every launch, gemm and on free the canaries of
//     all live allocations are checked; damage fails that call with
//     CUDA_ERROR_ILLEGAL_ADDRESS (700) naming the kernel and allocation, and
//     the canary is repaired (the error is not sticky, unlike on a GPU).
//     Copies, memsets and gemm operands outside a live allocation fail
//     (CUDA_ERROR_INVALID_VALUE, or CUBLAS_STATUS_EXECUTION_FAILED for gemm).
//   - Work on a stream runs at once, in order (a valid schedule of an in-order
//     stream). Between cuStreamBeginCapture_v2 and cuStreamEndCapture, launches,
//     async copies, memsets, event records and cuBLAS calls on the capturing
//     stream are recorded, not run, with the kernel parameters' values copied
//     (sized by the kernel's parameter types) and gemm's alpha and beta read at
//     the call; cuGraphLaunch replays them. A synchronous call during a capture
//     (cuStreamSynchronize, cuCtxSynchronize, sync copies, cuMemAlloc,
//     cuMemFree, work on the NULL stream) returns
//     CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (900) and invalidates the capture;
//     later captured calls and cuStreamEndCapture return 901. This is stricter
//     than the driver in relaxed mode, which allows cuMemAlloc.
//   - NVRTC compiles with g++ (-O1, TL_EMULATOR defined, csrc/emu_cuda.h
//     force-included) into a cached .so; the program log is g++'s output, with
//     the program's name and lines (#line directives are honoured); a failure
//     is NVRTC_ERROR_COMPILATION. As NVRTC would, it refuses #include <...>
//     of system headers, throw, typeid and variable-length arrays; otherwise
//     it accepts what g++ accepts (host-only functions of libm included).
//     Options -D, -U, -I pass through, the others
//     (architecture, -std) are ignored. The "CUBIN" and "PTX" are the same
//     image: "TLEMU-MODULE-2\n" and the compile's input (source with
//     launchers, options, headers), from which cuModuleLoadData finds the .so
//     in the kernel cache or builds it again. Each extern "C" __global__
//     function gets a launcher; cuModuleGetFunction of another name fails with
//     CUDA_ERROR_NOT_FOUND (500).
//   - Each block runs its threads as fibers on one OS thread; __syncthreads is
//     a block barrier; warp shuffles (idx, up, down, xor, with width; CUDA's
//     out-of-range rule: the caller's own value), __syncwarp and
//     __ballot/__any/__all_sync are warp barriers over an exchange buffer.
//     A block whose threads can no longer all proceed (some wait at a barrier
//     that others, exited or waiting elsewhere, never reach) fails the launch
//     with CUDA_ERROR_LAUNCH_FAILED (719) and says so, instead of hanging.
//   - Between barriers a block's threads run one after another, in index order
//     on one launch and in reverse order on the next (any order is valid), so
//     that a missing __syncthreads or __syncwarp tends to change results.
//     TL_EMU_SCHEDULE=forward or reverse pins the order.
//   - A fault in a kernel (a wild pointer, a fiber stack overflow: 128 KiB per
//     emulated thread) fails the launch with CUDA_ERROR_ILLEGAL_ADDRESS, naming
//     the kernel, block, thread, address and the nearest allocation, instead
//     of ending the process: a SIGSEGV/SIGBUS handler installed at the first
//     launch runs before Go's and passes on every fault that is not in a
//     kernel's fiber. TL_EMU_FAULTS=0 leaves the handlers alone.
//   - Blocks run in parallel on up to min(4, CPUs) OS threads, so atomics are
//     real (GCC __atomic builtins) and float atomicAdd orders vary as on a GPU.
//   - Dynamic shared memory (TL_DYN_SHARED) is poisoned with 0xFF for each
//     block. __shared__ variables are thread_local statics: per block, but not
//     poisoned (zero at first, then what the previous block on that OS thread
//     left), so reading them before writing goes unseen.
//   - Events record the host's monotonic clock; cuEventElapsedTime is in ms.
//   - cuGetErrorString appends the emulator's detail of the last failure with
//     that code ("... (tl emulator: kernel tl_x wrote past the end of ...)");
//     the extra exports tl_emu_last_error() returns the last failure's detail, and
//     tl_emu_set_memory_limit(bytes) sizes the device (cuda.Config.EmulatorMemory);
//   - cublasSgemm_v2, cublasSgemmStridedBatched and cublasSgemmBatched are
//     column-major, accumulate in double, and do not read C when beta is 0;
//     in CUBLAS_TF32_TENSOR_OP_MATH they first round A and B to TF32, as tensor
//     cores do, so that TF32's accuracy can be measured without a GPU.
//
// # What is not
//
//   - No memory model: threads of a block interleave only at barriers and
//     shuffles, so a race shows only when the two thread orders give different
//     results, and missing __threadfence never does. Warps are in lock-step
//     only at shuffles and barriers. Masks of the *_sync functions are not
//     checked; a shuffle from a lane a partial warp lacks returns the caller's
//     own value.
//   - Reads out of bounds are not detected, nor writes that skip over the
//     256-byte canaries into other memory of the process.
//   - No timing, no occupancy or register limits, no concurrency between
//     streams, no asynchronous errors: errors come back from the call itself.
//   - Float math is the host libm's (expf, erff...), not CUDA's ulp bounds; no
//     FMA contraction, no TF32 (the math mode is accepted and ignored).
//   - The kernel cache is never pruned (one .so per distinct kernel source).
package emu
