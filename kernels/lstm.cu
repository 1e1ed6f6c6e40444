// LSTM cell and sequence kernels (graph/ops_lstm.go). The matrix products run in
// cuBLAS; these kernels apply the gates of one step, fused, to B·H elements.
//
// Packed layout (as the CPU's lstmForwardRow): slot k of a step starts at
// d + k*sz; slots h', c', i, f, g, o, tanh(c'); each slot is (B, H) row-major.

static __device__ __forceinline__ float lstm_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

// tanh as the CPU computes it: 2/(1+e^-2z) - 1.
static __device__ __forceinline__ float lstm_tanh(float z) { return 2.0f / (1.0f + expf(-2.0f * z)) - 1.0f; }

// tl_lstm_fwd: gates (B, 4H) holds the pre-activations without bias; b (4H);
// cprev (B, H); d is step t's slot 0, slots sz apart.
extern "C" __global__ void tl_lstm_fwd(const float* gates, const float* b, const float* cprev, float* d,
                                       int bsz, int hid, long long sz, float fb) {
  TL_FOR(i, (long long)bsz * hid) {
    int r = (int)i / hid, j = (int)i - r * hid;  // B·H < 2^31 (checked by the caller)
    const float* g = gates + (long long)r * 4 * hid;
    float iv = lstm_sigmoid(g[j] + b[j]);
    float fv = lstm_sigmoid(g[hid + j] + b[hid + j] + fb);
    float gv = lstm_tanh(g[2 * hid + j] + b[2 * hid + j]);
    float ov = lstm_sigmoid(g[3 * hid + j] + b[3 * hid + j]);
    float cv = fv * cprev[i] + iv * gv;
    float tv = lstm_tanh(cv);
    d[i] = ov * tv;
    d[sz + i] = cv;
    d[2 * sz + i] = iv;
    d[3 * sz + i] = fv;
    d[4 * sz + i] = gv;
    d[5 * sz + i] = ov;
    d[6 * sz + i] = tv;
  }
}

// tl_lstm_bwd: one step's gate gradients dg (B, 4H) and the gradient reaching the
// previous cell state dcOut (B, H; may be dc itself). dy and pk point at the
// step's slot 0 of the output gradient and of the forward output (slots sz
// apart). The gradients reaching the new state are dy's slots 0 and 1 plus dh and
// dc (from the next step), which are null at the last step and for one cell.
extern "C" __global__ void tl_lstm_bwd(float* dg, const float* dh, const float* dc, const float* dy,
                                       const float* pk, const float* cprev, float* dcOut, int bsz, int hid,
                                       long long sz) {
  TL_FOR(i, (long long)bsz * hid) {
    int r = (int)i / hid, j = (int)i - r * hid;  // B·H < 2^31 (checked by the caller)
    float iv = pk[2 * sz + i], fv = pk[3 * sz + i], gv = pk[4 * sz + i], ov = pk[5 * sz + i],
          tv = pk[6 * sz + i];
    float dhv = dy[i] + (dh ? dh[i] : 0.0f);
    float dcn = dy[sz + i] + (dc ? dc[i] : 0.0f);
    float dtv = dhv * ov + dy[6 * sz + i];
    float dcv = dcn + dtv * (1.0f - tv * tv);
    float dov = dhv * tv + dy[5 * sz + i];
    float div = dcv * gv + dy[2 * sz + i];
    float dfv = dcv * cprev[i] + dy[3 * sz + i];
    float dgv = dcv * iv + dy[4 * sz + i];
    dcOut[i] = dcv * fv;
    float* g = dg + (long long)r * 4 * hid;
    g[j] = div * iv * (1.0f - iv);
    g[hid + j] = dfv * fv * (1.0f - fv);
    g[2 * hid + j] = dgv * (1.0f - gv * gv);
    g[3 * hid + j] = dov * ov * (1.0f - ov);
  }
}

// tl_lstm_colsum: dst[j] = Σ_r src[r*cols + j] (the bias gradient), in a fixed
// order. Blocks of 256 threads cover 32 columns: lane x runs over columns
// (coalesced), the 8 warps over row strides; the partial sums meet in shared
// memory.
extern "C" __global__ void tl_lstm_colsum(float* dst, const float* src, int rows, int cols) {
  __shared__ float part[8][33];
  int x = threadIdx.x % 32, y = threadIdx.x / 32;
  int j = blockIdx.x * 32 + x;
  float s = 0.0f;
  if (j < cols)
    for (int r = y; r < rows; r += 8) s += src[(long long)r * cols + j];
  part[y][x] = s;
  __syncthreads();
  if (y == 0 && j < cols) {
    float t = 0.0f;
    for (int k = 0; k < 8; k++) t += part[k][x];
    dst[j] = t;
  }
}
