// Optimizer updates (optim/kernels.go, optim/optim.go, optim/optimizers.go):
// dense updates are one elementwise kernel; sparse ones sum the slices of
// repeated rows first (atomicAdd into one slot per distinct row), then update
// each distinct row once, as the CPU's lazy sparse updates do. The learning
// rate and Adam's step are read from device variables at every run.

#define OPTIM_MOMENTUM 0
#define OPTIM_ADAM 1
#define OPTIM_ADAGRAD 2
#define OPTIM_RMSPROP 3
#define OPTIM_SGD 4

// optim_pow is b^t for a whole step count t, by squaring in double (the CPU
// uses math.Pow in float64).
static __device__ double optim_pow(double b, float t) {
  long long e = (long long)t;
  double r = 1.0;
  while (e > 0) {
    if (e & 1) r *= b;
    b *= b;
    e >>= 1;
  }
  return r;
}

// optim_rate is the rule's effective learning rate: Adam's lr·√(1-β₂ᵗ)/(1-β₁ᵗ)
// with t = step+1 (1 without a step counter), the plain rate otherwise.
static __device__ float optim_rate(int rule, const float* lr, const float* step, int hasStep, float k1, float k2) {
  float r = lr[0];
  if (rule != OPTIM_ADAM) return r;
  float t = hasStep ? step[0] + 1.0f : 1.0f;
  double c2 = 1.0 - optim_pow((double)k2, t), c1 = 1.0 - optim_pow((double)k1, t);
  return r * sqrtf((float)c2) / (float)c1;
}

// optim_apply updates one weight w from its gradient g and its slots a, b, as
// the CPU's rule.apply does for one element. k1..k3 are the rule's constants.
static __device__ __forceinline__ void optim_apply(int rule, float lr, float k1, float k2, float k3, float* w,
                                                   float g, float* a, float* b) {
  switch (rule) {
    case OPTIM_MOMENTUM: {  // k1 momentum, k2 nesterov
      float acc = k1 * *a + g;
      *a = acc;
      if (k2 != 0.0f)
        *w -= lr * (g + k1 * acc);
      else
        *w -= lr * acc;
      break;
    }
    case OPTIM_ADAM: {  // k1 β₁, k2 β₂, k3 ε; lr is lr_t
      float m = k1 * *a + (1.0f - k1) * g;
      float v = k2 * *b + (1.0f - k2) * g * g;
      *a = m;
      *b = v;
      *w -= lr * m / (sqrtf(v) + k3);
      break;
    }
    case OPTIM_ADAGRAD: {  // k1 ε
      float acc = *a + g * g;
      *a = acc;
      *w -= lr * g / (sqrtf(acc) + k1);
      break;
    }
    case OPTIM_RMSPROP: {  // k1 ρ, k2 μ, k3 ε
      float s = k1 * *a + (1.0f - k1) * g * g;
      *a = s;
      float m = k2 * *b + lr * g / sqrtf(s + k3);
      *b = m;
      *w -= m;
      break;
    }
    default:  // SGD
      *w += -lr * g;
  }
}

// tl_optim_dense: w (n) -= the rule's step for gradient g; slots s0, s1 may be
// null when the rule has fewer.
extern "C" __global__ void tl_optim_dense(int rule, float* w, const float* g, float* s0, float* s1, const float* lr,
                                          const float* step, int hasStep, float k1, float k2, float k3,
                                          long long n) {
  float r = optim_rate(rule, lr, step, hasStep, k1, k2);
  TL_FOR(i, n) { optim_apply(rule, r, k1, k2, k3, w + i, g[i], s0 ? s0 + i : 0, s1 ? s1 + i : 0); }
}

// tl_optim_sgd_sparse: w[idx[i]] -= lr·val[i] for each slice i (n slices of
// width), repeated rows adding up (atomically); rows outside [0, rows) are
// skipped, as on the CPU (Gather rejected them in the forward pass).
extern "C" __global__ void tl_optim_sgd_sparse(float* w, const int* idx, const float* val, const float* lr, int n,
                                               int width, int rows) {
  float r = -lr[0];
  TL_FOR(e, (long long)n * width) {
    int i = (int)e / width, q = (int)e - i * width;  // n·width < 2^31 (checked by the caller)
    int row = idx[i];
    if (row >= 0 && row < rows) atomicAdd(w + (long long)row * width + q, r * val[e]);
  }
}

// tl_optim_first: pos[row] = the first slice i of each row (pos filled with
// INT_MAX before), which owns the row's summed gradient.
extern "C" __global__ void tl_optim_first(int* pos, const int* idx, int n, int rows) {
  TL_FOR(i, n) {
    int row = idx[i];
    if (row >= 0 && row < rows) atomicMin(pos + row, (int)i);
  }
}

// tl_optim_sum: sums (n, width), zero before, gets each row's slices added into
// its owner's slot.
extern "C" __global__ void tl_optim_sum(float* sums, const int* pos, const int* idx, const float* val, int n,
                                        int width, int rows) {
  TL_FOR(e, (long long)n * width) {
    int i = (int)e / width, q = (int)e - i * width;  // n·width < 2^31 (checked by the caller)
    int row = idx[i];
    if (row >= 0 && row < rows) atomicAdd(sums + (long long)pos[row] * width + q, val[e]);
  }
}

// tl_optim_sparse: each distinct row (at its owner slice) updated once from its
// summed gradient; the slots' rows move with it, other rows stay.
extern "C" __global__ void tl_optim_sparse(int rule, float* w, const int* idx, const float* sums, const int* pos,
                                           float* s0, float* s1, const float* lr, const float* step, int hasStep,
                                           float k1, float k2, float k3, int n, int width, int rows) {
  float r = optim_rate(rule, lr, step, hasStep, k1, k2);
  TL_FOR(e, (long long)n * width) {
    int i = (int)e / width, q = (int)e - i * width;  // n·width < 2^31 (checked by the caller)
    int row = idx[i];
    if (row < 0 || row >= rows || pos[row] != i) continue;
    long long o = (long long)row * width + q;
    optim_apply(rule, r, k1, k2, k3, w + o, sums[e], s0 ? s0 + o : 0, s1 ? s1 + o : 0);
  }
}

// tl_optim_increment: the step counter after the updates.
extern "C" __global__ void tl_optim_increment(float* d) {
  if (blockIdx.x == 0 && threadIdx.x == 0) d[0] += 1.0f;
}
