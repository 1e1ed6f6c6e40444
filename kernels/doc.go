// Package kernels holds the CUDA backend's kernels as CUDA C source, embedded in
// the binary: Source returns the whole set as one translation unit (common.cuh,
// then every .cu file in name order, with #line directives so that a compiler
// error names the file and line). Package cuda compiles it with NVRTC for the GPU
// present on first use and caches the result on disk under Hash.
//
// One file per group of ops, each kernel named tl_<file>_<what>, for example
// tl_ew_binary (elementwise.cu), tl_conv_im2col (conv.cu), tl_lstm_fwd
// (lstm.cu). The Go side that launches them is the ops' CompileDevice methods in
// package graph (graph/device_*.go), optim (optim/device.go) and layers
// (layers/device_ops.go).
//
// Conventions every file follows, because the set is one unit and because the
// CPU emulator of cuda/emu runs the same source:
//
//   - extern "C" __global__ void tl_<name>(...), with parameters that are
//     pointers, int, unsigned, long long, unsigned long long or float;
//   - 1-D kernels are grid-stride loops (TL_FOR), launched by DeviceCtx.Launch1D;
//   - block sizes are multiples of 32; __syncthreads and the warp shuffles are
//     reached by every thread of a block;
//   - dynamic shared memory only through TL_DYN_SHARED;
//   - no C++ standard headers (NVRTC has none), no printf, no cooperative groups;
//   - random numbers from tl_uniform(seed, counter, index): the plan's step
//     counter makes every step, and every replay of a captured graph, draw anew;
//   - bad input (an index out of range) is reported through the node's error
//     slot, never by trapping.
//
// The real NVRTC (Debian's 11.8 in CI) compiles the set for sm_90 in this
// package's tests; cuda/parity runs every kernel against the CPU ops.
package kernels
