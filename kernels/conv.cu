// Kernels of graph/ops_conv.go: im2col and its adjoint for convolutions on NHWC
// images, as cpu/nn's Im2col and Col2im. The products themselves are cuBLAS's.

// tl_conv_im2col writes the im2col matrix of nb images x (each H·W·C) into col
// (nb·OH·OW rows of K = KH·KW·C, in (kh, kw, c) order), zeros over the padding.
extern "C" __global__ void tl_conv_im2col(const float* x, float* col, long long total, int H, int W, int C,
                                          int KW, int SH, int SW, int DH, int DW, int PT, int PL, int OH,
                                          int OW, int K) {
  TL_FOR(e, total) {
    long long rr = e / K;
    int k = (int)(e - rr * K);
    int rows = OH * OW;
    long long n = rr / rows;
    int r = (int)(rr - n * rows);
    int oh = r / OW, ow = r - oh * OW;
    int c = k % C, t = k / C;
    int kw = t % KW, kh = t / KW;
    int ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
    float v = 0.0f;
    if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[((n * H + ih) * W + iw) * C + c];
    col[e] = v;
  }
}

// tl_conv_col2im writes into dx (nb images of H·W·C) the sum of the entries of
// col (as tl_conv_im2col lays it out) that each element went to: a thread per
// element, so no atomics and no clearing.
extern "C" __global__ void tl_conv_col2im(const float* col, float* dx, long long total, int H, int W, int C,
                                          int KH, int KW, int SH, int SW, int DH, int DW, int PT, int PL,
                                          int OH, int OW, int K) {
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
      for (int kw = 0; kw < KW; kw++) {
        int tw = iw + PL - kw * DW;
        if (tw < 0 || tw % SW != 0) continue;
        int ow = tw / SW;
        if (ow >= OW) continue;
        s += col[((n * OH + oh) * OW + ow) * K + (kh * KW + kw) * C + c];
      }
    }
    dx[e] = s;
  }
}
