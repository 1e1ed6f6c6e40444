// Reductions to a scalar and gradient clipping: graph's ops_clip.go (GlobalNorm,
// L2Loss, Dot, GlobalNormGradFactor, ScaleBy's scalar, ClipByNorm, ClipFactor).
// Sums go in two passes: blocks write partial sums (tl_rc_partial), one block adds
// them (tl_rc_finish), so the result does not depend on timing.

#define TL_RC_SUM 0
#define TL_RC_SUMSQ 1
#define TL_RC_DOT 2

#define TL_RC_PLAIN 0
#define TL_RC_SQRT 1
#define TL_RC_HALF 2

// tl_rc_partial: partial[pofs + block] = the block's share of Σa, Σa² or Σa·b
// over n elements (grid-stride). 32 floats of dynamic shared memory.
extern "C" __global__ void tl_rc_partial(int kind, const float* a, const float* b, int n, float* partial,
                                         int pofs) {
  TL_DYN_SHARED(float, sh);
  float s = 0.0f;
  switch (kind) {
    case TL_RC_SUM: TL_FOR(i, n) s += a[i]; break;
    case TL_RC_SUMSQ: TL_FOR(i, n) { float v = a[i]; s += v * v; } break;
    default: TL_FOR(i, n) s += a[i] * b[i]; break;
  }
  s = tl_block_sum(s, sh);
  if (threadIdx.x == 0) partial[pofs + blockIdx.x] = s;
}

// tl_rc_finish: out[0] = f(Σ partial[0..np)), f the identity, sqrt or half. One
// block; 32 floats of dynamic shared memory.
extern "C" __global__ void tl_rc_finish(const float* partial, int np, float* out, int mode) {
  TL_DYN_SHARED(float, sh);
  float s = 0.0f;
  for (int i = threadIdx.x; i < np; i += blockDim.x) s += partial[i];
  s = tl_block_sum(s, sh);
  if (threadIdx.x == 0) {
    if (mode == TL_RC_SQRT) s = sqrtf(s);
    else if (mode == TL_RC_HALF) s = s * 0.5f;
    out[0] = s;
  }
}

// reduce_clip_max is Go's max: NaN if either is NaN.
static __device__ __forceinline__ float reduce_clip_max(float x, float y) {
  if (x != x || y != y) return x + y;
  return x > y ? x : y;
}

// tl_rc_norm_grad_factor: out = dy/norm, 0 when the norm is 0.
extern "C" __global__ void tl_rc_norm_grad_factor(const float* dy, const float* norm, float* out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    float v = norm[0];
    out[0] = v == 0.0f ? 0.0f : dy[0] / v;
  }
}

// tl_rc_clip_factor: out = clip/max(norm, clip), or with deriv its derivative in
// norm (-clip/norm² above the clip, else 0).
extern "C" __global__ void tl_rc_clip_factor(const float* norm, float* out, float clip, int deriv) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    float v = norm[0];
    if (!deriv) out[0] = clip / reduce_clip_max(v, clip);
    else if (v > clip) out[0] = -clip / (v * v);
    else out[0] = 0.0f;
  }
}

// tl_rc_clip_scale: out = x·clip/max(norm, clip).
extern "C" __global__ void tl_rc_clip_scale(const float* x, const float* norm, float* out, int n, float clip) {
  float f = clip / reduce_clip_max(norm[0], clip);
  TL_FOR(i, n) out[i] = x[i] * f;
}

// tl_rc_sumsq_multi: the partial sums of squares of several tensors in one
// launch. table holds per tensor its address, its size and its first block
// (ascending, block 0 first); partial[b] = block b's share of its tensor's Σx².
// 32 floats of dynamic shared memory.
extern "C" __global__ void tl_rc_sumsq_multi(const unsigned long long* table, int ntensors, int nblocks,
                                             float* partial) {
  TL_DYN_SHARED(float, sh);
  for (int b = blockIdx.x; b < nblocks; b += gridDim.x) {
    // The tensor holding block b: the last whose first block is ≤ b.
    int lo = 0, hi = ntensors - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) / 2;
      if ((long long)table[3 * mid + 2] <= b) lo = mid;
      else hi = mid - 1;
    }
    const float* x = (const float*)table[3 * lo];
    long long n = (long long)table[3 * lo + 1];
    int first = (int)table[3 * lo + 2];
    int end = lo + 1 < ntensors ? (int)table[3 * (lo + 1) + 2] : nblocks;
    long long stride = (long long)(end - first) * blockDim.x;
    float s = 0.0f;
    for (long long i = (long long)(b - first) * blockDim.x + threadIdx.x; i < n; i += stride) {
      float v = x[i];
      s += v * v;
    }
    s = tl_block_sum(s, sh);
    if (threadIdx.x == 0) partial[b] = s;
  }
}
