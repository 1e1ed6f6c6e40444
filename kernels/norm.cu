// Kernels of graph/ops_norm.go: local response normalisation, batch norm and
// layer norm with their gradients. The column sums they need are nn.cu's
// tl_nn_colpart and tl_nn_colfin.

// norm_pow returns n^-beta, the common exponents without exp and log (as
// cpu/nn's LRN.pow).
static __device__ __forceinline__ float norm_pow(float n, float beta) {
  if (beta == 0.75f) {
    float r = 1.0f / sqrtf(n);
    return r * sqrtf(r);
  }
  if (beta == 0.5f) return 1.0f / sqrtf(n);
  if (beta == 1.0f) return 1.0f / n;
  if (beta == 0.0f) return 1.0f;
  return expf(-beta * logf(n));
}

// norm_lrn_n is bias + alpha·Σ xr[k]² over the window of channel c.
static __device__ __forceinline__ float norm_lrn_n(const float* xr, int c, int C, int r, float bias, float alpha) {
  int lo = max(c - r, 0), hi = min(c + r, C - 1);
  float s = 0.0f;
  for (int k = lo; k <= hi; k++) s += xr[k] * xr[k];
  return bias + alpha * s;
}

// tl_norm_lrn: y = x·n^-beta over rows of C channels (scale: y = n^-beta only,
// for when the output overwrites x and tl_norm_mul finishes).
extern "C" __global__ void tl_norm_lrn(const float* x, float* y, long long total, int C, int r, float bias,
                                       float alpha, float beta, int scale) {
  TL_FOR(e, total) {
    int c = (int)(e % C);
    float p = norm_pow(norm_lrn_n(x + (e - c), c, C, r, bias, alpha), beta);
    y[e] = scale ? p : x[e] * p;
  }
}

// tl_norm_mul: y = a·b.
extern "C" __global__ void tl_norm_mul(const float* a, const float* b, float* y, long long n) {
  TL_FOR(i, n) y[i] = a[i] * b[i];
}

// tl_norm_lrn_t: t = dy·x·n^-beta / n, the first pass of the LRN gradient.
extern "C" __global__ void tl_norm_lrn_t(const float* x, const float* dy, float* t, long long total, int C, int r,
                                         float bias, float alpha, float beta) {
  TL_FOR(e, total) {
    int c = (int)(e % C);
    float n = norm_lrn_n(x + (e - c), c, C, r, bias, alpha);
    t[e] = dy[e] * x[e] * norm_pow(n, beta) / n;
  }
}

// tl_norm_lrn_grad: dx = dy·n^-beta - 2·alpha·beta·x·Σ t over the window
// (TensorFlow's LRNGrad); with relu, also through the ReLU whose output x is.
extern "C" __global__ void tl_norm_lrn_grad(const float* x, const float* dy, const float* t, float* dx,
                                            long long total, int C, int r, float bias, float alpha, float beta,
                                            int relu) {
  float k2 = -2.0f * alpha * beta;
  TL_FOR(e, total) {
    int c = (int)(e % C);
    long long row = e - c;
    float p = norm_pow(norm_lrn_n(x + row, c, C, r, bias, alpha), beta);
    int lo = max(c - r, 0), hi = min(c + r, C - 1);
    float ts = 0.0f;
    for (int k = lo; k <= hi; k++) ts += t[row + k];
    float xv = x[e];
    float g = dy[e] * p + k2 * xv * ts;
    if (relu && !(xv > 0.0f)) g = 0.0f;
    dx[e] = g;
  }
}

// tl_norm_bn_fin: per channel, from tl_nn_colpart's mode-2 parts (shifted by
// k, the first row of x): the batch's mean and variance, the scale and shift
// of the normalisation (ss[c], ss[C+c]), and the moving averages' update.
extern "C" __global__ void tl_norm_bn_fin(const float* part, const float* k, const float* gamma,
                                          const float* beta, float* mm, float* mv, float* ss, int P, int C,
                                          long long rows, float eps, float mom) {
  TL_FOR(c, C) {
    float s1 = 0.0f, s2 = 0.0f;
    for (int p = 0; p < P; p++) {
      s1 += part[((long long)p * 2) * C + c];
      s2 += part[((long long)p * 2 + 1) * C + c];
    }
    float R = (float)rows;
    float dm = s1 / R;
    float v = fmaxf(s2 / R - dm * dm, 0.0f);
    float mean = k[c] + dm;
    float s = gamma[c] / sqrtf(v + eps);
    ss[c] = s;
    ss[C + c] = beta[c] - mean * s;
    float unbiased = rows > 1 ? v * R / (R - 1.0f) : v;
    mm[c] = mom * mm[c] + (1.0f - mom) * mean;
    mv[c] = mom * mv[c] + (1.0f - mom) * unbiased;
  }
}

// tl_norm_bn_apply: y = x·ss[c] + ss[C+c].
extern "C" __global__ void tl_norm_bn_apply(const float* x, const float* ss, float* y, long long n, int C) {
  TL_FOR(i, n) {
    int c = (int)(i % C);
    y[i] = x[i] * ss[c] + ss[C + c];
  }
}

// tl_norm_bn_infer: y = (x - mm)·γ/√(mv+eps) + β, the moving statistics'
// normalisation.
extern "C" __global__ void tl_norm_bn_infer(const float* x, const float* gamma, const float* beta,
                                            const float* mm, const float* mv, float* y, long long n, int C,
                                            float eps) {
  TL_FOR(i, n) {
    int c = (int)(i % C);
    float s = gamma[c] / sqrtf(mv[c] + eps);
    y[i] = x[i] * s + (beta[c] - mm[c] * s);
  }
}

// tl_norm_bnred_fin: BatchNormReduce's (4, C) result from tl_nn_colpart's
// mode-3 parts shifted by k (x's first row in training, the moving mean
// otherwise): dγ, dβ, the mean and 1/std used.
extern "C" __global__ void tl_norm_bnred_fin(const float* part, const float* k, const float* mv, float* out, int P,
                                             int C, long long rows, float eps, int training) {
  TL_FOR(c, C) {
    float s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, s4 = 0.0f;
    for (int p = 0; p < P; p++) {
      const float* q = part + (long long)p * 4 * C + c;
      s1 += q[0];
      s2 += q[C];
      s3 += q[2 * C];
      s4 += q[3 * C];
    }
    float R = (float)rows, dm = 0.0f, inv;
    if (training) {
      dm = s1 / R;
      inv = 1.0f / sqrtf(fmaxf(s2 / R - dm * dm, 0.0f) + eps);
    } else {
      inv = 1.0f / sqrtf(mv[c] + eps);
    }
    out[c] = inv * (s4 - dm * s3);
    out[C + c] = s3;
    out[2 * C + c] = k[c] + dm;
    out[3 * C + c] = inv;
  }
}

// tl_norm_bn_grad: dx from x, γ, dy and BatchNormReduce's red (dγ, dβ, mean,
// inv): γ·inv·(dy - dβ/R - x̂·dγ/R) in training, dy·γ·inv otherwise.
extern "C" __global__ void tl_norm_bn_grad(const float* x, const float* gamma, const float* dy, const float* red,
                                           float* dx, long long n, int C, float R, int training) {
  TL_FOR(i, n) {
    int c = (int)(i % C);
    float inv = red[3 * C + c];
    float s = gamma[c] * inv;
    if (!training) {
      dx[i] = dy[i] * s;
      continue;
    }
    float a = s * inv * red[c] / R;
    float b = s * red[C + c] / R;
    dx[i] = s * dy[i] - a * (x[i] - red[2 * C + c]) - b;
  }
}

// Layer norm: row kernels with a warp flag, as nn.cu's (a warp or the block per
// row, loops the same length in every thread of a block).

// norm_row_stats returns the mean and 1/√(var+eps) of row xr to every thread of
// its group.
static __device__ __forceinline__ void norm_row_stats(const float* xr, bool ok, int C, float eps, nn_rows g,
                                                      float* sh, int warp, float* m, float* inv) {
  float s = 0.0f;
  if (ok)
    for (int j = g.lane; j < C; j += g.size) s += xr[j];
  float mean = nn_gsum(s, sh, warp) / (float)C;
  float v = 0.0f;
  if (ok)
    for (int j = g.lane; j < C; j += g.size) {
      float d = xr[j] - mean;
      v += d * d;
    }
  v = nn_gsum(v, sh, warp);
  *m = mean;
  *inv = 1.0f / sqrtf(v / (float)C + eps);
}

// tl_norm_ln: y = (x - mean)·inv·γ + β per row; y may be x.
extern "C" __global__ void tl_norm_ln(const float* x, const float* gamma, const float* beta, float* y,
                                      long long rows, int C, float eps, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = x + row * C;
    float m, inv;
    norm_row_stats(xr, ok, C, eps, g, sh, warp, &m, &inv);
    if (!ok) continue;
    float* yr = y + row * C;
    for (int j = g.lane; j < C; j += g.size) yr[j] = (xr[j] - m) * inv * gamma[j] + beta[j];
  }
}

// tl_norm_ln_grad: dx = inv·(g - mean(g) - x̂·mean(g·x̂)), g = dy·γ.
extern "C" __global__ void tl_norm_ln_grad(const float* x, const float* gamma, const float* dy, float* dx,
                                           long long rows, int C, float eps, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    const float* xr = x + row * C;
    const float* dr = dy + row * C;
    float m, inv;
    norm_row_stats(xr, ok, C, eps, g, sh, warp, &m, &inv);
    float sg = 0.0f, sgx = 0.0f;
    if (ok)
      for (int j = g.lane; j < C; j += g.size) {
        float gv = dr[j] * gamma[j];
        sg += gv;
        sgx += gv * ((xr[j] - m) * inv);
      }
    sg = nn_gsum(sg, sh, warp);
    sgx = nn_gsum(sgx, sh, warp);
    if (!ok) continue;
    float mg = sg / (float)C, mgx = sgx / (float)C;
    float* gr = dx + row * C;
    for (int j = g.lane; j < C; j += g.size) {
      float xh = (xr[j] - m) * inv;
      gr[j] = inv * (dr[j] * gamma[j] - mg - xh * mgx);
    }
  }
}

// tl_norm_ln_stats: st[2r], st[2r+1] = the mean and 1/√(var+eps) of row r.
extern "C" __global__ void tl_norm_ln_stats(const float* x, float* st, long long rows, int C, float eps, int warp) {
  __shared__ float sh[32];
  nn_rows g = nn_rows_of(warp);
  for (long long base = (long long)blockIdx.x * g.per; base < rows; base += (long long)gridDim.x * g.per) {
    long long row = base + g.grp;
    bool ok = row < rows;
    float m, inv;
    norm_row_stats(x + row * C, ok, C, eps, g, sh, warp, &m, &inv);
    if (ok && g.lane == 0) {
      st[2 * row] = m;
      st[2 * row + 1] = inv;
    }
  }
}
