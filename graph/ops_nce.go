package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/tensor"
)

// Noise-contrastive estimation (TensorFlow's nce_loss with its default
// log-uniform candidate sampler) and the sampler itself.

// logUniformSamplerOp draws S ids in [0, V) with replacement from the log-uniform
// (Zipfian) distribution P(k) = (log(k+2) - log(k+1)) / log(V+1), new ones at each
// run, from a generator seeded by the node.
type logUniformSamplerOp struct {
	num, rangeMax int
	// unique draws until num distinct ids are found (TensorFlow's unique=True)
	// and appends the number of draws it took: the output is (num+1,).
	unique bool
}

func (o *logUniformSamplerOp) Type() string { return "LogUniformSampler" }
func (o *logUniformSamplerOp) Infer(in []Value) (Value, error) {
	if o.num < 1 || o.rangeMax < 1 {
		return Value{}, fmt.Errorf("LogUniformSampler: numSampled %d and rangeMax %d must be positive", o.num, o.rangeMax)
	}
	if o.unique {
		if o.num > o.rangeMax {
			return Value{}, fmt.Errorf("LogUniformSamplerUnique: %d distinct ids cannot be drawn from [0, %d)", o.num, o.rangeMax)
		}
		return I32(o.num + 1), nil
	}
	return I32(o.num), nil
}

// splitmix is a small generator; its state lives in the kernel (no package state).
type splitmix struct{ s uint64 }

func (r *splitmix) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float64 in [0, 1).
func (r *splitmix) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (o *logUniformSamplerOp) Compile(c *KernelCtx, _ []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	d := out.Int32s()
	rng := &splitmix{s: c.Seed}
	logRange := math.Log(float64(o.rangeMax) + 1)
	v := o.rangeMax
	draw := func() int32 {
		// Inverse CDF: F(k) = log(k+2)/log(V+1) for the ids 0..k.
		k := int(math.Exp(rng.float()*logRange)) - 1
		return int32(min(max(k, 0), v-1))
	}
	if !o.unique {
		return KernelFunc(func() {
			for i := range d {
				d[i] = draw()
			}
		}), nil
	}
	seen := make([]uint64, (v+63)/64) // a bit per id, cleared after each run
	ids := d[:o.num]
	return KernelFunc(func() {
		tries := 0
		for n := 0; n < len(ids); {
			k := draw()
			tries++
			if seen[k>>6]&(1<<(k&63)) != 0 {
				continue
			}
			seen[k>>6] |= 1 << (k & 63)
			ids[n] = k
			n++
		}
		d[o.num] = int32(min(tries, math.MaxInt32))
		for _, k := range ids {
			seen[k>>6] = 0
		}
	}), nil
}

// LogUniformSampler returns a node that draws numSampled candidate ids in
// [0, rangeMax) at every run, with replacement, from the log-uniform distribution
// P(k) = (log(k+2) - log(k+1)) / log(rangeMax+1) that suits ids sorted by
// decreasing frequency (TensorFlow's log_uniform_candidate_sampler with
// unique=False). The draws follow the graph's seed and the node, so a plan
// compiled again repeats them.
func LogUniformSampler(g *Graph, numSampled, rangeMax int) *Node {
	return g.Apply(&logUniformSamplerOp{num: numSampled, rangeMax: rangeMax})
}

// LogUniformSamplerUnique draws numSampled distinct ids in [0, rangeMax) at
// every run from the log-uniform distribution, by drawing with replacement and
// dropping repeats (TensorFlow's log_uniform_candidate_sampler with unique=True,
// the default of its nce_loss and sampled_softmax_loss). tries is the number of
// draws it took, an int32 scalar that NCELossUnique and SampledSoftmaxLossUnique
// need for the expected counts.
func LogUniformSamplerUnique(g *Graph, numSampled, rangeMax int) (sampled, tries *Node) {
	packed := g.Apply(&logUniformSamplerOp{num: numSampled, rangeMax: rangeMax, unique: true})
	return g.Apply(&prefixOp{n: numSampled}, packed), Index(packed, numSampled)
}

// prefixOp views the first n elements of a vector.
type prefixOp struct{ n int }

func (o *prefixOp) Type() string { return "Prefix" }
func (o *prefixOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if len(s) != 1 || (s[0] >= 0 && s[0] < o.n) {
		return Value{}, &tensor.ShapeError{Op: "Prefix", Arg: "x", Got: s, Want: fmt.Sprintf("a vector of at least %d elements", o.n)}
	}
	return Value{Shape: tensor.Shape{o.n}, DType: in[0].DType}, nil
}
func (o *prefixOp) Alias([]Value, Value) (int, int) { return 0, 0 }
func (o *prefixOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}

// LogUniformProb is the probability the log-uniform sampler over [0, rangeMax)
// gives id k.
func LogUniformProb(k, rangeMax int) float64 {
	return math.Log1p(1/(float64(k)+1)) / math.Log(float64(rangeMax)+1)
}

// nceFwdOp computes the logits and the loss. Inputs: weights (V, D), biases (V,),
// inputs (B, D), labels (B,) or (B, 1), sampled (S,). Its output packs the loss,
// σ of the true logits (B) and of the sampled logits (B, S), which is what the
// gradient needs; nceLossOp views the loss.
type nceFwdOp struct{ softmax bool }

func (o nceFwdOp) Type() string { return o.name() + "Logits" }

// name is the user-facing op name, for errors.
func (o nceFwdOp) name() string {
	if o.softmax {
		return "SampledSoftmaxLoss"
	}
	return "NCELoss"
}

func (o nceFwdOp) Infer(in []Value) (Value, error) {
	w, b, x, lab, smp := in[0], in[1], in[2], in[3], in[4]
	if len(w.Shape) != 2 || w.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "weights", Got: w.Shape, Want: "float32 (V, D)"}
	}
	if len(b.Shape) != 1 || b.DType != tensor.Float32 || !compatible(b.Shape, w.Shape[:1]) {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "biases", Got: b.Shape, Want: fmt.Sprintf("float32 (%d,) like the rows of weights %v", w.Shape[0], w.Shape)}
	}
	if len(x.Shape) != 2 || x.DType != tensor.Float32 || !compatible(x.Shape[1:], w.Shape[1:]) {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "inputs", Got: x.Shape, Want: fmt.Sprintf("float32 (B, %d) like the columns of weights %v", w.Shape[1], w.Shape)}
	}
	labOK := lab.DType == tensor.Int32 && (len(lab.Shape) == 1 || (len(lab.Shape) == 2 && lab.Shape[1] == 1)) && compatible(lab.Shape[:1], x.Shape[:1])
	if !labOK {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "labels", Got: lab.Shape, Want: fmt.Sprintf("int32 (%d,) or (%d, 1), one per row of inputs %v", x.Shape[0], x.Shape[0], x.Shape)}
	}
	if len(smp.Shape) != 1 || smp.DType != tensor.Int32 || smp.Shape[0] == 0 {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "sampled", Got: smp.Shape, Want: "int32 (S,) with S > 0"}
	}
	if len(in) == 6 && (in[5].DType != tensor.Int32 || in[5].Shape.Size() != 1) {
		return Value{}, &tensor.ShapeError{Op: o.name(), Arg: "tries", Got: in[5].Shape, Want: "an int32 scalar (the sampler's number of draws)"}
	}
	bs, s := x.Shape[0], smp.Shape[0]
	if bs < 0 || s < 0 {
		return F32(-1), nil
	}
	return F32(1 + bs + bs*s), nil
}

// nceLogQ fills lq[k] = log(S·P(k)), the log of the expected count of id k in S
// draws with replacement, for the ids 0..V-1 (built once, in Compile).
func nceLogQ(v, s int) []float32 {
	lq := make([]float32, v)
	for k := range lq {
		lq[k] = float32(math.Log(float64(s) * LogUniformProb(k, v)))
	}
	return lq
}

func (o nceFwdOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	w, bias, x, lab, smp := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Int32s(), in[4].Int32s()
	v, dim := in[0].Shape()[0], in[0].Shape()[1]
	bs, s := in[2].Shape()[0], len(smp)
	lq := nceLogQ(v, s)
	d := out.Float32s()
	lt, ls := d[1:1+bs], d[1+bs:]
	// One request (requests of a kernel share the arena): the gathered sampled
	// weights, then e^-|z| of the sampled logits, then b_k - logQ_k of the
	// sampled ids.
	scr := c.Scratch(s*dim + bs*s + s)
	rowLoss := make([]float64, bs)
	softmax := o.softmax
	rowsBody := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			k := int(lab[r])
			zt := vmath.Dot(x[r*dim:(r+1)*dim], w[k*dim:k*dim+dim]) + bias[k] - lq[k]
			if softmax {
				rowLoss[r] = softmaxRowLoss(zt, &lt[r], ls[r*s:(r+1)*s], smp, k, bias, lq)
				continue
			}
			// The true logit's loss is softplus(-z).
			sp, sg := softplusSigmoid(-zt)
			lt[r] = 1 - sg // σ(z)
			rowLoss[r] = float64(sp) + softplusRow(ls[r*s:(r+1)*s], scr.F32[s*dim+r*s:s*dim+(r+1)*s], scr.F32[s*dim+bs*s:][:s])
		}
	}
	var tries []int32
	if len(in) == 6 {
		tries = in[5].Int32s()
	}
	logRange := math.Log(float64(v) + 1)
	return KernelFunc(func() {
		if err := checkIDs(o.name(), "labels", lab, v); err != nil {
			c.Fail(err)
			return
		}
		if err := checkIDs(o.name(), "sampled", smp, v); err != nil {
			c.Fail(err)
			return
		}
		if tries != nil {
			// Unique sampling: id k's expected count in t draws is the chance
			// it was drawn at all, 1 - (1 - P(k))^t, for the ids in use.
			t := float64(tries[0])
			if t < 1 {
				c.Fail(fmt.Errorf("%s: tries = %d, want at least 1 (the sampler's draws)", o.name(), tries[0]))
				return
			}
			for _, ids := range [][]int32{lab, smp} {
				for _, k := range ids {
					p := math.Log1p(1/(float64(k)+1)) / logRange
					lq[k] = float32(math.Log(-math.Expm1(t * math.Log1p(-p))))
				}
			}
		}
		wsm, off := scr.F32[:s*dim], scr.F32[s*dim+bs*s:][:s]
		for j, k := range smp {
			copy(wsm[j*dim:(j+1)*dim], w[int(k)*dim:int(k)*dim+dim])
			off[j] = bias[k] - lq[k]
		}
		if dim > 0 {
			gemm.Sgemm(false, true, bs, s, dim, 1, x, dim, wsm, dim, 0, ls, s)
		} else {
			clear(ls)
		}
		c.Pool.For(bs, max(1, nceRowsGrain/max(s*(dim+8), 1)), rowsBody)
		var loss float64
		for _, l := range rowLoss {
			loss += l
		}
		d[0] = float32(loss / float64(max(bs, 1)))
	}), nil
}

func checkIDs(op, arg string, ids []int32, v int) error {
	for i, k := range ids {
		if k < 0 || int(k) >= v {
			return fmt.Errorf("%s: %s id %d at position %d is outside [0, %d)", op, arg, k, i, v)
		}
	}
	return nil
}

// softmaxRowLoss is one example's sampled softmax loss: the row holds x·w_k of
// the sampled ids, zt the true logit (log Q subtracted). Sampled ids equal to the
// label (accidental hits) are left out, as sampled_softmax_loss does by default.
// It leaves the softmax probabilities in *pt and row (0 for hits), which is what
// the gradient needs, and returns logsumexp - zt.
func softmaxRowLoss(zt float32, pt *float32, row []float32, ids []int32, label int, bias, lq []float32) float64 {
	row = row[:len(ids)]
	m := zt
	for j, k := range ids {
		z := row[j] + bias[k] - lq[k]
		if int(k) == label {
			z = float32(math.Inf(-1))
		}
		row[j] = z
		m = max(m, z)
	}
	sum := vmath.ExpSum(row, row, m) + exp32(zt-m)
	inv := 1 / sum
	vmath.Scale(row, inv)
	*pt = exp32(zt-m) * inv
	return float64(m) + math.Log(float64(sum)) - float64(zt)
}

// softplusSigmoid returns log(1+e^z) and σ(z), stably, with one exp.
func softplusSigmoid(z float32) (sp, sg float32) {
	e := exp32(-abs32(z)) // in (0, 1]
	p := 1 + e
	sp = max(z, 0) + log32(p)
	if z >= 0 {
		return sp, 1 / p
	}
	return sp, e / p
}

// softplusRow turns the row of sampled logits x·w_k into z = x·w_k + off_k
// (off_k = b_k - logQ_k, the same for every row), replaces each by σ(z) (what
// the gradient needs) and returns Σ softplus(z), with one exponential each.
func softplusRow(row, e, off []float32) float64 {
	row, e = row[:len(off)], e[:len(off)]
	for j, o := range off {
		z := row[j] + o
		row[j] = z
		e[j] = -abs32(z)
	}
	vmath.ExpSum(e, e, 0) // e^-|z|, vectorised
	return vmath.SigmoidSoftplus(row, e)
}

func abs32(z float32) float32 { return math.Float32frombits(math.Float32bits(z) &^ (1 << 31)) }

// log32 is the natural logarithm for positive normal float32 (Cephes' logf:
// mantissa in [√½, √2), a degree-8 polynomial).
func log32(x float32) float32 {
	bits := math.Float32bits(x)
	e := int32(bits>>23) - 126
	m := math.Float32frombits(bits&0x807fffff | 0x3f000000) // in [0.5, 1)
	if m < 0.70710678 {
		e--
		m = m + m - 1
	} else {
		m = m - 1
	}
	z := m * m
	y := float32(7.0376836292e-2)
	y = y*m - 1.1514610310e-1
	y = y*m + 1.1676998740e-1
	y = y*m - 1.2420140846e-1
	y = y*m + 1.4249322787e-1
	y = y*m - 1.6668057665e-1
	y = y*m + 2.0000714765e-1
	y = y*m - 2.4999993993e-1
	y = y*m + 3.3333331174e-1
	y *= m * z
	fe := float32(e)
	y += -2.12194440e-4 * fe
	y += -0.5 * z
	return m + y + 0.693359375*fe
}

// nceLossOp views the loss inside nceFwdOp's output; its other inputs (weights,
// biases, inputs, labels, sampled) carry the gradient.
type nceLossOp struct{}

func (nceLossOp) Type() string                    { return "NCELoss" }
func (nceLossOp) ShapeOnly(i int) bool            { return i > 0 }
func (nceLossOp) Infer(in []Value) (Value, error) { return F32(), nil }
func (nceLossOp) Alias([]Value, Value) (int, int) { return 0, 0 }
func (nceLossOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}
func (nceLossOp) Grad(n, dy *Node) []*Node {
	fwd, w, b, x, lab, smp := n.inputs[0], n.inputs[1], n.inputs[2], n.inputs[3], n.inputs[4], n.inputs[5]
	pk := n.g.Apply(nceGradOp{}, dy, fwd, w, x, lab, smp)
	part := func(k int) *Node { return n.g.Apply(&ncePartOp{k: k}, pk, x, smp) }
	idx := Concat(0, Reshape(lab, -1), smp)
	dw := IndexedSlices(idx, part(1), w.value.Shape)
	db := IndexedSlices(idx, part(2), b.value.Shape)
	return []*Node{nil, dw, db, part(0), nil, nil}
}

// NCELoss is noise-contrastive estimation's loss, as TensorFlow's nce_loss with
// one true class per example and the default sampler: for inputs x (B, D), labels
// (B,) or (B, 1), weights (V, D), biases (V,) and sampled (S,) ids drawn by
// LogUniformSampler(g, S, V),
//
//	logit(b, k) = x_b·w_k + b_k - log(S·P(k))
//	loss = mean_b [ softplus(-logit(b, label_b)) + Σ_s softplus(logit(b, sampled_s)) ]
//
// i.e. the sigmoid cross-entropy of the true logit against 1 and of each sampled
// logit against 0, summed per example and averaged over the batch. Accidental hits
// (a sampled id equal to the label) are kept, as nce_loss does by default. The
// gradients with respect to weights and biases are sparse (rows labels and
// sampled); the gradient with respect to inputs is dense.
func NCELoss(weights, biases, inputs, labels, sampled *Node) *Node {
	g := weights.g
	fwd := g.Apply(nceFwdOp{}, weights, biases, inputs, labels, sampled)
	return g.Apply(nceLossOp{}, fwd, weights, biases, inputs, labels, sampled)
}

// NCELossUnique is NCELoss with ids from LogUniformSamplerUnique, as TensorFlow's
// nce_loss by default: the expected count of id k is 1 - (1 - P(k))^tries
// instead of S·P(k).
func NCELossUnique(weights, biases, inputs, labels, sampled, tries *Node) *Node {
	g := weights.g
	fwd := g.Apply(nceFwdOp{}, weights, biases, inputs, labels, sampled, tries)
	return g.Apply(nceLossOp{}, fwd, weights, biases, inputs, labels, sampled)
}

// SampledSoftmaxLossUnique is SampledSoftmaxLoss with ids from
// LogUniformSamplerUnique (TensorFlow's default), expected counts as
// NCELossUnique.
func SampledSoftmaxLossUnique(weights, biases, inputs, labels, sampled, tries *Node) *Node {
	g := weights.g
	fwd := g.Apply(nceFwdOp{softmax: true}, weights, biases, inputs, labels, sampled, tries)
	return g.Apply(nceLossOp{}, fwd, weights, biases, inputs, labels, sampled)
}

// SampledSoftmaxLoss is TensorFlow's sampled_softmax_loss with one true class,
// the log-uniform sampler and accidental hits removed: with the logits of NCELoss
// (log(S·P(k)) subtracted), each example's loss is the softmax cross-entropy of
// its true logit against the logits of the sampled ids that differ from its label,
//
//	loss = mean_b [ log(e^{z_true} + Σ_{s: id_s ≠ label_b} e^{z_s}) - z_true ]
//
// Gradients: sparse for weights and biases, dense for inputs (as NCELoss).
func SampledSoftmaxLoss(weights, biases, inputs, labels, sampled *Node) *Node {
	g := weights.g
	fwd := g.Apply(nceFwdOp{softmax: true}, weights, biases, inputs, labels, sampled)
	return g.Apply(nceLossOp{}, fwd, weights, biases, inputs, labels, sampled)
}

// nceGradOp: inputs dy, the forward pack, weights, inputs, labels, sampled. Output
// packs dx (B, D), the weight rows' values (B+S, D) and the bias values (B+S,).
type nceGradOp struct{}

func (nceGradOp) Type() string { return "NCELossGrad" }
func (nceGradOp) Infer(in []Value) (Value, error) {
	x, smp := in[3].Shape, in[5].Shape
	if !x.Known() || !smp.Known() {
		return F32(-1), nil
	}
	bs, d, s := x[0], x[1], smp[0]
	return F32(bs*d + (bs+s)*d + bs + s), nil
}
func (nceGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, pk, w, x, lab, smp := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Int32s(), in[5].Int32s()
	dim := in[2].Shape()[1]
	bs, s := in[3].Shape()[0], len(smp)
	lt, ls := pk[1:1+bs], pk[1+bs:]
	o := out.Float32s()
	dx := o[:bs*dim]
	wv := o[bs*dim : bs*dim+(bs+s)*dim]
	bv := o[bs*dim+(bs+s)*dim:]
	scr := c.Scratch(s*dim + bs*s)
	return KernelFunc(func() {
		wsm, dls := scr.F32[:s*dim], scr.F32[s*dim:]
		scale := dy[0] / float32(max(bs, 1))
		for j, k := range smp {
			copy(wsm[j*dim:(j+1)*dim], w[int(k)*dim:int(k)*dim+dim])
		}
		for i, sg := range ls { // the forward pass left σ(z) there
			dls[i] = sg * scale
		}
		sb := bv[bs:]
		clear(sb)
		for r := 0; r < bs; r++ {
			nn.Add(sb, dls[r*s:(r+1)*s])
		}
		// dx = dls·Ws + dlt ⊙ w[label]; true rows' values = dlt ⊙ x.
		if dim > 0 {
			gemm.Sgemm(false, false, bs, dim, s, 1, dls, s, wsm, dim, 0, dx, dim)
			gemm.Sgemm(true, false, s, dim, bs, 1, dls, s, x, dim, 0, wv[bs*dim:], dim)
		}
		for r := 0; r < bs; r++ {
			k := int(lab[r])
			dt := (lt[r] - 1) * scale
			bv[r] = dt
			vmath.Axpy(dx[r*dim:(r+1)*dim], w[k*dim:k*dim+dim], dt)
			vmath.ScaleTo(wv[r*dim:(r+1)*dim], x[r*dim:(r+1)*dim], dt)
		}
	}), nil
}

// ncePartOp views part k of nceGradOp's output: dx (B, D), weight values
// (B+S, D), bias values (B+S,). Inputs: the pack, inputs and sampled (shapes).
type ncePartOp struct{ k int }

func (o *ncePartOp) Type() string         { return "NCELossGradPart" }
func (o *ncePartOp) ShapeOnly(i int) bool { return i > 0 }
func (o *ncePartOp) shape(in []Value) (tensor.Shape, int) {
	x, s := in[1].Shape, in[2].Shape[0]
	bs, d := x[0], x[1]
	n := -1
	if bs >= 0 && s >= 0 {
		n = bs + s
	}
	switch o.k {
	case 0:
		return x.Clone(), 0
	case 1:
		return tensor.Shape{n, d}, bs * d
	}
	return tensor.Shape{n}, bs*d + n*d
}
func (o *ncePartOp) Infer(in []Value) (Value, error) {
	s, _ := o.shape(in)
	return Value{Shape: s, DType: tensor.Float32}, nil
}
func (o *ncePartOp) Alias(in []Value, _ Value) (int, int) {
	_, off := o.shape(in)
	return 0, off
}
func (o *ncePartOp) Compile(*KernelCtx, []*tensor.Tensor, *tensor.Tensor) (Kernel, error) {
	return nil, nil
}

// nceRowsGrain is the least work (sampled logits times the row width) that a
// core takes of NCE's per-example loop. Handing a loop to the other core
// costs a wake-up and moves its rows between the cores' caches: at
// word2vec's batch of 128, 64 samples and 128 dimensions (1.1M), one core
// ran the whole step faster than two (Zen 4).
const nceRowsGrain = 1 << 20
