package graph

import (
	"github.com/tlgo/tl/cpu/nn"
)

// Device kernels of ops_conv.go and ops_pool.go (kernels/conv.cu, pool.cu):
// convolutions as im2col + cuBLAS products over chunks of images, pooling as a
// thread per output (or per input for the average's gradient).

// convDevMaxCol bounds the im2col scratch of one convolution node, in floats
// (128 MB): larger batches run as several products.
const convDevMaxCol = 1 << 25

// convChunk is the number of images per im2col product.
func convChunk(g *nn.Conv) int {
	per := max(g.Rows()*g.K(), 1)
	return max(1, min(g.N, convDevMaxCol/per))
}

// geomArgs are the geometry parameters the conv and pool kernels share after
// (total, H, W, C): KH, KW, SH, SW, DH, DW, PT, PL, OH, OW.
func geomArgs(g *nn.Conv) []any {
	return []any{g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PT, g.PL, g.OH, g.OW}
}

// im2col launches tl_conv_im2col for nb images of x into col.
func im2col(c *DeviceCtx, g *nn.Conv, x, col DevicePtr, nb int) (Kernel, error) {
	total := nb * g.Rows() * g.K()
	return c.Launch1D("tl_conv_im2col", total, x, col, int64(total), g.H, g.W, g.C,
		g.KW, g.SH, g.SW, g.DH, g.DW, g.PT, g.PL, g.OH, g.OW, g.K())
}

// CompileDevice: im2col and a product per chunk of images (one product for a
// pointwise convolution), then the bias and activation in one pass.
func (o *convOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	g, err := o.spec.convGeom(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	if out.Size() == 0 {
		return noopKernel(), nil
	}
	var epi Kernel
	if o.bias || o.act != Identity {
		var b DevicePtr
		if o.bias {
			b = in[2].Ptr
		}
		n := out.Size()
		if epi, err = c.Launch1D("tl_nn_bias_act", n, out.Ptr, b, out.Ptr, int64(n), g.OC, int(o.act)); err != nil {
			return nil, err
		}
	}
	x, w, y := in[0], in[1], out
	if g.Pointwise() {
		m := g.N * g.H * g.W
		mm := c.Gemm(GemmArgs{M: m, N: g.OC, K: g.C, Alpha: 1, A: x.Ptr, LDA: g.C, B: w.Ptr, LDB: g.OC, C: y.Ptr, LDC: g.OC})
		return Seq(mm, epi), nil
	}
	chunk := convChunk(&g)
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	scr, err := c.Scratch(4 * chunk * rows * K)
	if err != nil {
		return nil, err
	}
	var ks []Kernel
	for n := 0; n < g.N; n += chunk {
		nb := min(chunk, g.N-n)
		k, err := im2col(c, &g, x.At(n*inSz), scr.Ptr, nb)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k, c.Gemm(GemmArgs{M: nb * rows, N: g.OC, K: K, Alpha: 1,
			A: scr.Ptr, LDA: K, B: w.Ptr, LDB: g.OC, C: y.At(n * outSz), LDC: g.OC}))
	}
	return Seq(append(ks, epi)...), nil
}

// CompileDevice: dy·wᵀ per chunk of images into im2col form, then col2im with a
// thread per input element (no atomics, no clearing).
func (o *convBackpropInputOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	g, err := o.spec.convGeom(out.Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	dy, w, dx := in[0], in[1], out
	if dx.Size() == 0 {
		return noopKernel(), nil
	}
	if dy.Size() == 0 {
		return c.Fill(dx.Ptr, 0, dx.Size()), nil
	}
	if g.Pointwise() {
		m := g.N * g.H * g.W
		return c.Gemm(GemmArgs{TransB: true, M: m, N: g.C, K: g.OC, Alpha: 1, A: dy.Ptr, LDA: g.OC, B: w.Ptr, LDB: g.OC, C: dx.Ptr, LDC: g.C}), nil
	}
	chunk := convChunk(&g)
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	scr, err := c.Scratch(4 * chunk * rows * K)
	if err != nil {
		return nil, err
	}
	var ks []Kernel
	for n := 0; n < g.N; n += chunk {
		nb := min(chunk, g.N-n)
		mm := c.Gemm(GemmArgs{TransB: true, M: nb * rows, N: K, K: g.OC, Alpha: 1,
			A: dy.At(n * outSz), LDA: g.OC, B: w.Ptr, LDB: g.OC, C: scr.Ptr, LDC: K})
		total := nb * inSz
		args := append([]any{scr.Ptr, dx.At(n * inSz), int64(total), g.H, g.W, g.C}, geomArgs(&g)...)
		k, err := c.Launch1D("tl_conv_col2im", total, append(args, K)...)
		if err != nil {
			return nil, err
		}
		ks = append(ks, mm, k)
	}
	return Seq(ks...), nil
}

// CompileDevice: colᵀ·dy per chunk of images, accumulated in dw by the product.
func (o *convBackpropFilterOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	g, err := o.spec.convGeom(in[0].Shape, out.Shape)
	if err != nil {
		return nil, err
	}
	x, dy, dw := in[0], in[1], out
	if dw.Size() == 0 {
		return noopKernel(), nil
	}
	if dy.Size() == 0 || x.Size() == 0 {
		return c.Fill(dw.Ptr, 0, dw.Size()), nil
	}
	if g.Pointwise() {
		m := g.N * g.H * g.W
		return c.Gemm(GemmArgs{TransA: true, M: g.C, N: g.OC, K: m, Alpha: 1, A: x.Ptr, LDA: g.C, B: dy.Ptr, LDB: g.OC, C: dw.Ptr, LDC: g.OC}), nil
	}
	chunk := convChunk(&g)
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	scr, err := c.Scratch(4 * chunk * rows * K)
	if err != nil {
		return nil, err
	}
	var ks []Kernel
	beta := float32(0)
	for n := 0; n < g.N; n += chunk {
		nb := min(chunk, g.N-n)
		k, err := im2col(c, &g, x.At(n*inSz), scr.Ptr, nb)
		if err != nil {
			return nil, err
		}
		ks = append(ks, k, c.Gemm(GemmArgs{TransA: true, M: K, N: g.OC, K: nb * rows, Alpha: 1, Beta: beta,
			A: scr.Ptr, LDA: K, B: dy.At(n * outSz), LDB: g.OC, C: dw.Ptr, LDC: g.OC}))
		beta = 1
	}
	return Seq(ks...), nil
}

// CompileDevice: column sums in two deterministic passes.
func (channelSumOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	C := out.Size()
	if C == 0 {
		return noopKernel(), nil
	}
	rows := in[0].Size() / C
	if rows == 0 {
		return c.Fill(out.Ptr, 0, C), nil
	}
	return colSums(c, in[0].Ptr, out.Ptr, rows, C, 0, 1)
}

// CompileDevice: a thread per output element, windows scanned as the CPU does.
func (o *poolOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	g, err := o.geom(in[0].Shape)
	if err != nil {
		return nil, err
	}
	total := out.Size()
	if total == 0 {
		return noopKernel(), nil
	}
	args := append([]any{in[0].Ptr, out.Ptr, int64(total), g.H, g.W, g.C}, geomArgs(&g)...)
	return c.Launch1D("tl_pool_fwd", total, append(args, int(o.kind))...)
}

// CompileDevice: clear dx, then a thread per window adds its dy at the window's
// first maximum (atomically: windows overlap).
func (o *maxPoolGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	p := &poolOp{kind: maxPool, spec: o.spec}
	g, err := p.geom(in[0].Shape)
	if err != nil {
		return nil, err
	}
	if out.Size() == 0 {
		return noopKernel(), nil
	}
	zero := c.Fill(out.Ptr, 0, out.Size())
	total := in[1].Size()
	if total == 0 {
		return zero, nil
	}
	args := append([]any{in[0].Ptr, in[1].Ptr, out.Ptr, int64(total), g.H, g.W, g.C}, geomArgs(&g)...)
	k, err := c.Launch1D("tl_pool_max_grad", total, append(args, o.relu)...)
	if err != nil {
		return nil, err
	}
	return Seq(zero, k), nil
}

// CompileDevice: a thread per input element sums its windows' shares.
func (o *avgPoolGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	p := &poolOp{kind: avgPool, spec: o.spec}
	g, err := p.geom(out.Shape)
	if err != nil {
		return nil, err
	}
	total := out.Size()
	if total == 0 {
		return noopKernel(), nil
	}
	args := append([]any{in[0].Ptr, out.Ptr, int64(total), g.H, g.W, g.C}, geomArgs(&g)...)
	return c.Launch1D("tl_pool_avg_grad", total, args...)
}
