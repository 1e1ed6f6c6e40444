// Noise-contrastive estimation and sampled softmax (graph/ops_nce.go): the
// log-uniform sampler, the fused logits+loss kernel and the fused gradient.

// tl_nce_sample: n ids in [0, range) from the log-uniform distribution by the
// inverse CDF, F(k) = log(k+2)/log(range+1); new draws at every step.
extern "C" __global__ void tl_nce_sample(int* out, int n, int range, float logRange, unsigned long long seed,
                                         const unsigned long long* counter) {
  unsigned long long step = *counter;
  TL_FOR(i, n) {
    float u = tl_uniform(seed, step, (unsigned long long)i);
    int k = (int)expf(u * logRange) - 1;
    out[i] = min(max(k, 0), range - 1);
  }
}

// tl_nce_sample_unique: n distinct ids in [0, range), drawn as tl_nce_sample
// does and repeats dropped (TensorFlow's unique=True), in the order first drawn;
// out[n] gets the number of draws up to the n-th distinct id. One warp draws 32
// ids at a time: a lane keeps its id when no earlier lane drew it and the set of
// ids found so far lacks it. The set is an open-addressing hash table of tsize
// (a power of two, at least 2n) entries, in dynamic shared memory, or in gtable
// when that is not null (too large for shared memory).
extern "C" __global__ void tl_nce_sample_unique(int* out, int n, int range, float logRange, unsigned long long seed,
                                                const unsigned long long* counter, int* gtable, int tsize) {
  TL_DYN_SHARED(int, stable);
  if (blockIdx.x != 0 || threadIdx.x >= TL_WARP) return;
  int* table = gtable ? gtable : stable;
  int lane = threadIdx.x;
  unsigned hmask = (unsigned)tsize - 1u, below = (1u << lane) - 1u;
  for (int i = lane; i < tsize; i += TL_WARP) table[i] = -1;
  __syncwarp();
  unsigned long long step = *counter, base = 0;
  int found = 0;
  while (found < n) {  // the same on every lane
    float u = tl_uniform(seed, step, base + (unsigned long long)lane);
    int k = min(max((int)expf(u * logRange) - 1, 0), range - 1);
    bool fresh = true;
    for (int j = 0; j < TL_WARP; j++) {
      int kj = __shfl_sync(0xffffffffu, k, j);
      if (j < lane && kj == k) fresh = false;
    }
    unsigned h = ((unsigned)k * 2654435761u) & hmask;
    if (fresh)
      for (int v; (v = table[h]) != -1; h = (h + 1u) & hmask)
        if (v == k) {
          fresh = false;
          break;
        }
    unsigned take = __ballot_sync(0xffffffffu, fresh);
    int rank = __popc(take & below), need = n - found;
    __syncwarp();  // every lookup is done before any insert
    if (fresh && rank < need) {
      out[found + rank] = k;
      while (atomicCAS(&table[h], -1, k) != -1) h = (h + 1u) & hmask;
    }
    if (__popc(take) >= need) {
      unsigned m = take;  // the lane that drew the need-th new id
      for (int i = 1; i < need; i++) m &= m - 1u;
      if (lane == 0) out[n] = (int)min(base + (unsigned long long)(__ffs((int)m) - 1) + 1ull, 2147483647ull);
      found = n;
    } else {
      found += __popc(take);
    }
    base += TL_WARP;
    __syncwarp();  // the inserts are seen by the next round's lookups
  }
}

// nce_logq is log(S·P(k)) = logS + log(log1p(1/(k+1))) - log(log(V+1)): the log
// of id k's expected count in S draws. With unique sampling (tries non-null) the
// expected count is the chance of being drawn at all, 1 - (1 - P(k))^tries.
static __device__ __forceinline__ float nce_logq(int k, float logS, float logLogRange, const int* tries) {
  float lp = logf(log1pf(1.0f / ((float)k + 1.0f))) - logLogRange;  // log P(k)
  if (tries) return logf(-expm1f((float)*tries * log1pf(-expf(lp))));
  return logS + lp;
}

// nce_bad records an id outside [0, v) at position pos (labels first, then the
// sampled ids after bsz): the slot keeps the smallest position, as the CPU
// reports the first bad id, and vals[pos] the id itself.
static __device__ void nce_bad(int* slot, int* vals, int pos, int id) {
  vals[pos] = id;
  atomicMax(slot, 2147483647 - pos);
}

// tl_nce_fwd: one block per example r. The output d packs the mean loss (d[0],
// written by tl_nce_mean), σ (or the softmax probability) of the true logits
// (B) and of the sampled logits (B, S). rowLoss (B) gets each example's loss.
extern "C" __global__ void tl_nce_fwd(float* d, const float* w, const float* bias, const float* x, const int* lab,
                                      const int* smp, float* rowLoss, int* slot, int* vals, int v, int dim,
                                      int bsz, int s, float logS, float logLogRange, int softmax,
                                      const int* tries) {
  __shared__ float red[32];
  __shared__ float sharedZt;
  int r = blockIdx.x;
  int warp = threadIdx.x / TL_WARP, lane = threadIdx.x % TL_WARP, nw = blockDim.x / TL_WARP;
  const float* xr = x + (long long)r * dim;
  float* ls = d + 1 + bsz + (long long)r * s;
  int label = lab[r];
  // Unique sampling needs at least one draw; -1 in the slot says so (a bad id,
  // a positive code written with atomicMax, takes precedence).
  if (tries && *tries < 1 && r == 0 && threadIdx.x == 0) atomicCAS(slot, 0, -1);
  // Item j < s is sampled id j, item s the label: one warp per dot product.
  for (int j = warp; j <= s; j += nw) {
    int k = j < s ? smp[j] : label;
    bool ok = k >= 0 && k < v;
    float dot = 0.0f;
    if (ok) {
      const float* wr = w + (long long)k * dim;
      for (int q = lane; q < dim; q += TL_WARP) dot += xr[q] * wr[q];
    }
    dot = tl_warp_sum(dot);
    if (lane == 0) {
      float z = 0.0f;
      if (ok)
        z = dot + bias[k] - nce_logq(k, logS, logLogRange, tries);
      else if (j < s)
        nce_bad(slot, vals, bsz + j, k);
      else
        nce_bad(slot, vals, r, k);
      if (j == s)
        sharedZt = z;
      else
        ls[j] = (softmax && k == label) ? __int_as_float(0xff800000) : z;  // accidental hits leave the softmax
    }
  }
  __syncthreads();
  float zt = sharedZt;
  if (!softmax) {
    // Σ softplus(z) over the sampled logits; each becomes σ(z).
    float acc = 0.0f;
    for (int j = threadIdx.x; j < s; j += blockDim.x) {
      float z = ls[j];
      float e = expf(-fabsf(z));
      float p = 1.0f + e;
      acc += fmaxf(z, 0.0f) + log1pf(e);
      ls[j] = z >= 0.0f ? 1.0f / p : e / p;
    }
    acc = tl_block_sum(acc, red);
    if (threadIdx.x == 0) {
      float e = expf(-fabsf(zt));
      float p = 1.0f + e;
      float sp = fmaxf(-zt, 0.0f) + log1pf(e);  // softplus(-zt)
      d[1 + r] = zt >= 0.0f ? 1.0f / p : e / p;
      rowLoss[r] = sp + acc;
    }
    return;
  }
  float m = zt;
  for (int j = threadIdx.x; j < s; j += blockDim.x) m = fmaxf(m, ls[j]);
  m = tl_block_max(m, red);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < s; j += blockDim.x) {
    float e = expf(ls[j] - m);
    ls[j] = e;
    sum += e;
  }
  sum = tl_block_sum(sum, red);
  float et = expf(zt - m);
  sum += et;
  float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < s; j += blockDim.x) ls[j] *= inv;
  if (threadIdx.x == 0) {
    d[1 + r] = et * inv;
    rowLoss[r] = m + logf(sum) - zt;
  }
}

// tl_nce_mean: d[0] = mean of rowLoss (one block, fixed order).
extern "C" __global__ void tl_nce_mean(float* d, const float* rowLoss, int bsz) {
  __shared__ float red[32];
  float s = 0.0f;
  for (int i = threadIdx.x; i < bsz; i += blockDim.x) s += rowLoss[i];
  s = tl_block_sum(s, red);
  if (threadIdx.x == 0) d[0] = s / (float)max(bsz, 1);
}

// tl_nce_grad: blocks 0..B-1 write example r's dx row, its true weight row's
// gradient dt·x_r and bias gradient dt; blocks B..B+S-1 write sampled id j's
// weight row Σ_r dls[r,j]·x_r and bias Σ_r dls[r,j]. o packs dx (B, D), weight
// rows (B+S, D), bias values (B+S). pk is the forward output (σ or softmax
// probabilities). Bad ids (reported by the forward kernel) read as zero rows.
extern "C" __global__ void tl_nce_grad(float* o, const float* dy, const float* pk, const float* w, const float* x,
                                       const int* lab, const int* smp, int v, int dim, int bsz, int s) {
  __shared__ float red[32];
  float scale = dy[0] / (float)max(bsz, 1);
  const float* lt = pk + 1;
  const float* ls = pk + 1 + bsz;
  float* dx = o;
  float* wv = o + (long long)bsz * dim;
  float* bv = wv + (long long)(bsz + s) * dim;
  int b = blockIdx.x;
  if (b < bsz) {
    int r = b, k = lab[r];
    bool ok = k >= 0 && k < v;
    float dt = (lt[r] - 1.0f) * scale;
    const float* lr = ls + (long long)r * s;
    for (int q = threadIdx.x; q < dim; q += blockDim.x) {
      float acc = 0.0f;
      for (int j = 0; j < s; j++) {
        int kj = smp[j];
        if (kj >= 0 && kj < v) acc += lr[j] * scale * w[(long long)kj * dim + q];
      }
      if (ok) acc += dt * w[(long long)k * dim + q];
      dx[(long long)r * dim + q] = acc;
      wv[(long long)r * dim + q] = dt * x[(long long)r * dim + q];
    }
    if (threadIdx.x == 0) bv[r] = dt;
    return;
  }
  int j = b - bsz;
  float bs = 0.0f;
  for (int r = threadIdx.x; r < bsz; r += blockDim.x) bs += ls[(long long)r * s + j] * scale;
  bs = tl_block_sum(bs, red);
  if (threadIdx.x == 0) bv[bsz + j] = bs;
  for (int q = threadIdx.x; q < dim; q += blockDim.x) {
    float acc = 0.0f;
    for (int r = 0; r < bsz; r++) acc += ls[(long long)r * s + j] * scale * x[(long long)r * dim + q];
    wv[(long long)(bsz + j) * dim + q] = acc;
  }
}
