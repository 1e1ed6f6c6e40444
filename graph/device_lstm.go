package graph

import (
	"fmt"
	"math"
)

// Device kernels of the LSTM ops (ops_lstm.go): the products run in cuBLAS, the
// gates of a step in one fused kernel (kernels/lstm.cu). Every launch of a
// sequence is bound at compile time to fixed addresses, so a captured device
// graph replays the whole sequence.

// lstmGemm is a row-major product C = op(A)·op(B) + beta·C with packed rows.
func lstmGemm(c *DeviceCtx, ta, tb bool, m, n, k int, a DevicePtr, lda int, b DevicePtr, ldb int, beta float32, cp DevicePtr, ldc int) Kernel {
	return c.Gemm(GemmArgs{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 1, Beta: beta,
		A: a, B: b, C: cp, LDA: lda, LDB: ldb, LDC: ldc})
}

// lstmFits checks that n elements index in 32 bits, as the gate kernels do.
func lstmFits(op string, n int) error {
	if n > math.MaxInt32 {
		return fmt.Errorf("%s: %d elements per step, more than the device kernels index (2^31-1)", op, n)
	}
	return nil
}

// lstmOff returns p advanced by n 4-byte elements.
func lstmOff(p DevicePtr, n int) DevicePtr { return p + DevicePtr(4*n) }

func (o *lstmOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, h, cs, w, b := in[0], in[1], in[2], in[3], in[4]
	bsz, inp, hid := x.Shape[0], x.Shape[1], h.Shape[1]
	if bsz*hid == 0 {
		return nil, nil
	}
	if err := lstmFits("LSTMCell", bsz*hid); err != nil {
		return nil, err
	}
	g4 := 4 * hid
	gates, err := c.Scratch(4 * bsz * g4)
	if err != nil {
		return nil, fmt.Errorf("LSTMCell gates: %w", err)
	}
	var ks []Kernel
	beta := float32(0)
	if inp > 0 {
		ks = append(ks, lstmGemm(c, false, false, bsz, g4, inp, x.Ptr, inp, w.Ptr, g4, 0, gates.Ptr, g4))
		beta = 1
	}
	ks = append(ks, lstmGemm(c, false, false, bsz, g4, hid, h.Ptr, hid, lstmOff(w.Ptr, inp*g4), g4, beta, gates.Ptr, g4))
	gate, err := c.Launch1D("tl_lstm_fwd", bsz*hid, gates.Ptr, b.Ptr, cs.Ptr, out.Ptr, bsz, hid, int64(bsz*hid), o.forgetBias)
	if err != nil {
		return nil, err
	}
	return Seq(append(ks, gate)...), nil
}

// lstmColSum queues db = Σ_rows dg for dg (rows, cols).
func lstmColSum(c *DeviceCtx, db, dg DevicePtr, rows, cols int) (Kernel, error) {
	return c.Launch("tl_lstm_colsum", Dim3{X: uint32((cols + 31) / 32)}, Dim3{X: 256}, 0, db, dg, rows, cols)
}

func (lstmGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	dy, pk, x, h, cprev, w := in[0], in[1], in[2], in[3], in[4], in[5]
	bsz, inp, hid := x.Shape[0], x.Shape[1], h.Shape[1]
	g4, sz := 4*hid, bsz*hid
	if sz == 0 {
		return c.Fill(out.Ptr, 0, out.Size()), nil
	}
	if err := lstmFits("LSTMCellGrad", sz); err != nil {
		return nil, err
	}
	dx := out.Ptr
	dh := lstmOff(dx, bsz*inp)
	dc := lstmOff(dh, sz)
	dwx := lstmOff(dc, sz)
	dwh := lstmOff(dwx, inp*g4)
	db := lstmOff(dwh, hid*g4)
	wx, wh := w.Ptr, lstmOff(w.Ptr, inp*g4)
	dg, err := c.Scratch(4 * bsz * g4)
	if err != nil {
		return nil, fmt.Errorf("LSTMCellGrad gate gradients: %w", err)
	}
	bwd, err := c.Launch1D("tl_lstm_bwd", sz, dg.Ptr, DevicePtr(0), DevicePtr(0), dy.Ptr, pk.Ptr, cprev.Ptr, dc, bsz, hid, int64(sz))
	if err != nil {
		return nil, err
	}
	sum, err := lstmColSum(c, db, dg.Ptr, bsz, g4)
	if err != nil {
		return nil, err
	}
	ks := []Kernel{bwd, sum}
	if inp > 0 {
		ks = append(ks,
			lstmGemm(c, false, true, bsz, inp, g4, dg.Ptr, g4, wx, g4, 0, dx, inp),
			lstmGemm(c, true, false, inp, g4, bsz, x.Ptr, inp, dg.Ptr, g4, 0, dwx, g4))
	}
	ks = append(ks,
		lstmGemm(c, false, true, bsz, hid, g4, dg.Ptr, g4, wh, g4, 0, dh, hid),
		lstmGemm(c, true, false, hid, g4, bsz, h.Ptr, hid, dg.Ptr, g4, 0, dwh, g4))
	return Seq(ks...), nil
}

func (o *lstmSeqOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	x, h0, c0, w, b := in[0], in[1], in[2], in[3], in[4]
	steps, bsz, inp, hid := x.Shape[0], x.Shape[1], x.Shape[2], h0.Shape[1]
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	if sz == 0 {
		return nil, nil
	}
	if err := lstmFits("LSTM", bh); err != nil {
		return nil, err
	}
	gates, err := c.Scratch(4 * steps * bsz * g4)
	if err != nil {
		return nil, fmt.Errorf("LSTM gates: %w", err)
	}
	wh := lstmOff(w.Ptr, inp*g4)
	ks := make([]Kernel, 0, 2*steps+1)
	beta := float32(0)
	if inp > 0 {
		// The input projections of all steps: one product of T·B rows.
		ks = append(ks, lstmGemm(c, false, false, steps*bsz, g4, inp, x.Ptr, inp, w.Ptr, g4, 0, gates.Ptr, g4))
		beta = 1
	}
	for t := range steps {
		hprev, cprev := h0.Ptr, c0.Ptr
		if t > 0 {
			hprev, cprev = out.At((t-1)*bh), out.At(sz+(t-1)*bh)
		}
		gt := lstmOff(gates.Ptr, t*bsz*g4)
		gate, err := c.Launch1D("tl_lstm_fwd", bh, gt, b.Ptr, cprev, out.At(t*bh), bsz, hid, int64(sz), o.forgetBias)
		if err != nil {
			return nil, err
		}
		ks = append(ks, lstmGemm(c, false, false, bsz, g4, hid, hprev, hid, wh, g4, beta, gt, g4), gate)
	}
	return Seq(ks...), nil
}

func (lstmSeqGradOp) CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error) {
	dy, pk, x, h0, c0, w := in[0], in[1], in[2], in[3], in[4], in[5]
	steps, bsz, inp, hid := x.Shape[0], x.Shape[1], x.Shape[2], h0.Shape[1]
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	if sz == 0 {
		return c.Fill(out.Ptr, 0, out.Size()), nil
	}
	if err := lstmFits("LSTMGrad", bh); err != nil {
		return nil, err
	}
	nx := steps * bsz * inp
	dx := out.Ptr
	dh0 := lstmOff(dx, nx)
	dc0 := lstmOff(dh0, bh)
	dwx := lstmOff(dc0, bh)
	dwh := lstmOff(dwx, inp*g4)
	db := lstmOff(dwh, hid*g4)
	wx, wh := w.Ptr, lstmOff(w.Ptr, inp*g4)
	scr, err := c.Scratch(4 * (steps*bsz*g4 + 2*bh))
	if err != nil {
		return nil, fmt.Errorf("LSTMGrad gate gradients: %w", err)
	}
	dg := scr.Ptr
	dh, dc := lstmOff(dg, steps*bsz*g4), lstmOff(dg, steps*bsz*g4+bh)
	ks := make([]Kernel, 0, 2*steps+5)
	for t := steps - 1; t >= 0; t-- {
		// What reaches h_t and c_t from step t+1 (none at the last step).
		dhIn, dcIn := dh, dc
		if t == steps-1 {
			dhIn, dcIn = 0, 0
		}
		cprev, dcOut, dhOut := c0.Ptr, dc0, dh0
		if t > 0 {
			cprev, dcOut, dhOut = pk.At(sz+(t-1)*bh), dc, dh
		}
		dgt := lstmOff(dg, t*bsz*g4)
		bwd, err := c.Launch1D("tl_lstm_bwd", bh, dgt, dhIn, dcIn, dy.At(t*bh), pk.At(t*bh), cprev, dcOut, bsz, hid, int64(sz))
		if err != nil {
			return nil, err
		}
		// dh_{t-1} = dgates_t · W[I:]ᵀ
		ks = append(ks, bwd, lstmGemm(c, false, true, bsz, hid, g4, dgt, g4, wh, g4, 0, dhOut, hid))
	}
	sum, err := lstmColSum(c, db, dg, steps*bsz, g4)
	if err != nil {
		return nil, err
	}
	ks = append(ks, sum)
	if inp > 0 {
		ks = append(ks,
			lstmGemm(c, false, true, steps*bsz, inp, g4, dg, g4, wx, g4, 0, dx, inp),
			lstmGemm(c, true, false, inp, g4, steps*bsz, x.Ptr, inp, dg, g4, 0, dwx, g4))
	}
	// dW[I:] = Σ_t h_{t-1}ᵀ·dgates_t, h_{-1} = h0, the others slot 0 of pk.
	ks = append(ks, lstmGemm(c, true, false, hid, g4, bsz, h0.Ptr, hid, dg, g4, 0, dwh, g4))
	if steps > 1 {
		ks = append(ks, lstmGemm(c, true, false, hid, g4, (steps-1)*bsz, pk.Ptr, hid, lstmOff(dg, bsz*g4), g4, 1, dwh, g4))
	}
	return Seq(ks...), nil
}
