package nn

// The elementwise part of an LSTM step, one batch row at a time. The gates'
// pre-activations are turned into exponentials (vmath.ExpSum) between
// LSTMPre and LSTMGates, and the cell's tanh between LSTMGates and LSTMOut:
// σ(z) = 1/(1+e^-z) and tanh(z) = 2/(1+e^-2z) - 1. The vector loops round as
// the Go ones do (no fused multiply-add), so results do not depend on the CPU.

// LSTMPre sets g[i] = (-(g[i] + b[i]) - shift)·scale: a gate's pre-activation
// with its bias, negated (and doubled for tanh) for the exponential.
func LSTMPre(g, b []float32, shift, scale float32) {
	b = b[:len(g)]
	i := 0
	if hasAVX2 && len(g) >= 8 {
		i = len(g) &^ 7
		lstmPreAVX2(&g[0], &b[0], i, shift, scale)
	}
	for ; i < len(g); i++ {
		g[i] = (-(g[i] + b[i]) - shift) * scale
	}
}

// LSTMGates reads e, the exponentials of one row's four gates (i, f, g, o,
// each len(cN) long, one after the other), and writes the gate activations,
// the new cell c = f·cprev + i·g into cN and -2c into t (for tanh's
// exponential).
func LSTMGates(e, cprev, iA, fA, gA, oA, cN, t []float32) {
	hid := len(cN)
	e, cprev = e[:4*hid], cprev[:hid]
	iA, fA, gA, oA, t = iA[:hid], fA[:hid], gA[:hid], oA[:hid], t[:hid]
	j := 0
	if hasAVX2 && hid >= 8 {
		j = hid &^ 7
		lstmGatesAVX2(&e[0], hid, &cprev[0], &iA[0], &fA[0], &gA[0], &oA[0], &cN[0], &t[0], j)
	}
	ei, ef, eg, eo := e[:hid], e[hid:2*hid], e[2*hid:3*hid], e[3*hid:]
	for ; j < hid; j++ {
		iv := 1 / (1 + ei[j])
		fv := 1 / (1 + ef[j])
		gv := 2/(1+eg[j]) - 1
		iA[j], fA[j], gA[j], oA[j] = iv, fv, gv, 1/(1+eo[j])
		cv := fv*cprev[j] + iv*gv
		cN[j] = cv
		t[j] = -2 * cv
	}
}

// LSTMOut turns t, the exponentials of -2c, into tanh(c) and sets h = o·tanh(c).
func LSTMOut(t, o, h []float32) {
	t, o = t[:len(h)], o[:len(h)]
	i := 0
	if hasAVX2 && len(h) >= 8 {
		i = len(h) &^ 7
		lstmOutAVX2(&t[0], &o[0], &h[0], i)
	}
	for ; i < len(h); i++ {
		tv := 2/(1+t[i]) - 1
		t[i] = tv
		h[i] = o[i] * tv
	}
}

// LSTMBack is one row of an LSTM step's backward pass. pk and dy hold the
// step's seven slots (h, c, i, f, g, o, tanh c; s elements apart) of the
// forward's output and of its gradient, the row's units starting at off; dh
// and dc are the gradients reaching the row's h and c (len(dh) units). It
// writes the gates' gradients into dg (i, f, g, o, one after the other) and
// the gradient of the previous cell into dcOut, which may be dc.
func LSTMBack(dg, dh, dc, dy, pk, cprev, dcOut []float32, off, s int) {
	hid := len(dh)
	slot := func(x []float32, k int) []float32 { return x[k*s+off : k*s+off+hid] }
	iA, fA, gA, oA, tA := slot(pk, 2), slot(pk, 3), slot(pk, 4), slot(pk, 5), slot(pk, 6)
	di0, df0, dg0, do0, dt0 := slot(dy, 2), slot(dy, 3), slot(dy, 4), slot(dy, 5), slot(dy, 6)
	dg, dc, cprev, dcOut = dg[:4*hid], dc[:hid], cprev[:hid], dcOut[:hid]
	j := 0
	if hasAVX2 && hid >= 8 {
		j = hid &^ 7
		lstmBackAVX2(&iA[0], &oA[0], &di0[0], &do0[0], s, &dg[0], hid, &dh[0], &dc[0], &cprev[0], &dcOut[0], j)
	}
	dgi, dgf, dgg, dgo := dg[:hid], dg[hid:2*hid], dg[2*hid:3*hid], dg[3*hid:]
	for ; j < hid; j++ {
		iv, fv, gv, ov, tv := iA[j], fA[j], gA[j], oA[j], tA[j]
		dhv := dh[j]
		dtv := dhv*ov + dt0[j]
		dcv := dc[j] + dtv*(1-tv*tv)
		dov := dhv*tv + do0[j]
		div := dcv*gv + di0[j]
		dfv := dcv*cprev[j] + df0[j]
		dgv := dcv*iv + dg0[j]
		dcOut[j] = dcv * fv
		dgi[j] = div * iv * (1 - iv)
		dgf[j] = dfv * fv * (1 - fv)
		dgg[j] = dgv * (1 - gv*gv)
		dgo[j] = dov * ov * (1 - ov)
	}
}
