// Elementwise kernels of graph's ops_elementwise.go, broadcast.go (BroadcastLike),
// ops_core.go (AddN) and ops_dropout.go. Every kernel reads element i and writes
// element i in the same thread, so the output may alias an input (in place).
//
// Broadcasting: the host merges the output's dimensions (innermost first, at most
// TL_EW_MAXD) and passes, per input, the stride of each merged dimension (0 where
// the input broadcasts along it).

#define TL_EW_MAXD 6

// Binary kinds, as graph's binKind.
#define TL_EW_ADD 0
#define TL_EW_SUB 1
#define TL_EW_MUL 2
#define TL_EW_DIV 3
#define TL_EW_MAX 4

// Unary kinds, as graph's unKind.
#define TL_EW_NEG 0
#define TL_EW_RELU 1
#define TL_EW_LEAKY 2
#define TL_EW_ELU 3
#define TL_EW_SIGMOID 4
#define TL_EW_TANH 5
#define TL_EW_SOFTPLUS 6
#define TL_EW_EXP 7
#define TL_EW_LOG 8
#define TL_EW_SQRT 9
#define TL_EW_SQUARE 10
#define TL_EW_SCALE 11
#define TL_EW_ABS 12

// elementwise_max is Go's max: NaN if either is NaN.
static __device__ __forceinline__ float elementwise_max(float x, float y) {
  if (x != x || y != y) return x + y;
  return x > y ? x : y;
}

static __device__ __forceinline__ float elementwise_bin(int k, float x, float y) {
  switch (k) {
    case TL_EW_ADD: return x + y;
    case TL_EW_SUB: return x - y;
    case TL_EW_MUL: return x * y;
    case TL_EW_DIV: return x / y;
    default: return elementwise_max(x, y);
  }
}

// elementwise_expm1 is e^x - 1, accurate near 0 (Kahan's trick: the rounding of
// e^x cancels in (u-1)/log(u)).
static __device__ __forceinline__ float elementwise_expm1(float x) {
  float u = expf(x);
  if (u == 1.0f) return x;
  float um1 = u - 1.0f;
  if (um1 == -1.0f) return -1.0f;
  return um1 * x / logf(u);
}

static __device__ __forceinline__ float elementwise_sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}

static __device__ __forceinline__ float elementwise_un(int k, float p, float v) {
  switch (k) {
    case TL_EW_NEG: return -v;
    case TL_EW_RELU: return (v > 0.0f || v != v) ? v : 0.0f;
    case TL_EW_LEAKY: return v < 0.0f ? v * p : v;
    case TL_EW_ELU: return v < 0.0f ? elementwise_expm1(v) : v;
    case TL_EW_SIGMOID: return elementwise_sigmoid(v);
    case TL_EW_TANH: return tanhf(v);
    case TL_EW_SOFTPLUS: return elementwise_max(v, 0.0f) + log1pf(expf(-fabsf(v)));
    case TL_EW_EXP: return expf(v);
    case TL_EW_LOG: return logf(v);
    case TL_EW_SQRT: return sqrtf(v);
    case TL_EW_SQUARE: return v * v;
    case TL_EW_SCALE: return v * p;
    default: return fabsf(v);
  }
}

// elementwise_ungrad: dx from dy and y (x for Abs), as graph's unGradLoop.
// Kinds whose gradient is built from other ops (Neg, Scale, Square, Log,
// Softplus) have no Grad op and never reach it.
static __device__ __forceinline__ float elementwise_ungrad(int k, float p, float dy, float v) {
  switch (k) {
    case TL_EW_RELU: return v > 0.0f ? dy : 0.0f;
    case TL_EW_LEAKY: return v > 0.0f ? dy : dy * p;
    case TL_EW_ELU: return v > 0.0f ? dy : dy * (v + 1.0f);
    case TL_EW_SIGMOID: return dy * v * (1.0f - v);
    case TL_EW_TANH: return dy * (1.0f - v * v);
    case TL_EW_EXP: return dy * v;
    case TL_EW_SQRT: return dy / (2.0f * v);
    case TL_EW_ABS: return v > 0.0f ? dy : (v < 0.0f ? -dy : 0.0f);
    default: return 0.0f;
  }
}

// elementwise_offsets: the offsets into two inputs of output element i. Dimension
// 0 is the innermost; d[k] == 1 and strides 0 beyond nd.
static __device__ __forceinline__ void elementwise_offsets(unsigned i, int nd, const unsigned* d,
                                                          const unsigned* sa, const unsigned* sb,
                                                          unsigned* oa, unsigned* ob) {
  unsigned a = 0, b = 0, q = i;
  for (int k = 0; k < TL_EW_MAXD; k++) {
    if (k >= nd) break;
    unsigned c = q % d[k];
    q /= d[k];
    a += c * sa[k];
    b += c * sb[k];
  }
  *oa = a;
  *ob = b;
}

#define TL_EW_DIMS_PARAMS int nd, int d0, int d1, int d2, int d3, int d4, int d5
#define TL_EW_STRIDE_PARAMS(p) int p##0, int p##1, int p##2, int p##3, int p##4, int p##5
#define TL_EW_ARRAY(name, p) \
  unsigned name[TL_EW_MAXD] = {(unsigned)p##0, (unsigned)p##1, (unsigned)p##2, (unsigned)p##3, (unsigned)p##4, (unsigned)p##5}

// tl_ew_binary: out = a ∘ b, all of n elements (no broadcasting).
extern "C" __global__ void tl_ew_binary(int kind, const float* a, const float* b, float* out, int n) {
  switch (kind) {
    case TL_EW_ADD: TL_FOR(i, n) out[i] = a[i] + b[i]; break;
    case TL_EW_SUB: TL_FOR(i, n) out[i] = a[i] - b[i]; break;
    case TL_EW_MUL: TL_FOR(i, n) out[i] = a[i] * b[i]; break;
    case TL_EW_DIV: TL_FOR(i, n) out[i] = a[i] / b[i]; break;
    default: TL_FOR(i, n) out[i] = elementwise_max(a[i], b[i]); break;
  }
}

// tl_ew_binary_rows: out = a ∘ b with one operand of w elements repeated along
// the other's rows (bias-like): b when rowsA is 0, else a; out has n elements.
extern "C" __global__ void tl_ew_binary_rows(int kind, const float* a, const float* b, float* out, int n,
                                             int w, int rowsA) {
  if (rowsA) {
    TL_FOR(i, n) out[i] = elementwise_bin(kind, a[(unsigned)i % (unsigned)w], b[i]);
  } else {
    TL_FOR(i, n) out[i] = elementwise_bin(kind, a[i], b[(unsigned)i % (unsigned)w]);
  }
}

// tl_ew_binary_bcast: out = a ∘ b with general broadcasting.
extern "C" __global__ void tl_ew_binary_bcast(int kind, const float* a, const float* b, float* out, int n,
                                              TL_EW_DIMS_PARAMS, TL_EW_STRIDE_PARAMS(sa),
                                              TL_EW_STRIDE_PARAMS(sb)) {
  TL_EW_ARRAY(d, d);
  TL_EW_ARRAY(as, sa);
  TL_EW_ARRAY(bs, sb);
  TL_FOR(i, n) {
    unsigned ia, ib;
    elementwise_offsets((unsigned)i, nd, d, as, bs, &ia, &ib);
    out[i] = elementwise_bin(kind, a[ia], b[ib]);
  }
}

// tl_ew_max_grad: out = dy where a >= b (both broadcast to dy's shape), else 0.
extern "C" __global__ void tl_ew_max_grad(const float* dy, const float* a, const float* b, float* out, int n,
                                          TL_EW_DIMS_PARAMS, TL_EW_STRIDE_PARAMS(sa),
                                          TL_EW_STRIDE_PARAMS(sb)) {
  TL_EW_ARRAY(d, d);
  TL_EW_ARRAY(as, sa);
  TL_EW_ARRAY(bs, sb);
  TL_FOR(i, n) {
    unsigned ia, ib;
    elementwise_offsets((unsigned)i, nd, d, as, bs, &ia, &ib);
    out[i] = a[ia] >= b[ib] ? dy[i] : 0.0f;
  }
}

// tl_ew_strided: out[i] = x at element i's strided offset (a broadcast or a
// permutation of axes).
// Copies bits, so it serves int32 tensors too.
extern "C" __global__ void tl_ew_strided(const unsigned* x, unsigned* out, int n, TL_EW_DIMS_PARAMS,
                                           TL_EW_STRIDE_PARAMS(sx)) {
  TL_EW_ARRAY(d, d);
  TL_EW_ARRAY(xs, sx);
  TL_FOR(i, n) {
    unsigned ix, unused;
    elementwise_offsets((unsigned)i, nd, d, xs, xs, &ix, &unused);
    out[i] = x[ix];
  }
}

// tl_ew_unary: out = f(x).
extern "C" __global__ void tl_ew_unary(int kind, float p, const float* x, float* out, int n) {
  switch (kind) {
    case TL_EW_RELU: TL_FOR(i, n) { float v = x[i]; out[i] = (v > 0.0f || v != v) ? v : 0.0f; } break;
    case TL_EW_SCALE: TL_FOR(i, n) out[i] = x[i] * p; break;
    case TL_EW_NEG: TL_FOR(i, n) out[i] = -x[i]; break;
    default: TL_FOR(i, n) out[i] = elementwise_un(kind, p, x[i]); break;
  }
}

// tl_ew_unary_grad: out = dx from dy and y (x for Abs).
extern "C" __global__ void tl_ew_unary_grad(int kind, float p, const float* dy, const float* y, float* out,
                                            int n) {
  TL_FOR(i, n) out[i] = elementwise_ungrad(kind, p, dy[i], y[i]);
}

// tl_ew_addn: out = Σ of the first cnt of x0..x7 (cnt in [1, 8]).
extern "C" __global__ void tl_ew_addn(float* out, int n, int cnt, const float* x0, const float* x1,
                                      const float* x2, const float* x3, const float* x4, const float* x5,
                                      const float* x6, const float* x7) {
  TL_FOR(i, n) {
    float s = x0[i];
    if (cnt > 1) s += x1[i];
    if (cnt > 2) s += x2[i];
    if (cnt > 3) s += x3[i];
    if (cnt > 4) s += x4[i];
    if (cnt > 5) s += x5[i];
    if (cnt > 6) s += x6[i];
    if (cnt > 7) s += x7[i];
    out[i] = s;
  }
}

// tl_ew_scale_by: out = x·s[0].
extern "C" __global__ void tl_ew_scale_by(const float* x, const float* s, float* out, int n) {
  float f = *s;
  TL_FOR(i, n) out[i] = x[i] * f;
}

// tl_ew_dropout: out[i] = scale where 24 bits of a draw are below thresh (=
// keep·2²⁴), else 0. One 64-bit hash per pair of elements (as the CPU kernel):
// the low and high halves decide elements 2p and 2p+1; the step's base is
// drawn from (seed, counter) once per thread.
extern "C" __global__ void tl_ew_dropout(float* out, int n, unsigned long long seed,
                                         const unsigned long long* counter, unsigned thresh, float scale) {
  unsigned long long base = tl_mix64(seed ^ tl_mix64(*counter));
  TL_FOR(p, ((long long)n + 1) / 2) {
    unsigned long long h = tl_mix64(base + (unsigned long long)p * 0x9e3779b97f4a7c15ull);
    long long i = 2 * p;
    out[i] = ((unsigned)h >> 8) < thresh ? scale : 0.0f;
    if (i + 1 < n) out[i + 1] = ((unsigned)(h >> 32) >> 8) < thresh ? scale : 0.0f;
  }
}

// Beyond TL_EW_MAXD merged dimensions the host uploads each operand's offsets
// (one int per output element) instead of strides.

// tl_ew_binary_map: out[i] = a[ma[i]] ∘ b[mb[i]].
extern "C" __global__ void tl_ew_binary_map(int kind, const float* a, const float* b, float* out,
                                            const int* ma, const int* mb, int n) {
  TL_FOR(i, n) out[i] = elementwise_bin(kind, a[ma[i]], b[mb[i]]);
}

// tl_ew_max_grad_map: out[i] = dy[i] where a[ma[i]] >= b[mb[i]], else 0.
extern "C" __global__ void tl_ew_max_grad_map(const float* dy, const float* a, const float* b, float* out,
                                              const int* ma, const int* mb, int n) {
  TL_FOR(i, n) out[i] = a[ma[i]] >= b[mb[i]] ? dy[i] : 0.0f;
}

// tl_ew_gather_map: out[i] = x[m[i]] (32-bit words).
extern "C" __global__ void tl_ew_gather_map(const unsigned* x, unsigned* out, const int* m, int n) {
  TL_FOR(i, n) out[i] = x[m[i]];
}
