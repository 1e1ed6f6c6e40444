// Kernels that move or reduce data by shape: graph's ops_core.go (Concat, Slice,
// their gradients, Unindex, Densify), ops_transpose.go and broadcast.go (SumTo).
// Copies move 32-bit words, so they serve float32 and int32 tensors alike.

#define TL_SHAPE_MAXD 6
#define TL_SHAPE_TILE 32

// shape_offset: the offset of the i-th element of a strided view with nd merged
// dimensions (dimension 0 innermost).
static __device__ __forceinline__ unsigned shape_offset(unsigned i, int nd, const unsigned* d,
                                                        const unsigned* s) {
  if (nd == 1) return i * s[0];
  unsigned off = 0, q = i;
  for (int k = 0; k < TL_SHAPE_MAXD; k++) {
    if (k >= nd) break;
    off += (q % d[k]) * s[k];
    q /= d[k];
  }
  return off;
}

#define TL_SHAPE_DIMS_PARAMS(p) int n##p, int p##0, int p##1, int p##2, int p##3, int p##4, int p##5
#define TL_SHAPE_STRIDE_PARAMS(p) int p##0, int p##1, int p##2, int p##3, int p##4, int p##5
#define TL_SHAPE_ARRAY(name, p) \
  unsigned name[TL_SHAPE_MAXD] = {(unsigned)p##0, (unsigned)p##1, (unsigned)p##2, (unsigned)p##3, (unsigned)p##4, (unsigned)p##5}

// tl_shape_copy_rows copies n = rows·w words: row r's w words from
// src[r·srcStride + srcOff] to dst[r·dstStride + dstOff].
extern "C" __global__ void tl_shape_copy_rows(const unsigned* src, unsigned* dst, int n, int w, int srcStride,
                                              int srcOff, int dstStride, int dstOff) {
  TL_FOR(i, n) {
    unsigned r = (unsigned)i / (unsigned)w, j = (unsigned)i % (unsigned)w;
    dst[(long long)r * dstStride + dstOff + j] = src[(long long)r * srcStride + srcOff + j];
  }
}

// tl_shape_pad_rows writes n = rows·total floats of dst: row r holds src's row r
// (w floats) at [start, start+w) and zeros elsewhere.
extern "C" __global__ void tl_shape_pad_rows(const float* src, float* dst, int n, int total, int start, int w) {
  TL_FOR(i, n) {
    unsigned r = (unsigned)i / (unsigned)total, j = (unsigned)i % (unsigned)total;
    float v = 0.0f;
    if (j >= (unsigned)start && j < (unsigned)(start + w)) v = src[(long long)r * w + (j - start)];
    dst[i] = v;
  }
}

// tl_shape_transpose2d: out[b][i][j] = x[b][j][i] for batch matrices, out rows ×
// cols, x cols × rows; tiles of 32×32 through shared memory (32·33 words, the
// padding avoids bank conflicts). Blocks of 256 threads, grid-stride over tiles.
extern "C" __global__ void tl_shape_transpose2d(const unsigned* x, unsigned* out, int batch, int rows, int cols) {
  TL_DYN_SHARED(unsigned, tile);
  int tx = threadIdx.x % TL_SHAPE_TILE, ty = threadIdx.x / TL_SHAPE_TILE;
  int ny = blockDim.x / TL_SHAPE_TILE;
  long long ti = (rows + TL_SHAPE_TILE - 1) / TL_SHAPE_TILE, tj = (cols + TL_SHAPE_TILE - 1) / TL_SHAPE_TILE;
  long long tiles = (long long)batch * ti * tj;
  for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
    long long b = t / (ti * tj), rem = t % (ti * tj);
    int i0 = (int)(rem / tj) * TL_SHAPE_TILE, j0 = (int)(rem % tj) * TL_SHAPE_TILE;
    const unsigned* xb = x + b * rows * cols;
    unsigned* ob = out + b * rows * cols;
    for (int jj = ty; jj < TL_SHAPE_TILE; jj += ny) {
      int j = j0 + jj, i = i0 + tx;
      if (j < cols && i < rows) tile[jj * (TL_SHAPE_TILE + 1) + tx] = xb[(long long)j * rows + i];
    }
    __syncthreads();
    for (int ii = ty; ii < TL_SHAPE_TILE; ii += ny) {
      int i = i0 + ii, j = j0 + tx;
      if (i < rows && j < cols) ob[(long long)i * cols + j] = tile[tx * (TL_SHAPE_TILE + 1) + ii];
    }
    __syncthreads();
  }
}

// tl_shape_densify adds values row i (width floats) into out's row idx[i] for
// n = rows(idx)·width elements; out is zero before. Indices outside [0, rows) are
// skipped, as on the CPU (Gather rejected them).
extern "C" __global__ void tl_shape_densify(const int* idx, const float* val, float* out, int n, int width,
                                            int rows) {
  TL_FOR(i, n) {
    int r = idx[(unsigned)i / (unsigned)width];
    if (r >= 0 && r < rows) atomicAdd(&out[(long long)r * width + (unsigned)i % (unsigned)width], val[i]);
  }
}

// SumTo: x's elements are K kept positions (the output) times R reduced ones; the
// kept dimensions k*, the reduced ones r*, each with x's strides. Output k sums R
// elements in nchunks chunks of chunk elements; with one chunk the sums go to out,
// else to partial sums that tl_shape_sum_chunks adds up.

// tl_shape_sum_rows: the innermost dimension is reduced. One block per (k,
// chunk), its threads along the chunk; the result goes to out[k·nchunks + c].
extern "C" __global__ void tl_shape_sum_rows(const float* x, float* out, int K, int R, int nchunks, int chunk,
                                             TL_SHAPE_DIMS_PARAMS(kd), TL_SHAPE_STRIDE_PARAMS(ks),
                                             TL_SHAPE_DIMS_PARAMS(rd), TL_SHAPE_STRIDE_PARAMS(rs)) {
  TL_DYN_SHARED(float, sh);
  TL_SHAPE_ARRAY(kdim, kd);
  TL_SHAPE_ARRAY(kstr, ks);
  TL_SHAPE_ARRAY(rdim, rd);
  TL_SHAPE_ARRAY(rstr, rs);
  long long total = (long long)K * nchunks;
  for (long long b = blockIdx.x; b < total; b += gridDim.x) {
    unsigned k = (unsigned)(b / nchunks), c = (unsigned)(b % nchunks);
    unsigned base = shape_offset(k, nkd, kdim, kstr);
    unsigned lo = c * (unsigned)chunk, hi = lo + (unsigned)chunk;
    if (hi > (unsigned)R) hi = (unsigned)R;
    float s = 0.0f;
    for (unsigned r = lo + threadIdx.x; r < hi; r += blockDim.x) s += x[base + shape_offset(r, nrd, rdim, rstr)];
    s = tl_block_sum(s, sh);
    if (threadIdx.x == 0) out[b] = s;
  }
}

// tl_shape_sum_cols: the innermost dimension is kept. One thread per (k, chunk),
// neighbouring threads on neighbouring k; the result goes to out[c·K + k].
extern "C" __global__ void tl_shape_sum_cols(const float* x, float* out, int K, int R, int nchunks, int chunk,
                                             TL_SHAPE_DIMS_PARAMS(kd), TL_SHAPE_STRIDE_PARAMS(ks),
                                             TL_SHAPE_DIMS_PARAMS(rd), TL_SHAPE_STRIDE_PARAMS(rs)) {
  TL_SHAPE_ARRAY(kdim, kd);
  TL_SHAPE_ARRAY(kstr, ks);
  TL_SHAPE_ARRAY(rdim, rd);
  TL_SHAPE_ARRAY(rstr, rs);
  TL_FOR(t, (long long)K * nchunks) {
    unsigned k = (unsigned)(t % K), c = (unsigned)(t / K);
    unsigned base = shape_offset(k, nkd, kdim, kstr);
    unsigned lo = c * (unsigned)chunk, hi = lo + (unsigned)chunk;
    if (hi > (unsigned)R) hi = (unsigned)R;
    float s = 0.0f;
    if (nrd == 1) {
      for (unsigned r = lo; r < hi; r++) s += x[base + r * rstr[0]];
    } else {
      for (unsigned r = lo; r < hi; r++) s += x[base + shape_offset(r, nrd, rdim, rstr)];
    }
    out[t] = s;
  }
}

// tl_shape_sum_chunks: out[k] = Σ_c partial[k·kstride + c·cstride] over nchunks.
extern "C" __global__ void tl_shape_sum_chunks(const float* partial, float* out, int K, int nchunks, int kstride,
                                               int cstride) {
  TL_FOR(k, K) {
    float s = 0.0f;
    for (int c = 0; c < nchunks; c++) s += partial[(long long)k * kstride + (long long)c * cstride];
    out[k] = s;
  }
}

// tl_shape_sum_map: out[m[i]] += x[i] over n elements (out zero before): SumTo
// beyond TL_SHAPE_MAXD merged dimensions.
extern "C" __global__ void tl_shape_sum_map(const float* x, float* out, const int* m, int n) {
  TL_FOR(i, n) atomicAdd(&out[m[i]], x[i]);
}
