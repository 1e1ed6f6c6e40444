// Kernels of graph/ops_nn.go and graph/ops_loss.go: bias + activation,
// reductions, softmax, the losses, gather; and the column reductions
// (tl_nn_colpart/tl_nn_colfin) that the bias, batch-norm and layer-norm
// gradients share.
//
// Row kernels take a warp flag: non-zero, each warp of the block handles a row
// (narrow rows); zero, the whole block does. Their loops run the same number of
// times in every thread of a block, so that every thread reaches the shuffles
// and __syncthreads.

// nn_ninf is -∞ (NVRTC has no math.h for INFINITY).
static __device__ __forceinline__ float nn_ninf() { return __int_as_float(0xff800000); }

static __device__ __forceinline__ float nn_sigmoid(float v) {
  if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
  float e = expf(v);
  return e / (1.0f + e);
}

// nn_act applies activation a, numbered as graph.Activation: 0 identity,
// 1 relu, 2 sigmoid, 3 tanh.
static __device__ __forceinline__ float nn_act(float v, int a) {
  switch (a) {
    case 1: return v > 0.0f ? v : 0.0f;
    case 2: return nn_sigmoid(v);
    case 3: return tanhf(v);
  }
  return v;
}

// nn_act_grad is the activation's gradient taken from its output y.
static __device__ __forceinline__ float nn_act_grad(float dy, float y, int a) {
  switch (a) {
    case 1: return y > 0.0f ? dy : 0.0f;
    case 2: return dy * y * (1.0f - y);
    case 3: return dy * (1.0f - y * y);
  }
  return dy;
}

// nn_report records position pos (the smallest one, when several threads
// report) as code pos+1 in an error slot.
static __device__ void nn_report(int* err, long long pos) {
  int code = (int)(pos + 1);
  if (atomicCAS(err, 0, code) != 0) atomicMin(err, code);
}

// Row groups: a warp or the whole block.
struct nn_rows {
  int lane, size;       // this thread's lane in its group, the group's size
  int per, grp;         // groups per block, this thread's group
};

static __device__ __forceinline__ nn_rows nn_rows_of(int warp) {
  nn_rows g;
  if (warp) {
    g.lane = threadIdx.x % TL_WARP;
    g.size = TL_WARP;
    g.per = blockDim.x / TL_WARP;
    g.grp = threadIdx.x / TL_WARP;
  } else {
    g.lane = threadIdx.x;
    g.size = blockDim.x;
    g.per = 1;
    g.grp = 0;
  }
  return g;
}

static __device__ __forceinline__ float nn_gsum(float v, float* sh, int warp) {
  return warp ? tl_warp_sum(v) : tl_block_sum(v, sh);
}

static __device__ __forceinline__ float nn_gmax(float v, float* sh, int warp) {
  return warp ? tl_warp_max(v) : tl_block_max(v, sh);
}

// nn_row_stats gives every thread of a row group the row's maximum m and
// Σ exp(x - m), the two reductions of a stable softmax. Every thread of the
// block calls it (ok false for groups past the last row).
static __device__ void nn_row_stats(const float* xr, int w, bool ok, nn_rows g, float* sh, int warp,
                                    float* m_out, float* s_out) {
  float m = nn_ninf();
  if (ok)
    for (int j = g.lane; j < w; j += g.size) m = fmaxf(m, xr[j]);
  m = nn_gmax(m, sh, warp);
  float s = 0.0f;
  if (ok)
    for (int j = g.lane; j < w; j += g.size) s += expf(xr[j] - m);
  *m_out = m;
  *s_out = nn_gsum(s, sh, warp);
}

// tl_nn_bias_act: y = act(x + b[i mod w]) (b may be null); y may be x.
extern "C" __global__ void tl_nn_bias_act(const float* x, const float* b, float* y, long long n, int w,
                                          int act) {
  int small = n < 2147483647LL;
  TL_FOR(i, n) {
    float v = x[i];
    if (b) v += b[small ? (int)((unsigned)i % (unsigned)w) : (int)(i % w)];
    y[i] = nn_act(v, act);
  }
}

// tl_nn_act_grad: d = the activation's gradient given dy and its output y; d may be dy.
extern "C" __global__ void tl_nn_act_grad(const float* dy, const float* y, float* d, long long n, int act) {
  TL_FOR(i, n) d[i] = nn_act_grad(dy[i], y[i], act);
}

// tl_nn_reduce_rows: d[r] = sum (kind 0, times scale) or max (kind 1) of row r.
extern "C" __global__ void tl_nn_reduce_rows(const float* x, float* d, long long rows, int w, int kind,
                                             float scale, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = x + row * w;
    float a = kind ? nn_ninf() : 0.0f;
    if (ok)
      for (int j = g.lane; j < w; j += g.size) a = kind ? fmaxf(a, xr[j]) : a + xr[j];
    a = kind ? nn_gmax(a, sh, warp) : nn_gsum(a, sh, warp);
    if (ok && g.lane == 0) d[row] = kind ? a : a * scale;
  }
}

// tl_nn_reduce_all: part[block] = the block's sum (kind 0) or max (kind 1) of x.
extern "C" __global__ void tl_nn_reduce_all(const float* x, float* part, long long n, int kind) {
  __shared__ float sh[32];
  float a = kind ? nn_ninf() : 0.0f;
  TL_FOR(i, n) a = kind ? fmaxf(a, x[i]) : a + x[i];
  a = kind ? tl_block_max(a, sh) : tl_block_sum(a, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = a;
}

// nn_off3 is the offset of element i of a 3-D index space (sizes s0..s2,
// outermost first) whose axes are t0..t2 apart.
static __device__ __forceinline__ long long nn_off3(long long i, int s0, int s1, int s2, long long t0,
                                                    long long t1, long long t2) {
  long long o = (i % s2) * t2;
  i /= s2;
  o += (i % s1) * t1;
  i /= s1;
  return o + i * t0;
}

// tl_nn_reduce_gen: any reduction; a thread per output. The kept axes (ks, kt)
// index the outputs, the reduced ones (rs, rt) the elements of each.
extern "C" __global__ void tl_nn_reduce_gen(const float* x, float* d, long long nout, long long nred, int kind,
                                            float scale, int ks0, int ks1, int ks2, long long kt0,
                                            long long kt1, long long kt2, int rs0, int rs1, int rs2,
                                            long long rt0, long long rt1, long long rt2) {
  TL_FOR(o, nout) {
    const float* xo = x + nn_off3(o, ks0, ks1, ks2, kt0, kt1, kt2);
    float a = kind ? nn_ninf() : 0.0f;
    for (long long r = 0; r < nred; r++) {
      float v = xo[nn_off3(r, rs0, rs1, rs2, rt0, rt1, rt2)];
      a = kind ? fmaxf(a, v) : a + v;
    }
    d[o] = kind ? a : a * scale;
  }
}

// tl_nn_bcast_grad: the gradient of a mean (kind 0: d = dy[j]·scale) or a max
// (kind 1: d = dy[j] where x equals the maximum y[j], else 0) over d's elements,
// j the broadcast index of i (sizes s, strides t into dy, outermost first).
extern "C" __global__ void tl_nn_bcast_grad(const float* dy, const float* x, const float* y, float* d, long long n,
                                            int kind, float scale, int s0, int s1, int s2, int s3, int s4, int s5,
                                            long long t0, long long t1, long long t2, long long t3, long long t4,
                                            long long t5) {
  TL_FOR(i, n) {
    long long k = i;
    long long j = (k % s5) * t5;
    k /= s5;
    j += (k % s4) * t4;
    k /= s4;
    j += (k % s3) * t3;
    k /= s3;
    j += (k % s2) * t2;
    k /= s2;
    j += (k % s1) * t1;
    k /= s1;
    j += k * t0;
    if (kind == 0)
      d[i] = dy[j] * scale;
    else
      d[i] = x[i] == y[j] ? dy[j] : 0.0f;
  }
}

// tl_nn_colpart: partial column statistics of a rows×C matrix x. Blocks of 256
// threads: 32 columns (blockIdx.y selects the tile) by 8 row lanes, over the
// block's share of the rows (blockIdx.x of gridDim.x). part[(b·Q + q)·C + c]
// receives quantity q of mode:
//   0: Σx  1: max x  (Q = 1)
//   2: Σ(x-k), Σ(x-k)²  (Q = 2; k[c] a shift, batch norm's statistics)
//   3: Σ(x-k), Σ(x-k)², Σdy, Σdy·(x-k)  (Q = 4)
//   4: Σdy·(x-m)·inv, Σdy  (Q = 2; k holds each row's m, inv: layer norm)
extern "C" __global__ void tl_nn_colpart(const float* x, const float* dy, const float* k, float* part,
                                         long long rows, int C, int mode) {
  __shared__ float sh[4][8][33];
  int tx = threadIdx.x % TL_WARP, ty = threadIdx.x / TL_WARP;
  int c = blockIdx.y * TL_WARP + tx;
  long long P = gridDim.x;
  long long r0 = rows * blockIdx.x / P, r1 = rows * (blockIdx.x + 1) / P;
  int Q = mode <= 1 ? 1 : (mode == 3 ? 4 : 2);
  float a0 = mode == 1 ? nn_ninf() : 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  if (c < C) {
    float kc = (mode == 2 || mode == 3) ? k[c] : 0.0f;
    for (long long r = r0 + ty; r < r1; r += 8) {
      float v = x[r * C + c];
      if (mode == 0) {
        a0 += v;
      } else if (mode == 1) {
        a0 = fmaxf(a0, v);
      } else if (mode == 2) {
        float e = v - kc;
        a0 += e;
        a1 += e * e;
      } else if (mode == 3) {
        float e = v - kc, gr = dy[r * C + c];
        a0 += e;
        a1 += e * e;
        a2 += gr;
        a3 += gr * e;
      } else {
        float gr = dy[r * C + c];
        a0 += gr * (v - k[2 * r]) * k[2 * r + 1];
        a1 += gr;
      }
    }
  }
  sh[0][ty][tx] = a0;
  sh[1][ty][tx] = a1;
  sh[2][ty][tx] = a2;
  sh[3][ty][tx] = a3;
  __syncthreads();
  if (ty == 0 && c < C) {
    for (int q = 0; q < Q; q++) {
      float s = sh[q][0][tx];
      for (int t = 1; t < 8; t++) s = mode == 1 ? fmaxf(s, sh[q][t][tx]) : s + sh[q][t][tx];
      part[((long long)blockIdx.x * Q + q) * C + c] = s;
    }
  }
}

// tl_nn_colfin: out[q·C + c] = the sum (kind 0, times scale) or max (kind 1)
// over the P parts of tl_nn_colpart.
extern "C" __global__ void tl_nn_colfin(const float* part, float* out, int P, int Q, int C, int kind,
                                        float scale) {
  TL_FOR(i, (long long)Q * C) {
    int q = (int)(i / C), c = (int)(i % C);
    float s = kind ? nn_ninf() : 0.0f;
    for (int p = 0; p < P; p++) {
      float v = part[((long long)p * Q + q) * C + c];
      s = kind ? fmaxf(s, v) : s + v;
    }
    out[i] = kind ? s : s * scale;
  }
}

// tl_nn_softmax: y = softmax (or log-softmax, logm) of each row of x; y may be x
// (each element is read and written by one thread only).
extern "C" __global__ void tl_nn_softmax(const float* x, float* y, long long rows, int w, int logm, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = x + row * w;
    float* yr = y + row * w;
    float m, s;
    nn_row_stats(xr, w, ok, g, sh, warp, &m, &s);
    if (!ok) continue;
    if (logm) {
      float lse = m + logf(s);
      for (int j = g.lane; j < w; j += g.size) yr[j] = xr[j] - lse;
    } else {
      float inv = 1.0f / s;
      for (int j = g.lane; j < w; j += g.size) yr[j] = expf(xr[j] - m) * inv;
    }
  }
}

// tl_nn_softmax_grad: d = y·(dy - Σdy·y) for softmax, dy - e^y·Σdy for log-softmax.
extern "C" __global__ void tl_nn_softmax_grad(const float* dy, const float* y, float* d, long long rows, int w,
                                              int logm, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* dr = dy + row * w;
    const float* yr = y + row * w;
    float* gr = d + row * w;
    float dot = 0.0f;
    if (ok)
      for (int j = g.lane; j < w; j += g.size) dot += logm ? dr[j] : dr[j] * yr[j];
    dot = nn_gsum(dot, sh, warp);
    if (!ok) continue;
    for (int j = g.lane; j < w; j += g.size) gr[j] = logm ? dr[j] - expf(yr[j]) * dot : yr[j] * (dr[j] - dot);
  }
}

// tl_nn_xent: the mean over rows of -log softmax(logits)[label], in one pass per
// row. With atomic, every block adds its share to out (zeroed before);
// otherwise the only block writes it. A label outside [0, w) reports its row.
extern "C" __global__ void tl_nn_xent(const float* logits, const int* labels, float* out, int* err, long long rows,
                                      int w, float inv, int atomic, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  float acc = 0.0f;
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = logits + row * w;
    float m, s;
    nn_row_stats(xr, w, ok, g, sh, warp, &m, &s);
    if (ok && g.lane == 0) {
      int lab = labels[row];
      if (lab < 0 || lab >= w)
        nn_report(err, row);
      else
        acc += m + logf(s) - xr[lab];
    }
  }
  acc = tl_block_sum(acc, sh);
  if (threadIdx.x == 0) {
    if (atomic)
      atomicAdd(out, acc * inv);
    else
      out[0] = acc * inv;
  }
}

// tl_nn_xent_grad: d = dy/rows · (softmax(row) - onehot(label)).
extern "C" __global__ void tl_nn_xent_grad(const float* dy, const float* logits, const int* labels, float* d,
                                           long long rows, int w, float frows, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  float scale = dy[0] / frows;
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = logits + row * w;
    float* gr = d + row * w;
    float m, s;
    nn_row_stats(xr, w, ok, g, sh, warp, &m, &s);
    if (!ok) continue;
    float f = scale / s;
    int lab = labels[row];
    for (int j = g.lane; j < w; j += g.size) {
      float v = expf(xr[j] - m) * f;
      if (j == lab) v -= scale;
      gr[j] = v;
    }
  }
}

// tl_nn_sigmoid_xent: the mean logistic loss of logits x against targets z,
// written or (atomic) added to out like tl_nn_xent.
extern "C" __global__ void tl_nn_sigmoid_xent(const float* x, const float* z, float* out, long long n, float inv,
                                              int atomic) {
  __shared__ float sh[32];
  float acc = 0.0f;
  TL_FOR(i, n) {
    float v = x[i];
    acc += fmaxf(v, 0.0f) - v * z[i] + log1pf(expf(-fabsf(v)));
  }
  acc = tl_block_sum(acc, sh);
  if (threadIdx.x == 0) {
    if (atomic)
      atomicAdd(out, acc * inv);
    else
      out[0] = acc * inv;
  }
}

// tl_nn_scalar_scale: d[0] = x[0]·s.
extern "C" __global__ void tl_nn_scalar_scale(const float* x, float* d, float s) {
  if (blockIdx.x == 0 && threadIdx.x == 0) d[0] = x[0] * s;
}

// tl_nn_gather: d = the rows of p (rows × w) picked by idx; an index outside
// [0, rows) reports its position and gives zeros.
extern "C" __global__ void tl_nn_gather(const float* p, const int* idx, float* d, int* err, long long n, int w,
                                        int rows) {
  TL_FOR(e, n) {
    long long i = e / w;
    int k = (int)(e - i * w);
    int r = idx[i];
    if (r < 0 || r >= rows) {
      if (k == 0) nn_report(err, i);
      d[e] = 0.0f;
    } else {
      d[e] = p[(long long)r * w + k];
    }
  }
}
