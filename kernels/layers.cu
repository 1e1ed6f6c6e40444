// Ops of package layers (layers/ops.go): Gaussian noise, bilinear resizing and
// its gradient, sequence masks.

// tl_layers_noise: N(0, std²) noise by Marsaglia's polar method, each element
// from its own (seed, step, element) stream (attempt a of element i draws
// indices 128i+2a and 128i+2a+1).
extern "C" __global__ void tl_layers_noise(float* d, long long n, float std, unsigned long long seed,
                                           const unsigned long long* counter) {
  unsigned long long step = *counter;
  TL_FOR(i, n) {
    float z = 0.0f;
    for (int a = 0; a < 64; a++) {
      unsigned long long base = (unsigned long long)i * 128ull + 2ull * (unsigned long long)a;
      float u = 2.0f * tl_uniform(seed, step, base) - 1.0f;
      float v = 2.0f * tl_uniform(seed, step, base + 1) - 1.0f;
      float s = u * u + v * v;
      if (s > 0.0f && s < 1.0f) {
        z = u * sqrtf(-2.0f * logf(s) / s);
        break;
      }
    }
    d[i] = z * std;
  }
}

// layers_lerp gives, for output position i of out over an axis of size in, the
// two input positions read and the weight of the second, exactly as the CPU's
// lerpTable (in double).
static __device__ void layers_lerp(int i, int in, int out, int* lo, int* hi, float* w) {
  double scale = (double)in / (double)out;
  double f = ((double)i + 0.5) * scale - 0.5;
  double fl = (double)(long long)f;
  if (fl > f) fl -= 1.0;  // floor
  double ce = fl < f ? fl + 1.0 : fl;
  *lo = (int)(fl > 0.0 ? fl : 0.0);
  *hi = (int)(ce < (double)(in - 1) ? ce : (double)(in - 1));
  *w = (float)(f - fl);
  if (f < 0.0) {
    *hi = *lo;
    *w = 0.0f;
  }
}

// tl_layers_resize: NHWC x (n, h, w, ch) to d (n, oh, ow, ch).
extern "C" __global__ void tl_layers_resize(float* d, const float* x, int n, int h, int w, int ch, int oh, int ow) {
  TL_FOR(e, (long long)n * oh * ow * ch) {
    // Sizes < 2^31 (checked by the caller): 32-bit index arithmetic.
    int p = (int)e / ch, k = (int)e - p * ch;
    int r = p / ow, ox = p - r * ow;  // r = image·oh + output row
    int img = r / oh, oy = r - img * oh;
    int y0, y1, x0, x1;
    float ly, lx;
    layers_lerp(oy, h, oh, &y0, &y1, &ly);
    layers_lerp(ox, w, ow, &x0, &x1, &lx);
    const float* top = x + ((long long)img * h + y0) * w * ch;
    const float* bot = x + ((long long)img * h + y1) * w * ch;
    int a = x0 * ch + k, b = x1 * ch + k;
    float t = top[a] + (top[b] - top[a]) * lx;
    float u = bot[a] + (bot[b] - bot[a]) * lx;
    d[e] = t + (u - t) * ly;
  }
}

// layers_weight is the share of output position o (over an axis in → out) that
// input position i receives: 1-w if it is the first position read, w if the
// second (both when they are the same position).
static __device__ float layers_weight(int o, int i, int in, int out) {
  int lo, hi;
  float w;
  layers_lerp(o, in, out, &lo, &hi, &w);
  float s = 0.0f;
  if (lo == i) s += 1.0f - w;
  if (hi == i) s += w;
  return s;
}

// layers_range gives the output positions that may read input position i: those
// whose source coordinate f = (o+0.5)·in/out - 0.5 lies in (i-1, i+1), widened
// by one on each side against rounding.
static __device__ void layers_range(int i, int in, int out, int* first, int* last) {
  double inv = (double)out / (double)in;
  double a = ((double)i - 0.5) * inv - 0.5, b = ((double)i + 1.5) * inv - 0.5;
  long long fa = (long long)(a < 0.0 ? 0.0 : a) - 1, fb = (long long)(b < 0.0 ? 0.0 : b) + 1;
  *first = (int)(fa < 0 ? 0 : fa);
  *last = (int)(fb > out - 1 ? out - 1 : fb);
}

// tl_layers_resize_grad: d (n, h, w, ch) gathers, for each input pixel, dy
// (n, oh, ow, ch) of the output pixels that read it, times their weights (no
// atomics: each thread owns one input element).
extern "C" __global__ void tl_layers_resize_grad(float* d, const float* dy, int n, int h, int w, int ch, int oh,
                                                 int ow) {
  TL_FOR(e, (long long)n * h * w * ch) {
    int p = (int)e / ch, k = (int)e - p * ch;
    int r = p / w, ix = p - r * w;
    int img = r / h, iy = r - img * h;
    int oy0, oy1, ox0, ox1;
    layers_range(iy, h, oh, &oy0, &oy1);
    layers_range(ix, w, ow, &ox0, &ox1);
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
      float wy = layers_weight(oy, iy, h, oh);
      if (wy == 0.0f) continue;
      const float* src = dy + ((long long)img * oh + oy) * ow * ch + k;
      float row = 0.0f;
      for (int ox = ox0; ox <= ox1; ox++) {
        float wx = layers_weight(ox, ix, w, ow);
        if (wx != 0.0f) row += src[(long long)ox * ch] * wx;
      }
      acc += row * wy;
    }
    d[e] = acc;
  }
}

// tl_layers_seqmask: d (b, steps) is 1 before each length, 0 after.
extern "C" __global__ void tl_layers_seqmask(float* d, const int* lens, int b, int steps) {
  TL_FOR(e, (long long)b * steps) {
    int r = (int)e / steps, t = (int)e - r * steps;
    d[e] = t < lens[r] ? 1.0f : 0.0f;
  }
}
