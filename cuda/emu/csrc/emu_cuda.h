// emu_cuda.h: the CUDA built-ins for kernels compiled by the tl CPU emulator.
//
// The emulator's NVRTC force-includes this header (g++ -include, TL_EMULATOR
// defined) before the kernel source, and appends one launcher per
// extern "C" __global__ function. The runtime (emu_runtime.cpp) includes it
// with TL_EMU_RUNTIME defined to share the ABI structs only.
//
// ABI between a kernel module and the runtime: the module exports
//   tl_emu_module_init(const tl_emu_api*)  -> int (TL_EMU_ABI)
//   tl_emu_tls_slot()                      -> tl_emu_thread** (this OS thread's)
//   tl_emu_launcher_NAME(void** params)    runs NAME as the current thread
//   tl_emu_sizes_NAME(unsigned* s, int n)  -> parameter count, sizes in s
#ifndef TL_EMU_CUDA_H
#define TL_EMU_CUDA_H

#define TL_EMU_ABI 1

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
#ifdef __cplusplus
  dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
#endif
};

// tl_emu_thread is what a kernel sees of the emulated thread it runs as.
struct tl_emu_thread {
  uint3 threadIdx;
  uint3 blockIdx;
  dim3 blockDim;
  dim3 gridDim;
  void* dyn_shared;  // the block's dynamic shared memory
  void* rt;          // the runtime's thread record
};

// tl_emu_api is the runtime's table of block-level operations.
struct tl_emu_api {
  int abi;
  void (*syncthreads)(tl_emu_thread* t);
  // shfl exchanges v within the warp. mode: 0 idx, 1 up, 2 down, 3 xor.
  unsigned long long (*shfl)(tl_emu_thread* t, unsigned long long v, int arg, int mode, int width);
  void (*syncwarp)(tl_emu_thread* t);
  unsigned (*ballot)(tl_emu_thread* t, int pred);
  // fail stops the launch with msg; it does not return.
  void (*fail)(tl_emu_thread* t, const char* msg);
};

#ifndef TL_EMU_RUNTIME

#include <math.h>
#include <stddef.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __constant__
// Blocks run one at a time per OS thread, all of a block's threads (fibers) on
// that OS thread, so a thread_local is exactly per block.
#define __shared__ static thread_local

// Vector types, aligned as CUDA aligns them.
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return {x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
static inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }

static const tl_emu_api* tl_emu_rt;
static thread_local tl_emu_thread* tl_emu_cur;

extern "C" __attribute__((visibility("default"))) int tl_emu_module_init(const tl_emu_api* api) {
  tl_emu_rt = api;
  return TL_EMU_ABI;
}
extern "C" __attribute__((visibility("default"))) tl_emu_thread** tl_emu_tls_slot(void) {
  return &tl_emu_cur;
}

#define threadIdx (tl_emu_cur->threadIdx)
#define blockIdx (tl_emu_cur->blockIdx)
#define blockDim (tl_emu_cur->blockDim)
#define gridDim (tl_emu_cur->gridDim)
#define warpSize 32

static inline void* tl_emu_dynamic_shared(void) { return tl_emu_cur->dyn_shared; }

static inline void __syncthreads(void) { tl_emu_rt->syncthreads(tl_emu_cur); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)mask;
  tl_emu_rt->syncwarp(tl_emu_cur);
}
static inline void __trap(void) { tl_emu_rt->fail(tl_emu_cur, "__trap() called"); }
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) {}

// ---- warp shuffles (the mask is not checked: kernels use the full mask) ----
template <typename T>
static inline unsigned long long tl_emu_bits(T v) {
  unsigned long long b = 0;
  __builtin_memcpy(&b, &v, sizeof(T));
  return b;
}
template <typename T>
static inline T tl_emu_unbits(unsigned long long b) {
  T v;
  __builtin_memcpy(&v, &b, sizeof(T));
  return v;
}
template <typename T>
static inline T tl_emu_shfl(T v, int arg, int mode, int width) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  return tl_emu_unbits<T>(tl_emu_rt->shfl(tl_emu_cur, tl_emu_bits(v), arg, mode, width));
}
template <typename T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  (void)mask;
  return tl_emu_shfl(v, src, 0, width);
}
template <typename T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  return tl_emu_shfl(v, (int)delta, 1, width);
}
template <typename T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  return tl_emu_shfl(v, (int)delta, 2, width);
}
template <typename T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lanemask, int width = 32) {
  (void)mask;
  return tl_emu_shfl(v, lanemask, 3, width);
}
static inline unsigned __ballot_sync(unsigned mask, int pred) {
  (void)mask;
  return tl_emu_rt->ballot(tl_emu_cur, pred);
}
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) {
  (void)mask;
  unsigned active = tl_emu_rt->ballot(tl_emu_cur, 1);
  return tl_emu_rt->ballot(tl_emu_cur, pred) == active;
}
static inline unsigned __activemask(void) { return tl_emu_rt->ballot(tl_emu_cur, 1); }

// ---- atomics: blocks may run on several OS threads at once ----
// tl_emu_atomic_update applies op with a compare-and-swap loop (for types and
// operations GCC has no fetch builtin for); it returns the old value.
template <typename T, typename F>
static inline T tl_emu_atomic_update(T* p, F op) {
  T old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  for (;;) {
    T nv = op(old);
    if (__atomic_compare_exchange(p, &old, &nv, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return old;
  }
}
static inline float atomicAdd(float* p, float v) {
  return tl_emu_atomic_update(p, [v](float o) { return o + v; });
}
static inline double atomicAdd(double* p, double v) {
  return tl_emu_atomic_update(p, [v](double o) { return o + v; });
}
static inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline int atomicSub(int* p, int v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned atomicSub(unsigned* p, unsigned v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicMax(int* p, int v) {
  return tl_emu_atomic_update(p, [v](int o) { return o > v ? o : v; });
}
static inline unsigned atomicMax(unsigned* p, unsigned v) {
  return tl_emu_atomic_update(p, [v](unsigned o) { return o > v ? o : v; });
}
static inline int atomicMin(int* p, int v) {
  return tl_emu_atomic_update(p, [v](int o) { return o < v ? o : v; });
}
static inline unsigned atomicMin(unsigned* p, unsigned v) {
  return tl_emu_atomic_update(p, [v](unsigned o) { return o < v ? o : v; });
}
static inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline unsigned long long atomicExch(unsigned long long* p, unsigned long long v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}
static inline float atomicExch(float* p, float v) {
  float old;
  __atomic_exchange(p, &v, &old, __ATOMIC_SEQ_CST);
  return old;
}
static inline int atomicCAS(int* p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) {
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline int atomicAnd(int* p, int v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
static inline int atomicOr(int* p, int v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }

// ---- math (float versions as CUDA has them; math.h gives the rest) ----
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
// glibc declares its own __expf..., so the intrinsics are macros to ours.
static inline float tl_emu_expf(float x) { return expf(x); }
static inline float tl_emu_logf(float x) { return logf(x); }
static inline float tl_emu_sinf(float x) { return sinf(x); }
static inline float tl_emu_cosf(float x) { return cosf(x); }
static inline float tl_emu_powf(float x, float y) { return powf(x, y); }
#define __expf tl_emu_expf
#define __logf tl_emu_logf
#define __sinf tl_emu_sinf
#define __cosf tl_emu_cosf
#define __powf tl_emu_powf
static inline float __fdividef(float x, float y) { return x / y; }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline int __float_as_int(float x) { return tl_emu_unbits<int>(tl_emu_bits(x)); }
static inline float __int_as_float(int x) { return tl_emu_unbits<float>(tl_emu_bits(x)); }
static inline unsigned __float_as_uint(float x) { return tl_emu_unbits<unsigned>(tl_emu_bits(x)); }
static inline float __uint_as_float(unsigned x) { return tl_emu_unbits<float>(tl_emu_bits(x)); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
// min/max overloads as CUDA's math_functions.h declares them.
#define TL_EMU_MINMAX(R, A, B)                                        \
  static inline R min(A a, B b) { return (R)a < (R)b ? (R)a : (R)b; } \
  static inline R max(A a, B b) { return (R)a > (R)b ? (R)a : (R)b; }
TL_EMU_MINMAX(int, int, int)
TL_EMU_MINMAX(unsigned, unsigned, unsigned)
TL_EMU_MINMAX(unsigned, int, unsigned)
TL_EMU_MINMAX(unsigned, unsigned, int)
TL_EMU_MINMAX(long, long, long)
TL_EMU_MINMAX(unsigned long, unsigned long, unsigned long)
TL_EMU_MINMAX(unsigned long, long, unsigned long)
TL_EMU_MINMAX(unsigned long, unsigned long, long)
TL_EMU_MINMAX(long long, long long, long long)
TL_EMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
TL_EMU_MINMAX(unsigned long long, long long, unsigned long long)
TL_EMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef TL_EMU_MINMAX
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
static inline double min(float a, double b) { return fmin(a, b); }
static inline double max(float a, double b) { return fmax(a, b); }
static inline double min(double a, float b) { return fmin(a, b); }
static inline double max(double a, float b) { return fmax(a, b); }
template <typename T>
static inline T __ldg(const T* p) {
  return *p;
}

// ---- launchers: unpack cuLaunchKernel's void** into typed arguments ----
template <unsigned... I>
struct tl_emu_idx {};
template <unsigned N, unsigned... I>
struct tl_emu_mkidx : tl_emu_mkidx<N - 1, N - 1, I...> {};
template <unsigned... I>
struct tl_emu_mkidx<0, I...> {
  typedef tl_emu_idx<I...> type;
};
template <typename... A, unsigned... I>
static inline void tl_emu_call(void (*f)(A...), void** p, tl_emu_idx<I...>) {
  f(*(A*)p[I]...);
}
template <typename... A>
static inline void tl_emu_invoke(void (*f)(A...), void** p) {
  tl_emu_call(f, p, typename tl_emu_mkidx<sizeof...(A)>::type());
}
template <typename... A>
static inline int tl_emu_param_sizes(void (*)(A...), unsigned* s, int max) {
  const unsigned sz[] = {(unsigned)sizeof(A)..., 0u};
  int n = (int)sizeof...(A);
  for (int i = 0; i < n && i < max; i++) s[i] = sz[i];
  return n;
}

#endif  // TL_EMU_RUNTIME
#endif  // TL_EMU_CUDA_H
