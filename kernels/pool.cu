// Kernels of graph/ops_pool.go: max and average pooling of NHWC images and their
// gradients, with cpu/nn's window rules (padding ignored, TensorFlow's).

// pool_window sets [k0, k1), the window rows of output o that fall inside the
// input, and i0, the input index of window row 0 (as cpu/nn's window).
static __device__ __forceinline__ void pool_window(int o, int stride, int pad, int dil, int k, int in, int* k0,
                                                   int* k1, int* i0) {
  int i = o * stride - pad;
  int a = 0;
  if (i < 0) a = (-i + dil - 1) / dil;
  int b = k;
  int last = i + (k - 1) * dil;
  if (last >= in) b = k - (last - in + dil) / dil;
  *k0 = min(a, b);
  *k1 = b;
  *i0 = i;
}

// pool_output splits the flat NHWC output index e into its image n (returned)
// and channel c, and gives the window of its (oh, ow) along each axis.
static __device__ __forceinline__ long long pool_output(long long e, int C, int OW, int OH, int H, int W, int KH,
                                                        int KW, int SH, int SW, int DH, int DW, int PT, int PL,
                                                        int* c, int* h0, int* h1, int* ih0, int* w0, int* w1,
                                                        int* iw0) {
  *c = (int)(e % C);
  long long t = e / C;
  int ow = (int)(t % OW);
  t /= OW;
  int oh = (int)(t % OH);
  pool_window(oh, SH, PT, DH, KH, H, h0, h1, ih0);
  pool_window(ow, SW, PL, DW, KW, W, w0, w1, iw0);
  return t / OH;
}

// tl_pool_fwd: y (N·OH·OW·C) = the max (kind 0) or mean (kind 1) of each window.
extern "C" __global__ void tl_pool_fwd(const float* x, float* y, long long total, int H, int W, int C, int KH,
                                       int KW, int SH, int SW, int DH, int DW, int PT, int PL, int OH, int OW,
                                       int kind) {
  TL_FOR(e, total) {
    int c, h0, h1, ih0, w0, w1, iw0;
    long long n = pool_output(e, C, OW, OH, H, W, KH, KW, SH, SW, DH, DW, PT, PL, &c, &h0, &h1, &ih0, &w0, &w1, &iw0);
    const float* xn = x + n * H * W * C + c;
    float a = 0.0f;
    bool first = true;
    for (int kh = h0; kh < h1; kh++) {
      int ih = ih0 + kh * DH;
      for (int kw = w0; kw < w1; kw++) {
        float v = xn[((long long)ih * W + iw0 + kw * DW) * C];
        if (kind == 1) {
          a += v;
        } else if (first || v > a) {
          a = v;
        }
        first = false;
      }
    }
    int cnt = (h1 - h0) * (w1 - w0);
    if (kind == 1 && cnt > 1) a *= 1.0f / (float)cnt;
    y[e] = a;
  }
}

// tl_pool_max_grad adds each dy (N·OH·OW·C) into dx (zeroed before) at the first
// element of its window that holds the window's maximum, as cpu/nn's
// MaxPoolGrad; with relu, windows whose maximum is not positive pass nothing.
extern "C" __global__ void tl_pool_max_grad(const float* x, const float* dy, float* dx, long long total, int H,
                                            int W, int C, int KH, int KW, int SH, int SW, int DH, int DW, int PT,
                                            int PL, int OH, int OW, int relu) {
  TL_FOR(e, total) {
    int c, h0, h1, ih0, w0, w1, iw0;
    long long n = pool_output(e, C, OW, OH, H, W, KH, KW, SH, SW, DH, DW, PT, PL, &c, &h0, &h1, &ih0, &w0, &w1, &iw0);
    long long base = n * H * W * C + c, arg = -1;
    float best = 0.0f;
    for (int kh = h0; kh < h1; kh++) {
      int ih = ih0 + kh * DH;
      for (int kw = w0; kw < w1; kw++) {
        long long off = base + ((long long)ih * W + iw0 + kw * DW) * C;
        float v = x[off];
        if (arg < 0 || v > best) {
          best = v;
          arg = off;
        }
      }
    }
    if (arg < 0) continue;
    float g = dy[e];
    if (relu && !(best > 0.0f)) g = 0.0f;
    atomicAdd(dx + arg, g);
  }
}

// tl_pool_avg_grad: dx (N·H·W·C) = the sum of dy/count over the windows that
// hold each element: a thread per element, no atomics.
extern "C" __global__ void tl_pool_avg_grad(const float* dy, float* dx, long long total, int H, int W, int C,
                                            int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL, int OH,
                                            int OW) {
  TL_FOR(e, total) {
    int c = (int)(e % C);
    long long t = e / C;
    int iw = (int)(t % W);
    t /= W;
    int ih = (int)(t % H);
    long long n = t / H;
    float s = 0.0f;
    for (int kh = 0; kh < KH; kh++) {
      int th = ih + PT - kh * DH;
      if (th < 0 || th % SH != 0) continue;
      int oh = th / SH;
      if (oh >= OH) continue;
      int h0, h1, ih0;
      pool_window(oh, SH, PT, DH, KH, H, &h0, &h1, &ih0);
      for (int kw = 0; kw < KW; kw++) {
        int tw = iw + PL - kw * DW;
        if (tw < 0 || tw % SW != 0) continue;
        int ow = tw / SW;
        if (ow >= OW) continue;
        int w0, w1, iw0;
        pool_window(ow, SW, PL, DW, KW, W, &w0, &w1, &iw0);
        int cnt = (h1 - h0) * (w1 - w0);
        s += dy[((n * OH + oh) * OW + ow) * C + c] * (1.0f / (float)cnt);
      }
    }
    dx[e] = s;
  }
}
