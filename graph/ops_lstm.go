package graph

import (
	"fmt"
	"sync/atomic"

	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/tensor"
)

// LSTM cell, fused. One op computes, for inputs x (B, I), h (B, H), c (B, H), a
// weight W (I+H, 4H) whose first I rows multiply x and last H rows multiply h, and a
// bias b (4H):
//
//	gates = x·W[:I] + h·W[I:] + b        (two SGEMMs, no concatenation)
//	i, f, g, o = σ(gᵢ), σ(g_f + forgetBias), tanh(g_g), σ(g_o)
//	c' = f⊙c + i⊙g,  h' = o⊙tanh(c')
//
// The gate order i, f, g (candidate), o is TensorFlow's LSTMBlockCell's. The output
// packs lstmSlots tensors of shape (B, H) along a first axis: h', c', i, f, g, o and
// tanh(c'); Index(n, 0) and Index(n, 1) (LSTMState) are zero-copy views of h' and c',
// and the rest is what the fused backward op needs.
const lstmSlots = 7

type lstmOp struct{ forgetBias float32 }

func (o *lstmOp) Type() string { return "LSTMCell" }

func (o *lstmOp) Infer(in []Value) (Value, error) {
	names := [...]string{"x", "h", "c", "w", "b"}
	for i, v := range in {
		if v.DType != tensor.Float32 {
			return Value{}, fmt.Errorf("LSTMCell: %s must be float32, got %v", names[i], v.DType)
		}
	}
	x, h, c, w, b := in[0].Shape, in[1].Shape, in[2].Shape, in[3].Shape, in[4].Shape
	if len(x) != 2 {
		return Value{}, &tensor.ShapeError{Op: "LSTMCell", Arg: "x", Got: x, Want: "(B, I)"}
	}
	if len(h) != 2 || !compatible(h[:1], x[:1]) {
		return Value{}, &tensor.ShapeError{Op: "LSTMCell", Arg: "h", Got: h, Want: fmt.Sprintf("(B, H) with B = %d like x %v", x[0], x)}
	}
	if !compatible(c, h) {
		return Value{}, &tensor.ShapeError{Op: "LSTMCell", Arg: "c", Got: c, Want: fmt.Sprintf("%v like h", h)}
	}
	hid, inp := h[1], x[1]
	if len(w) != 2 || (hid >= 0 && w[1] >= 0 && w[1] != 4*hid) || (hid >= 0 && inp >= 0 && w[0] >= 0 && w[0] != inp+hid) {
		return Value{}, &tensor.ShapeError{Op: "LSTMCell", Arg: "w", Got: w, Want: fmt.Sprintf("(I+H, 4H) = (%d, %d) for x %v and h %v", inp+hid, 4*hid, x, h)}
	}
	if len(b) != 1 || (hid >= 0 && b[0] >= 0 && b[0] != 4*hid) {
		return Value{}, &tensor.ShapeError{Op: "LSTMCell", Arg: "b", Got: b, Want: fmt.Sprintf("(4H,) = (%d,)", 4*hid)}
	}
	bs := x[0]
	if bs < 0 {
		bs = h[0]
	}
	return F32(lstmSlots, bs, hid), nil
}

func (o *lstmOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, h, cs, w, b := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	d := out.Float32s()
	bsz, inp, hid := in[0].Shape()[0], in[0].Shape()[1], in[1].Shape()[1]
	sz := bsz * hid
	gates := c.Scratch(bsz * 4 * hid)
	fb := o.forgetBias
	body := func(lo, hi int) {
		gt := gates.F32
		for r := lo; r < hi; r++ {
			g := gt[r*4*hid : (r+1)*4*hid]
			off := r * hid
			lstmForwardRow(g, b, cs[off:off+hid], d, off, sz, hid, fb)
		}
	}
	wx, wh := w[:inp*4*hid], w[inp*4*hid:]
	return KernelFunc(func() {
		gt := gates.F32
		if inp > 0 {
			gemm.Sgemm(false, false, bsz, 4*hid, inp, 1, x, inp, wx, 4*hid, 0, gt, 4*hid)
			gemm.Sgemm(false, false, bsz, 4*hid, hid, 1, h, hid, wh, 4*hid, 1, gt, 4*hid)
		} else {
			gemm.Sgemm(false, false, bsz, 4*hid, hid, 1, h, hid, wh, 4*hid, 0, gt, 4*hid)
		}
		c.Pool.For(bsz, lstmRowGrain(bsz, hid), body)
	}), nil
}

// lstmForwardRow applies the gate nonlinearities to one row of pre-activations g
// (4H, without bias; used as scratch) and writes the row's slots of the packed
// output d: slot k of the row is d[k*sz+off : k*sz+off+hid]. The exponentials run
// vectorised: σ(z) = 1/(1+e^-z) and tanh(z) = 2/(1+e^-2z) - 1.
func lstmForwardRow(g, b, cprev, d []float32, off, sz, hid int, fb float32) {
	g, b = g[:4*hid], b[:4*hid]
	nn.LSTMPre(g[:hid], b[:hid], 0, 1)
	nn.LSTMPre(g[hid:2*hid], b[hid:2*hid], fb, 1)
	nn.LSTMPre(g[2*hid:3*hid], b[2*hid:3*hid], 0, 2)
	nn.LSTMPre(g[3*hid:], b[3*hid:], 0, 1)
	vmath.ExpSum(g, g, 0)
	slot := func(k int) []float32 { return d[k*sz+off : k*sz+off+hid] }
	tA := slot(6)
	nn.LSTMGates(g, cprev, slot(2), slot(3), slot(4), slot(5), slot(1), tA)
	vmath.ExpSum(tA, tA, 0)
	nn.LSTMOut(tA, slot(5), slot(0))
}

func (o *lstmOp) Grad(n, dy *Node) []*Node {
	x, h, c, w, b := n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4]
	pk := n.g.Apply(&lstmGradOp{}, dy, n, x, h, c, w, b)
	return unpack(pk, x, h, c, w, b)
}

// LSTMCell is one step of a fused LSTM (see lstmOp above for the equations): x
// (B, I), h and c (B, H), w (I+H, 4H) holding the input weights in its first I rows
// and the recurrent weights in the last H, b (4H,), gates in the order i, f, g, o,
// forgetBias added to the forget gate's pre-activation (TensorFlow uses 1). The
// result packs the new state and the gate activations along a first axis of size 7;
// LSTMState returns the new h and c from it as views. The gradient is one fused
// backward op.
func LSTMCell(x, h, c, w, b *Node, forgetBias float32) *Node {
	return x.g.Apply(&lstmOp{forgetBias: forgetBias}, x, h, c, w, b)
}

// LSTMState returns the new hidden state h and cell state c, both (B, H), of an
// LSTMCell node, as zero-copy views.
func LSTMState(cell *Node) (h, c *Node) { return Index(cell, 0), Index(cell, 1) }

// lstmGradOp: inputs dy (7, B, H), the cell's packed output, x, h, c, w, b (shape
// only). Output is one flat buffer holding dx, dh, dc, dw, db one after the other;
// unpack views cut it.
type lstmGradOp struct{}

func (lstmGradOp) Type() string         { return "LSTMCellGrad" }
func (lstmGradOp) ShapeOnly(i int) bool { return i == 6 }
func (lstmGradOp) Infer(in []Value) (Value, error) {
	return F32(packedSize(in[2:]...)), nil
}
func (lstmGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, pk, x, h, cprev, w := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s(), in[5].Float32s()
	bsz, inp, hid := in[2].Shape()[0], in[2].Shape()[1], in[3].Shape()[1]
	sz := bsz * hid
	d := out.Float32s()
	dx := d[:bsz*inp]
	dh := d[bsz*inp : bsz*inp+sz]
	dc := d[bsz*inp+sz : bsz*inp+2*sz]
	dw := d[bsz*inp+2*sz : bsz*inp+2*sz+(inp+hid)*4*hid]
	db := d[bsz*inp+2*sz+(inp+hid)*4*hid:]
	dwx, dwh := dw[:inp*4*hid], dw[inp*4*hid:]
	wx, wh := w[:inp*4*hid], w[inp*4*hid:]
	g4 := 4 * hid
	dgates := c.Scratch(bsz * g4)
	sumDB := sumRows(c, bsz, g4)
	body := func(lo, hi int) {
		dg := dgates.F32
		for r := lo; r < hi; r++ {
			off := r * hid
			nn.LSTMBack(dg[r*g4:(r+1)*g4], dy[off:off+hid], dy[sz+off:], dy, pk, cprev[off:off+hid], dc[off:off+hid], off, sz)
		}
	}
	return KernelFunc(func() {
		dg := dgates.F32
		c.Pool.For(bsz, lstmRowGrain(bsz, hid), body)
		sumDB(dg, db) // db = Σ_rows dgates
		if inp > 0 {
			gemm.Sgemm(false, true, bsz, inp, g4, 1, dg, g4, wx, g4, 0, dx, inp)
			gemm.Sgemm(true, false, inp, g4, bsz, 1, x, inp, dg, g4, 0, dwx, g4)
		}
		gemm.Sgemm(false, true, bsz, hid, g4, 1, dg, g4, wh, g4, 0, dh, hid)
		gemm.Sgemm(true, false, hid, g4, bsz, 1, h, hid, dg, g4, 0, dwh, g4)
	}), nil
}

// packedPartOp views part k of a flat buffer that packs, one after the other,
// tensors shaped like inputs 1, 2, ... (a fused backward op's gradients). Those
// inputs give only shapes, known at compile time even when the batch is not while
// building. No kernel runs for it.
type packedPartOp struct{ k int }

func (o *packedPartOp) Type() string         { return "PackedPart" }
func (o *packedPartOp) ShapeOnly(i int) bool { return i > 0 }
func (o *packedPartOp) Infer(in []Value) (Value, error) {
	off := 0
	for _, v := range in[1 : 1+o.k] {
		off += v.Shape.Size()
	}
	n, want := in[0].Shape.Size(), in[1+o.k].Shape.Size()
	if in[0].Shape.Known() && in[1+o.k].Shape.Known() && off >= 0 && off+want > n {
		return Value{}, &tensor.ShapeError{Op: "PackedPart", Arg: "x", Got: in[0].Shape, Want: fmt.Sprintf("at least %d elements", off+want)}
	}
	return Value{Shape: in[1+o.k].Shape.Clone(), DType: in[0].DType}, nil
}
func (o *packedPartOp) Alias(in []Value, _ Value) (int, int) {
	off := 0
	for _, v := range in[1 : 1+o.k] {
		off += v.Shape.Size()
	}
	return 0, off
}
func (o *packedPartOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}

// Unpack returns zero-copy views of the parts of the flat tensor packed: part k
// has the shape of likes[k] (known when the plan is compiled) and starts after the
// parts before it. A fused op with several results (a backward op returning the
// gradients of all its inputs, say) writes them one after the other into one
// output and returns Unpack's views.
func Unpack(packed *Node, likes ...*Node) []*Node { return unpack(packed, likes...) }

// unpack returns views of the parts of the flat pk, shaped like likes.
func unpack(pk *Node, likes ...*Node) []*Node {
	out := make([]*Node, len(likes))
	for k := range likes {
		out[k] = pk.g.Apply(&packedPartOp{k: k}, append([]*Node{pk}, likes...)...)
	}
	return out
}

// packedSize is the flat size of tensors shaped like vs (-1 if one is unknown).
func packedSize(vs ...Value) int {
	n := 0
	for _, v := range vs {
		if !v.Shape.Known() {
			return -1
		}
		n += v.Shape.Size()
	}
	return n
}

// exp32 is e^x in float32 (scalar; vmath.ExpSum does slices eight at a time).
func exp32(x float32) float32 { return vmath.Exp(x) }

// lstmSeqOp runs an LSTM over a whole sequence in one op: x (T, B, I), h0 and c0
// (B, H), w (I+H, 4H), b (4H). The input projections of all steps are one SGEMM
// (T·B rows), and so are the input and weight gradients of the backward pass: only
// the recurrent product h·W[I:] goes step by step. Output: (7, T, B, H), the
// slots of LSTMCell for every step.
type lstmSeqOp struct{ forgetBias float32 }

func (o *lstmSeqOp) Type() string { return "LSTM" }

func (o *lstmSeqOp) Infer(in []Value) (Value, error) {
	x := in[0].Shape
	if len(x) != 3 || in[0].DType != tensor.Float32 || x[0] == 0 {
		return Value{}, &tensor.ShapeError{Op: "LSTM", Arg: "x", Got: x, Want: "float32 (T, B, I) with T > 0"}
	}
	cell := []Value{{Shape: x[1:], DType: in[0].DType}, in[1], in[2], in[3], in[4]}
	v, err := (&lstmOp{}).Infer(cell)
	if err != nil {
		return Value{}, fmt.Errorf("LSTM on x %v, step by step: %w", x, err)
	}
	return F32(lstmSlots, x[0], v.Shape[1], v.Shape[2]), nil
}

func (o *lstmSeqOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, h0, c0, w, b := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	xs := in[0].Shape()
	steps, bsz, inp, hid := xs[0], xs[1], xs[2], in[1].Shape()[1]
	d := out.Float32s()
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh // slot stride
	gates := c.Scratch(steps * bsz * g4)
	wx, wh := w[:inp*g4], w[inp*g4:]
	fb := o.forgetBias
	var t int // the step the row loop works on
	body := func(lo, hi int) {
		gt := gates.F32[t*bsz*g4:]
		cprev := c0
		if t > 0 {
			cprev = d[sz+(t-1)*bh:]
		}
		dt := d[t*bh:]
		for r := lo; r < hi; r++ {
			lstmForwardRow(gt[r*g4:(r+1)*g4], b, cprev[r*hid:], dt, r*hid, sz, hid, fb)
		}
	}
	if parts := lstmRowParts(c.Pool.Workers(), bsz, hid); parts > 1 {
		return o.compileByRows(c, parts, in, out, gates), nil
	}
	if parts := lstmParts(c.Pool.Workers(), bsz, hid); parts > 1 {
		return o.compileByUnits(c, parts, in, out, gates), nil
	}
	// The recurrent weights are packed once per sequence: each step's product
	// has only B rows of A, too few to pay for packing them again.
	var whp gemm.PackedB
	eng := gemm.Default()
	return KernelFunc(func() {
		gt := gates.F32
		if inp > 0 {
			gemm.Sgemm(false, false, steps*bsz, g4, inp, 1, x, inp, wx, g4, 0, gt, g4)
		} else {
			clear(gt)
		}
		eng.PackB(&whp, false, hid, g4, wh, g4)
		for t = 0; t < steps; t++ {
			hprev := h0
			if t > 0 {
				hprev = d[(t-1)*bh : t*bh]
			}
			eng.SgemmPacked(false, bsz, 1, hprev, hid, &whp, 1, gt[t*bsz*g4:], g4)
			c.Pool.For(bsz, lstmRowGrain(bsz, hid), body)
		}
	}), nil
}

func (o *lstmSeqOp) Grad(n, dy *Node) []*Node {
	pk := n.g.Apply(&lstmSeqGradOp{}, dy, n, n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4])
	return unpack(pk, n.inputs...)
}

// LSTM runs an LSTM over a sequence x (T, B, I) from the state h0, c0 (B, H), with
// LSTMCell's weights w (I+H, 4H), bias b (4H,), gate order and forget bias. It is
// the fused, faster form of T chained LSTMCells: the input projections of all
// steps are one matrix product, and so are the input and weight gradients. The
// result packs the slots of LSTMCell for every step, shape (7, T, B, H);
// LSTMOutputs returns the hidden states of all steps and the final state.
func LSTM(x, h0, c0, w, b *Node, forgetBias float32) *Node {
	return x.g.Apply(&lstmSeqOp{forgetBias: forgetBias}, x, h0, c0, w, b)
}

// LSTMOutputs returns, from an LSTM node, the hidden states of every step hs
// (T, B, H) and the final state h and c (B, H), all as zero-copy views.
// The number of steps must be known when the graph is built.
func LSTMOutputs(seq *Node) (hs, h, c *Node) {
	if seq.err != nil {
		return seq, seq, seq
	}
	if _, ok := seq.op.(*lstmSeqOp); !ok {
		f := seq.g.fail(fmt.Errorf("graph: LSTMOutputs: %s is a %s, not an LSTM", seq.name, seq.op.Type()))
		return f, f, f
	}
	hs = Index(seq, 0)
	steps := seq.value.Shape[1]
	if steps < 0 {
		f := seq.g.fail(&tensor.ShapeError{Op: "LSTMOutputs", Arg: "x", Got: seq.inputs[0].value.Shape, Want: "a number of steps known when building (T, B, I)"})
		return hs, f, f
	}
	return hs, Index(hs, steps-1), Index(Index(seq, 1), steps-1)
}

// lstmSeqGradOp: inputs dy (7, T, B, H), the packed forward output, x, h0, c0, w,
// b (shape only). Output packs dx, dh0, dc0, dw, db.
type lstmSeqGradOp struct{}

func (lstmSeqGradOp) Type() string         { return "LSTMGrad" }
func (lstmSeqGradOp) ShapeOnly(i int) bool { return i == 6 }
func (lstmSeqGradOp) Infer(in []Value) (Value, error) {
	return F32(packedSize(in[2:]...)), nil
}
func (lstmSeqGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, pk, x, h0, c0, w := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s(), in[5].Float32s()
	xs := in[2].Shape()
	steps, bsz, inp, hid := xs[0], xs[1], xs[2], in[3].Shape()[1]
	g4, bh := 4*hid, bsz*hid
	o := out.Float32s()
	nx := steps * bsz * inp
	dx := o[:nx]
	dh0 := o[nx : nx+bh]
	dc0 := o[nx+bh : nx+2*bh]
	dw := o[nx+2*bh : nx+2*bh+(inp+hid)*g4]
	db := o[nx+2*bh+(inp+hid)*g4:]
	dwx, dwh := dw[:inp*g4], dw[inp*g4:]
	wx, wh := w[:inp*g4], w[inp*g4:]
	scr := c.Scratch(steps*bsz*g4 + 2*bh)
	var t int
	body := func(lo, hi int) {
		f := scr.F32
		dh, dc := f[steps*bsz*g4:steps*bsz*g4+bh], f[steps*bsz*g4+bh:]
		lstmBackRows(f[t*bsz*g4:], dh, dc, dy, pk, c0, t, lo, hi, steps, bsz, hid)
	}
	var whp gemm.PackedB // W[I:]ᵀ, packed once per sequence (see the forward)
	eng := gemm.Default()
	sumDB := sumRows(c, steps*bsz, g4)
	// The steps, last to first: each step's gate gradients, then the
	// gradient reaching the step before.
	loop := func(dg, dh []float32) {
		eng.PackB(&whp, true, g4, hid, wh, g4)
		for t = steps - 1; t >= 0; t-- {
			c.Pool.For(bsz, lstmRowGrain(bsz, hid), body)
			// dh_{t-1} = dgates_t · W[I:]ᵀ
			eng.SgemmPacked(false, bsz, 1, dg[t*bsz*g4:], g4, &whp, 0, dh, hid)
		}
		t = 0
	}
	if parts := lstmRowParts(c.Pool.Workers(), bsz, hid); parts > 1 {
		loop = lstmGradByRows(c, parts, dy, pk, c0, wh, steps, bsz, hid, scr)
	} else if parts := lstmGradParts(c.Pool.Workers(), bsz, hid); parts > 1 {
		loop = lstmGradByUnits(c, parts, dy, pk, c0, wh, steps, bsz, hid, scr)
	}
	return KernelFunc(func() {
		f := scr.F32
		dg := f[:steps*bsz*g4]
		dh, dc := f[steps*bsz*g4:steps*bsz*g4+bh], f[steps*bsz*g4+bh:steps*bsz*g4+2*bh]
		clear(dh)
		clear(dc)
		loop(dg, dh)
		copy(dh0, dh)
		copy(dc0, dc)
		sumDB(f[:steps*bsz*g4], db) // db = Σ_rows dgates
		if inp > 0 {
			gemm.Sgemm(false, true, steps*bsz, inp, g4, 1, dg, g4, wx, g4, 0, dx, inp)
			gemm.Sgemm(true, false, inp, g4, steps*bsz, 1, x, inp, dg, g4, 0, dwx, g4)
		}
		// dW[I:] = Σ_t h_{t-1}ᵀ·dgates_t, h_{-1} = h0, the others slot 0.
		gemm.Sgemm(true, false, hid, g4, bsz, 1, h0, hid, dg, g4, 0, dwh, g4)
		if steps > 1 {
			gemm.Sgemm(true, false, hid, g4, (steps-1)*bsz, 1, pk, hid, dg[bsz*g4:], g4, 1, dwh, g4)
		}
	}), nil
}

// lstmBackRows computes step t's gate gradients dg (B×4H, the step's block)
// for rows [lo, hi) of the batch, from dh and dc (the gradient reaching h_t
// and c_t from step t+1, to which the outputs' gradient dy is added first),
// leaving in dc the gradient reaching c_{t-1}: pk is the forward's packed
// output (T steps of every slot), c0 the first step's c_{t-1}.
func lstmBackRows(dg, dh, dc, dy, pk, c0 []float32, t, lo, hi, steps, bsz, hid int) {
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	cprev := c0
	if t > 0 {
		cprev = pk[sz+(t-1)*bh:]
	}
	dyt, pkt := dy[t*bh:], pk[t*bh:]
	for r := lo; r < hi; r++ {
		off := r * hid
		// The gradient reaching h_t and c_t: from the outputs and from step t+1.
		nn.Add(dh[off:off+hid], dyt[off:])
		nn.Add(dc[off:off+hid], dyt[sz+off:])
		nn.LSTMBack(dg[r*g4:(r+1)*g4], dh[off:off+hid], dc[off:], dyt, pkt, cprev[off:off+hid], dc[off:], off, sz)
	}
}

// lstmRowGrain is the rows per task of a step's gate loop: one task (no
// handoff to another thread) while a step's gates are too few to pay for it.
// Waking a pool worker costs microseconds, as much as the vectorised gates of
// PTB's 20×200 or 20×650 rows: on two threads of a Zen 4, a PTB-small LSTM
// layer's forward and backward pass took 8% less time with its gate loops on
// one thread.
func lstmRowGrain(bsz, hid int) int {
	if bsz*hid < 1<<14 {
		return bsz
	}
	return max(1, 2048/max(hid, 1))
}

// lstmParts is how many parts of the hidden units an LSTM step is split into
// (see compileByUnits): one per core when a step's recurrent product is worth
// splitting (as gemm's parallelMin; on two threads of a Zen 4 the forward
// pass of a PTB small layer ran 5% faster split, a PTB medium one 7%), each
// part at least 72 units wide unless
// hid is at most 64. gemm reads A in place for products at most 256 columns
// wide, and then takes deeper slices of the inner dimension: a part of 4·72
// columns is packed as the whole 4·hid are, so that the sums run in the same
// order on any number of cores.
func lstmParts(workers, bsz, hid int) int {
	return lstmSplit(workers, bsz*4*hid*hid, 1<<20, hid, 64)
}

// lstmSplit is the number of parts, one per worker, of hid units for a step
// of work multiply-adds: none below minWork, and each part wider than
// direct units when hid is (the widest product gemm reads A in place for,
// in units), 8 units at least otherwise.
func lstmSplit(workers, work, minWork, hid, direct int) int {
	if work < minWork {
		return 1
	}
	if hid <= direct {
		return max(1, min(workers, hid/8))
	}
	return max(1, min(workers, hid/(direct+8)))
}

// lstmRowParts is how many parts of the batch an LSTM's steps are split
// into (compileByRows, lstmGradByRows), one per core, or 1 (not split by
// rows): when a step is worth splitting (lstmParts's bound) and each part
// has at least 8 rows (fewer would waste most of the kernel's 14-row tiles;
// gemm has kernels of 7 and 10 rows for the bottom edges). On two threads of
// a Zen 4, a PTB-small layer's forward ran 10-15% faster split by rows than
// by units, a PTB-medium one 8%: the parts never wait for each other.
func lstmRowParts(workers, bsz, hid int) int {
	if bsz*4*hid*hid < 1<<20 {
		return 1
	}
	return max(1, min(workers, bsz/8))
}

// lstmPerStepInput is the size (T·B·I·4H multiply-adds) below which the
// input projections of an LSTM split by rows are computed by each part, step
// by step, for its rows, rather than by one product of all steps before the
// recurrence: too small a product for two threads to share well (PTB small's
// 400×200×800 ran at 80 GFLOP/s a thread on two, each part's 10-row steps at
// 110), where PTB medium's 700×650×2600 was as fast either way.
const lstmPerStepInput = 1 << 28

// compileByRows is the LSTM's forward with the batch split into parts, one
// per core: the rows of a batch are independent sequences, so part k runs
// every step for its rows alone, with no hand-off between the parts until
// the end (the split by units, compileByUnits, waits for every part at each
// step's end). Each part multiplies by all of W[I:], packed once per
// sequence and shared; the input projections of all steps are one product
// before, on every core, or (small ones, lstmPerStepInput) each part's own
// at each step, by W[:I] packed once. A row's gates are computed as in the
// unsplit forward (gemm's edge kernels give a row the same bits as its full
// tiles), so the results are the same bits. Parts are handed out by the
// pool: alone, the caller runs them one after the other. The weights are
// packed by every core (PackBFor), not by one while the others wait.
func (o *lstmSeqOp) compileByRows(c *KernelCtx, parts int, in []*tensor.Tensor, out *tensor.Tensor, gates *Scratch) Kernel {
	x, h0, c0, w, b := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	xs := in[0].Shape()
	steps, bsz, inp, hid := xs[0], xs[1], xs[2], in[1].Shape()[1]
	d := out.Float32s()
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	wx, wh := w[:inp*g4], w[inp*g4:]
	fb := o.forgetBias
	var whp, wxp gemm.PackedB
	eng := nn.Gemm() // one thread: the parts are the parallelism
	perStep := inp > 0 && steps*bsz*inp*g4 < lstmPerStepInput
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			r0, r1 := part*bsz/parts, (part+1)*bsz/parts
			for t := range steps {
				hprev, cprev := h0, c0
				if t > 0 {
					hprev, cprev = d[(t-1)*bh:t*bh], d[sz+(t-1)*bh:]
				}
				gt, dt := gates.F32[t*bsz*g4:], d[t*bh:]
				if perStep {
					eng.SgemmPacked(false, r1-r0, 1, x[(t*bsz+r0)*inp:], inp, &wxp, 0, gt[r0*g4:], g4)
				}
				eng.SgemmPacked(false, r1-r0, 1, hprev[r0*hid:], hid, &whp, 1, gt[r0*g4:], g4)
				for r := r0; r < r1; r++ {
					lstmForwardRow(gt[r*g4:(r+1)*g4], b, cprev[r*hid:], dt, r*hid, sz, hid, fb)
				}
			}
		}
	}
	each := c.forEach()
	return KernelFunc(func() {
		gt := gates.F32
		switch {
		case perStep:
			eng.PackBFor(&wxp, false, inp, g4, wx, g4, each)
		case inp > 0:
			gemm.Sgemm(false, false, steps*bsz, g4, inp, 1, x, inp, wx, g4, 0, gt, g4)
		default:
			clear(gt)
		}
		eng.PackBFor(&whp, false, hid, g4, wh, g4, each)
		c.Pool.For(parts, 1, body)
	})
}

// compileByUnits is the LSTM's forward with every step split by hidden units
// into parts: part k computes the four gates of its units (its columns of
// W[I:], packed once per sequence into a block of its own) and then their
// cell and output, so that a step needs no other hand-off than its end (the
// next step's product reads every unit's h). Without the split, a step is
// two parallel loops (the product split by columns, then the rows), each
// handing work to the other core and waiting for it. The parts are claimed
// in order by whichever goroutine of the pool is free (a goroutine that
// starts late finds its share taken; alone, the caller runs every part), and
// a part of step t waits for the end of step t-1. Before the steps, each
// part computes the input projections of its units for all steps, one
// product of T·B rows into its own block of the gates, to which each step's
// recurrent product then adds, as the unsplit products do to all the gates:
// the same operations in the same order, so the results are the same bits.
func (o *lstmSeqOp) compileByUnits(c *KernelCtx, parts int, in []*tensor.Tensor, out *tensor.Tensor, gates *Scratch) Kernel {
	x, h0, c0, w, b := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	xs := in[0].Shape()
	steps, bsz, inp, hid := xs[0], xs[1], xs[2], in[1].Shape()[1]
	d := out.Float32s()
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	wx, wh := w[:inp*g4], w[inp*g4:]
	fb := o.forgetBias
	eng := nn.Gemm() // one thread: the parts are the parallelism
	type part struct {
		u0, n int          // its units
		cols  []float32    // its columns of W[I:] or W[:I], gate by gate, to pack
		pb    gemm.PackedB // its columns of W[I:] packed (hid × 4n)
		pbx   gemm.PackedB // its columns of W[:I] packed (inp × 4n)
		bias  []float32    // its biases, gate by gate
	}
	ps := make([]*part, parts)
	for k := range ps {
		// Unit bounds on multiples of 8, the vector loops' width.
		u0, u1 := k*hid/parts&^7, (k+1)*hid/parts&^7
		if k == parts-1 {
			u1 = hid
		}
		n := u1 - u0
		ps[k] = &part{u0: u0, n: n, cols: make([]float32, max(hid, inp)*4*n), bias: make([]float32, 4*n)}
	}
	// Part k's gates, every step's, gate by gate: its block of the gates
	// scratch (bound after compiling), T·B×4n from T·B×4·u0 on.
	gatesOf := func(p *part) []float32 { return gates.F32[steps*bsz*4*p.u0:][:steps*bsz*4*p.n] }
	// Task q: step q/parts - 1 (-1: pack, and the input projections of
	// all steps for the part's units, one product), part q%parts.
	tasks := int64((steps + 1) * parts)
	var next, done atomic.Int64
	run := func(q int64) {
		t, p := int(q)/parts-1, ps[int(q)%parts]
		n := p.n
		if t < 0 {
			for r := range hid {
				for gi := range 4 {
					copy(p.cols[r*4*n+gi*n:][:n], wh[r*g4+gi*hid+p.u0:][:n])
				}
			}
			for gi := range 4 {
				copy(p.bias[gi*n:][:n], b[gi*hid+p.u0:][:n])
			}
			eng.PackB(&p.pb, false, hid, 4*n, p.cols, 4*n)
			if inp == 0 {
				clear(gatesOf(p))
				return
			}
			for r := range inp {
				for gi := range 4 {
					copy(p.cols[r*4*n+gi*n:][:n], wx[r*g4+gi*hid+p.u0:][:n])
				}
			}
			eng.PackB(&p.pbx, false, inp, 4*n, p.cols, 4*n)
			eng.SgemmPacked(false, steps*bsz, 1, x, inp, &p.pbx, 0, gatesOf(p), 4*n)
			return
		}
		g := gatesOf(p)[t*bsz*4*n:][:bsz*4*n]
		hprev, cprev := h0, c0
		if t > 0 {
			hprev, cprev = d[(t-1)*bh:t*bh], d[sz+(t-1)*bh:]
		}
		eng.SgemmPacked(false, bsz, 1, hprev, hid, &p.pb, 1, g, 4*n)
		dt := d[t*bh:]
		for r := range bsz {
			lstmForwardRow(g[r*4*n:(r+1)*4*n], p.bias, cprev[r*hid+p.u0:], dt, r*hid+p.u0, sz, n, fb)
		}
	}
	participate := func(_, _ int) {
		for {
			q := next.Add(1) - 1
			if q >= tasks {
				return
			}
			// Step t's parts start when step t-1 has ended: every task
			// before the step's first is done.
			first := q / int64(parts) * int64(parts)
			par.Await(&done, first)
			run(q)
			done.Add(1)
		}
	}
	return KernelFunc(func() {
		next.Store(0)
		done.Store(0)
		c.Pool.For(parts, 1, participate)
	})
}

// lstmGradParts is lstmParts for the backward pass, whose recurrent product
// (dgates·W[I:]ᵀ) is split by the columns of dh, hid wide in all: gemm reads
// A in place up to 256 columns, so a part is more than 256 units wide when
// hid is. A step of the backward pass hands off twice (after the gate
// gradients, after the product), so it splits from a bigger step: on two
// threads of a Zen 4, PTB medium's layer (20×650) ran its backward pass 9%
// faster split, PTB small's (20×200, a quarter of 1<<23 multiply-adds a
// step) 13% slower.
func lstmGradParts(workers, bsz, hid int) int {
	if hid <= 256 {
		// Parts as the forward's: their A is read in place either way.
		return lstmSplit(workers, bsz*4*hid*hid, 1<<23, hid, 64)
	}
	return lstmSplit(workers, bsz*4*hid*hid, 1<<23, hid, 256)
}

// lstmGradByUnits returns the backward pass's loop over the steps split by
// hidden units as the forward's (compileByUnits): in each step, part k first
// computes the gate gradients of its units (every row), then, once every
// part has, its units' columns of dh_{t-1} = dgates_t·W[I:]ᵀ from its rows of
// W[I:], packed once per sequence. Two hand-offs a step, where the unsplit
// loop has two parallel loops. The same bits as unsplit.
func lstmGradByUnits(c *KernelCtx, parts int, dy, pk, c0, wh []float32, steps, bsz, hid int, scr *Scratch) func(dg, dh []float32) {
	g4, bh := 4*hid, bsz*hid
	sz := steps * bh
	eng := nn.Gemm()
	type part struct {
		u0, n int
		pb    gemm.PackedB // its rows of W[I:], transposed
		dg    []float32    // a row's gate gradients of its units
	}
	ps := make([]*part, parts)
	for k := range ps {
		u0, u1 := k*hid/parts&^7, (k+1)*hid/parts&^7
		if k == parts-1 {
			u1 = hid
		}
		ps[k] = &part{u0: u0, n: u1 - u0, dg: make([]float32, 4*(u1-u0))}
	}
	// Phase 0 packs; then phases 2s+1 and 2s+2 are step t = steps-1-s's
	// gate gradients and its product. Task q: phase q/parts, part q%parts.
	tasks := int64((2*steps + 1) * parts)
	var next, done atomic.Int64
	var dgAll, dhAll []float32
	run := func(q int64) {
		ph, p := int(q)/parts, ps[int(q)%parts]
		n, u0 := p.n, p.u0
		if ph == 0 {
			eng.PackB(&p.pb, true, g4, n, wh[u0*g4:], g4)
			return
		}
		t := steps - 1 - (ph-1)/2
		dg := dgAll[t*bsz*g4:]
		if ph%2 == 0 { // dh_{t-1}, its columns
			eng.SgemmPacked(false, bsz, 1, dg, g4, &p.pb, 0, dhAll[u0:], hid)
			return
		}
		dc := scr.F32[steps*bsz*g4+bh:]
		cprev := c0
		if t > 0 {
			cprev = pk[sz+(t-1)*bh:]
		}
		dyt, pkt := dy[t*bh:], pk[t*bh:]
		for r := range bsz {
			off := r*hid + u0
			nn.Add(dhAll[off:off+n], dyt[off:])
			nn.Add(dc[off:off+n], dyt[sz+off:])
			nn.LSTMBack(p.dg, dhAll[off:off+n], dc[off:], dyt, pkt, cprev[off:off+n], dc[off:], off, sz)
			for gi := range 4 {
				copy(dg[r*g4+gi*hid+u0:][:n], p.dg[gi*n:][:n])
			}
		}
	}
	participate := func(_, _ int) {
		for {
			q := next.Add(1) - 1
			if q >= tasks {
				return
			}
			par.Await(&done, q/int64(parts)*int64(parts))
			run(q)
			done.Add(1)
		}
	}
	return func(dg, dh []float32) {
		dgAll, dhAll = dg, dh
		next.Store(0)
		done.Store(0)
		c.Pool.For(parts, 1, participate)
	}
}

// lstmGradByRows returns the backward pass's loop over the steps split by
// rows of the batch, as the forward's (compileByRows): part k runs every
// step, last to first, for its rows alone: their gate gradients, then their
// rows of dh_{t-1} = dgates_t·W[I:]ᵀ by W[I:]ᵀ packed once per sequence and
// shared. No hand-off until the end (the split by units hands off twice a
// step); the same bits as unsplit on one thread. W[I:]ᵀ is packed by every
// core (PackBFor).
func lstmGradByRows(c *KernelCtx, parts int, dy, pk, c0, wh []float32, steps, bsz, hid int, scr *Scratch) func(dg, dh []float32) {
	g4, bh := 4*hid, bsz*hid
	eng := nn.Gemm()
	var whp gemm.PackedB
	var dgAll, dhAll []float32
	body := func(lo, hi int) {
		dc := scr.F32[steps*bsz*g4+bh:][:bh]
		for part := lo; part < hi; part++ {
			r0, r1 := part*bsz/parts, (part+1)*bsz/parts
			for t := steps - 1; t >= 0; t-- {
				dg := dgAll[t*bsz*g4:]
				lstmBackRows(dg, dhAll, dc, dy, pk, c0, t, r0, r1, steps, bsz, hid)
				eng.SgemmPacked(false, r1-r0, 1, dg[r0*g4:], g4, &whp, 0, dhAll[r0*hid:], hid)
			}
		}
	}
	each := c.forEach()
	return func(dg, dh []float32) {
		dgAll, dhAll = dg, dh
		eng.PackBFor(&whp, true, g4, hid, wh, g4, each)
		c.Pool.For(parts, 1, body)
	}
}

// forEach runs body over [0, n) on c's pool, for gemm.Engine.PackBFor.
func (c *KernelCtx) forEach() func(n int, body func(lo, hi int)) {
	pool := c.Pool
	return func(n int, body func(lo, hi int)) { pool.For(n, 1, body) }
}
