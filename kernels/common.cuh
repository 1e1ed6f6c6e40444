// Shared definitions for every kernel file. The kernel set is compiled as one
// translation unit (common.cuh, then the .cu files in name order) by NVRTC, or,
// for tests without a GPU, by the CPU emulator in cuda/emu (TL_EMULATOR defined).
//
// Conventions (see kernels/doc.go):
//   - every kernel is extern "C" __global__ void tl_<name>(...), parameters
//     pointers, int, unsigned, long long, unsigned long long or float;
//   - 1-D kernels are grid-stride loops (TL_FOR), launched by graph's Launch1D;
//   - block sizes are multiples of 32; __syncthreads and the warp shuffles are
//     reached by every thread of the block (the emulator relies on it);
//   - dynamic shared memory is declared with TL_DYN_SHARED(type, name);
//   - helpers are static __device__ functions prefixed by their file's name.

#ifndef TL_COMMON_CUH
#define TL_COMMON_CUH

#ifdef TL_EMULATOR
#define TL_DYN_SHARED(T, name) T* name = (T*)tl_emu_dynamic_shared()
#else
#define TL_DYN_SHARED(T, name) extern __shared__ T name[]
#endif

// TL_FOR(i, n): grid-stride loop over [0, n).
#define TL_FOR(i, n)                                                        \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;      \
       i < (long long)(n); i += (long long)blockDim.x * gridDim.x)

#define TL_WARP 32

// NVRTC has no <math.h> macros.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

static __device__ __forceinline__ float tl_warp_sum(float v) {
  for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

static __device__ __forceinline__ float tl_warp_max(float v) {
  for (int d = 16; d > 0; d >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, d));
  return v;
}

// tl_block_sum returns the sum of v over the block to every thread. scratch
// holds at least 32 floats of shared memory; every thread must call it.
static __device__ float tl_block_sum(float v, float* scratch) {
  int lane = threadIdx.x % TL_WARP, warp = threadIdx.x / TL_WARP;
  int nwarps = (blockDim.x + TL_WARP - 1) / TL_WARP;
  v = tl_warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.0f;
  v = tl_warp_sum(v);
  return v;
}

// tl_block_max: as tl_block_sum, for the maximum.
static __device__ float tl_block_max(float v, float* scratch) {
  int lane = threadIdx.x % TL_WARP, warp = threadIdx.x / TL_WARP;
  int nwarps = (blockDim.x + TL_WARP - 1) / TL_WARP;
  v = tl_warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  v = tl_warp_max(v);
  return v;
}

// Counter-based random numbers: a 64-bit mix of (seed, counter, index), so that
// any element of any step can be drawn independently and in parallel.
static __device__ __forceinline__ unsigned long long tl_mix64(unsigned long long z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static __device__ __forceinline__ unsigned long long tl_rand64(unsigned long long seed,
                                                               unsigned long long counter,
                                                               unsigned long long index) {
  return tl_mix64(seed ^ tl_mix64(counter * 0xd1b54a32d192ed03ull ^ tl_mix64(index)));
}

// tl_uniform returns a float in [0, 1) with 24 random bits.
static __device__ __forceinline__ float tl_uniform(unsigned long long seed,
                                                   unsigned long long counter,
                                                   unsigned long long index) {
  return (float)(tl_rand64(seed, counter, index) >> 40) * (1.0f / 16777216.0f);
}

#endif
