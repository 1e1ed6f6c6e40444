package graph

// Device kernels of ops_norm.go (kernels/norm.cu, and nn.cu's column
// reductions for the per-channel sums).

// CompileDevice: a thread per element reads its window of channels. When the
// output overwrites x, the factors go to scratch first and a second pass
// multiplies.
func (o *lrnOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x := in[0]
	n, C := x.Size(), lastDim(x.Shape)
	if n == 0 || C == 0 {
		return noopKernel(), nil
	}
	l := o.l
	if out.Ptr != x.Ptr {
		return c.Launch1D("tl_norm_lrn", n, x.Ptr, out.Ptr, int64(n), C, l.Radius, l.Bias, l.Alpha, l.Beta, false)
	}
	scr, err := c.Scratch(4 * n)
	if err != nil {
		return nil, err
	}
	k1, err := c.Launch1D("tl_norm_lrn", n, x.Ptr, scr.Ptr, int64(n), C, l.Radius, l.Bias, l.Alpha, l.Beta, true)
	if err != nil {
		return nil, err
	}
	k2, err := c.Launch1D("tl_norm_mul", n, x.Ptr, scr.Ptr, out.Ptr, int64(n))
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2), nil
}

// CompileDevice: two passes, t = dy·x·n^-β/n into scratch, then dx from the
// window sums of t (through the ReLU too for the fused variant).
func (o *lrnGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, dy := in[0], in[1]
	n, C := x.Size(), lastDim(x.Shape)
	if n == 0 || C == 0 {
		return noopKernel(), nil
	}
	l := o.l
	scr, err := c.Scratch(4 * n)
	if err != nil {
		return nil, err
	}
	k1, err := c.Launch1D("tl_norm_lrn_t", n, x.Ptr, dy.Ptr, scr.Ptr, int64(n), C, l.Radius, l.Bias, l.Alpha, l.Beta)
	if err != nil {
		return nil, err
	}
	k2, err := c.Launch1D("tl_norm_lrn_grad", n, x.Ptr, dy.Ptr, scr.Ptr, out.Ptr, int64(n), C, l.Radius, l.Bias, l.Alpha, l.Beta, o.relu)
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2), nil
}

// CompileDevice: in training, the batch's per-channel statistics (shifted by
// the first row, as the CPU) in two passes, then the moving averages' update and
// the normalisation; otherwise one elementwise pass with the moving statistics.
func (o *bnOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, gamma, beta, mm, mv := in[0], in[1], in[2], in[3], in[4]
	C, n := gamma.Size(), x.Size()
	if C == 0 || n == 0 {
		return noopKernel(), nil
	}
	eps := o.o.Epsilon
	if !c.Training {
		return c.Launch1D("tl_norm_bn_infer", n, x.Ptr, gamma.Ptr, beta.Ptr, mm.Ptr, mv.Ptr, out.Ptr, int64(n), C, eps)
	}
	rows := n / C
	r := newColReduce(rows, C)
	scr, err := c.Scratch(4 * (r.parts*2*C + 2*C))
	if err != nil {
		return nil, err
	}
	part, ss := scr.Ptr, scr.Ptr+DevicePtr(4*r.parts*2*C)
	k1, err := r.part(c, x.Ptr, 0, x.Ptr, part, rows, C, 2)
	if err != nil {
		return nil, err
	}
	k2, err := c.Launch1D("tl_norm_bn_fin", C, part, x.Ptr, gamma.Ptr, beta.Ptr, mm.Ptr, mv.Ptr, ss, r.parts, C, int64(rows), eps, o.o.Momentum)
	if err != nil {
		return nil, err
	}
	k3, err := c.Launch1D("tl_norm_bn_apply", n, x.Ptr, ss, out.Ptr, int64(n), C)
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2, k3), nil
}

// CompileDevice: per-channel Σ(x-k), Σ(x-k)², Σdy, Σdy·(x-k) in two passes, k
// the first row in training and the moving mean otherwise.
func (o *bnReduceOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, dy, mm, mv := in[0], in[1], in[2], in[3]
	C := mm.Size()
	if C == 0 {
		return noopKernel(), nil
	}
	rows := x.Size() / C
	if rows == 0 {
		return c.Fill(out.Ptr, 0, 4*C), nil
	}
	k := mm.Ptr
	if c.Training {
		k = x.Ptr
	}
	r := newColReduce(rows, C)
	scr, err := c.Scratch(4 * r.parts * 4 * C)
	if err != nil {
		return nil, err
	}
	k1, err := r.part(c, x.Ptr, dy.Ptr, k, scr.Ptr, rows, C, 3)
	if err != nil {
		return nil, err
	}
	k2, err := c.Launch1D("tl_norm_bnred_fin", C, scr.Ptr, k, mv.Ptr, out.Ptr, r.parts, C, int64(rows), o.o.Epsilon, c.Training)
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2), nil
}

// CompileDevice: one elementwise pass.
func (bnGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, gamma, dy, red := in[0], in[1], in[2], in[3]
	C, n := gamma.Size(), x.Size()
	if C == 0 || n == 0 {
		return noopKernel(), nil
	}
	return c.Launch1D("tl_norm_bn_grad", n, x.Ptr, gamma.Ptr, dy.Ptr, red.Ptr, out.Ptr, int64(n), C, float32(n/C), c.Training)
}

// CompileDevice: one row kernel; out may be x.
func (o *layerNormOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x := in[0]
	C, n := in[1].Size(), x.Size()
	if C == 0 || n == 0 {
		return noopKernel(), nil
	}
	rows := n / C
	return launchRows(c, "tl_norm_ln", rows, C, x.Ptr, in[1].Ptr, in[2].Ptr, out.Ptr, int64(rows), C, o.eps)
}

// CompileDevice: one row kernel.
func (o *layerNormGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x := in[0]
	C, n := in[1].Size(), x.Size()
	if C == 0 || n == 0 {
		return noopKernel(), nil
	}
	rows := n / C
	return launchRows(c, "tl_norm_ln_grad", rows, C, x.Ptr, in[1].Ptr, in[2].Ptr, out.Ptr, int64(rows), C, o.eps)
}

// CompileDevice: each row's statistics, then the column sums in two passes.
func (o *layerNormParamGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, dy := in[0], in[1]
	C := lastDim(x.Shape)
	if C == 0 {
		return noopKernel(), nil
	}
	rows := x.Size() / C
	if rows == 0 {
		return c.Fill(out.Ptr, 0, 2*C), nil
	}
	r := newColReduce(rows, C)
	scr, err := c.Scratch(4 * (2*rows + r.parts*2*C))
	if err != nil {
		return nil, err
	}
	st, part := scr.Ptr, scr.Ptr+DevicePtr(4*2*rows)
	k1, err := launchRows(c, "tl_norm_ln_stats", rows, C, x.Ptr, st, int64(rows), C, o.eps)
	if err != nil {
		return nil, err
	}
	k2, err := r.part(c, x.Ptr, dy.Ptr, st, part, rows, C, 4)
	if err != nil {
		return nil, err
	}
	k3, err := c.Launch1D("tl_nn_colfin", 2*C, part, out.Ptr, r.parts, 2, C, 0, float32(1))
	if err != nil {
		return nil, err
	}
	return Seq(k1, k2, k3), nil
}
