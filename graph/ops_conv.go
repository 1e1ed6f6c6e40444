package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/gemm"
	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/tensor"
)

// Padding selects how a convolution or a pooling treats the border of its input,
// with TensorFlow's rules.
type Padding uint8

const (
	// Valid keeps only the windows that lie wholly inside the input.
	Valid Padding = iota
	// Same gives ceil(in/stride) outputs along each axis, padding the input with
	// pad_total = max((out-1)·stride + (k-1)·dilation + 1 - in, 0) elements,
	// pad_total/2 before it and the rest after.
	Same
)

func (p Padding) String() string {
	if p == Same {
		return "SAME"
	}
	return "VALID"
}

// Conv2DOpts configure a 2-D convolution. The zero value is stride 1, no
// dilation, VALID padding.
type Conv2DOpts struct {
	Strides   [2]int // (height, width); 0 means 1
	Dilations [2]int // (height, width); 0 means 1
	Padding   Padding
}

// Conv1DOpts configure a 1-D convolution. The zero value is stride 1, no
// dilation, VALID padding.
type Conv1DOpts struct {
	Stride   int // 0 means 1
	Dilation int // 0 means 1
	Padding  Padding
}

// convSpec is a convolution's or pooling's configuration, normalised. rank is 4
// for 2-D ops on NHWC tensors and 3 for 1-D ops on NWC tensors, which run as 2-D
// ops on images of height 1.
type convSpec struct {
	sh, sw, dh, dw int
	kh, kw         int // pooling window (convolutions take theirs from the filter)
	same           bool
	rank           int
}

func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

func spec2D(o Conv2DOpts) convSpec {
	return convSpec{sh: one(o.Strides[0]), sw: one(o.Strides[1]), dh: one(o.Dilations[0]), dw: one(o.Dilations[1]), same: o.Padding == Same, rank: 4}
}

func spec1D(o Conv1DOpts) convSpec {
	return convSpec{sh: 1, sw: one(o.Stride), dh: 1, dw: one(o.Dilation), same: o.Padding == Same, rank: 3}
}

func (s convSpec) opts() Conv2DOpts {
	p := Valid
	if s.same {
		p = Same
	}
	return Conv2DOpts{Strides: [2]int{s.sh, s.sw}, Dilations: [2]int{s.dh, s.dw}, Padding: p}
}

func (s convSpec) String() string {
	p := "VALID"
	if s.same {
		p = "SAME"
	}
	if s.rank == 3 {
		return fmt.Sprintf("stride %d, dilation %d, %s", s.sw, s.dw, p)
	}
	return fmt.Sprintf("strides (%d, %d), dilations (%d, %d), %s", s.sh, s.sw, s.dh, s.dw, p)
}

func (s convSpec) check(op string) error {
	if s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1 {
		return fmt.Errorf("%s: strides and dilations must be positive, got %v", op, s)
	}
	return nil
}

// image splits an activation shape into (N, H, W, C); 1-D shapes have H = 1.
func (s convSpec) image(x tensor.Shape) (n, h, w, c int) {
	if s.rank == 3 {
		return x[0], 1, x[1], x[2]
	}
	return x[0], x[1], x[2], x[3]
}

// filter splits a filter shape into (KH, KW, I, O); 1-D filters have KH = 1.
func (s convSpec) filter(f tensor.Shape) (kh, kw, ci, co int) {
	if s.rank == 3 {
		return 1, f[0], f[1], f[2]
	}
	return f[0], f[1], f[2], f[3]
}

func (s convSpec) shape(n, h, w, c int) tensor.Shape {
	if s.rank == 3 {
		return tensor.Shape{n, w, c}
	}
	return tensor.Shape{n, h, w, c}
}

func (s convSpec) layout(what string) string {
	if s.rank == 3 {
		if what == "filter" {
			return "a float32 filter (KW, C, OC)"
		}
		return "a float32 NWC tensor (N, W, C)"
	}
	if what == "filter" {
		return "a float32 filter (KH, KW, C, OC)"
	}
	return "a float32 NHWC tensor (N, H, W, C)"
}

// out returns the output size along one axis, -1 when the input size is unknown.
func (s convSpec) out(in, k, stride, dil int) (int, error) {
	if in < 0 || k < 0 {
		return -1, nil
	}
	o, _, err := nn.OutSize(in, k, stride, dil, s.same)
	return o, err
}

// outShape infers the output shape of the forward sweep over x with a kh×kw
// window and oc output channels (each may be -1).
func (s convSpec) outShape(x tensor.Shape, kh, kw, oc int) (tensor.Shape, error) {
	n, h, w, _ := s.image(x)
	oh, err := s.out(h, kh, s.sh, s.dh)
	if err != nil {
		return nil, err
	}
	ow, err := s.out(w, kw, s.sw, s.dw)
	if err != nil {
		return nil, err
	}
	return s.shape(n, oh, ow, oc), nil
}

// geom returns the concrete geometry of the forward sweep over x with a kh×kw
// window and oc output channels.
func (s convSpec) geom(x tensor.Shape, kh, kw, oc int) (nn.Conv, error) {
	n, h, w, c := s.image(x)
	oh, pt, err := nn.OutSize(h, kh, s.sh, s.dh, s.same)
	if err != nil {
		return nn.Conv{}, err
	}
	ow, pl, err := nn.OutSize(w, kw, s.sw, s.dw, s.same)
	if err != nil {
		return nn.Conv{}, err
	}
	return nn.Conv{N: n, H: h, W: w, C: c, KH: kh, KW: kw, OC: oc, SH: s.sh, SW: s.sw, DH: s.dh, DW: s.dw, PT: pt, PL: pl, OH: oh, OW: ow}, nil
}

// convGeom is the geometry of a convolution of x by filter f.
func (s convSpec) convGeom(x, f tensor.Shape) (nn.Conv, error) {
	kh, kw, _, oc := s.filter(f)
	return s.geom(x, kh, kw, oc)
}

func (s convSpec) checkImage(op, arg string, v Value) error {
	if len(v.Shape) != s.rank || v.DType != tensor.Float32 {
		return &tensor.ShapeError{Op: op, Arg: arg, Got: v.Shape, Want: s.layout("image")}
	}
	return nil
}

func (s convSpec) checkFilter(op string, v Value) error {
	if len(v.Shape) != s.rank || v.DType != tensor.Float32 {
		return &tensor.ShapeError{Op: op, Arg: "filter", Got: v.Shape, Want: s.layout("filter")}
	}
	for _, d := range v.Shape {
		if d == 0 {
			return &tensor.ShapeError{Op: op, Arg: "filter", Got: v.Shape, Want: "non-empty " + s.layout("filter")}
		}
	}
	return nil
}

func sameDim(a, b int) bool { return a < 0 || b < 0 || a == b }

// convOp is Conv2D (and Conv1D), optionally with a bias and an activation fused
// into the product's epilogue: inputs x, w[, b].
type convOp struct {
	spec convSpec
	act  Activation
	bias bool
}

func (o *convOp) Type() string {
	t := "Conv2D"
	if o.spec.rank == 3 {
		t = "Conv1D"
	}
	if o.bias || o.act != Identity {
		t += "BiasAct"
	}
	return t
}

func (o *convOp) Infer(in []Value) (Value, error) {
	t := o.Type()
	if err := o.spec.check(t); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkImage(t, "x", in[0]); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkFilter(t, in[1]); err != nil {
		return Value{}, err
	}
	_, _, _, c := o.spec.image(in[0].Shape)
	kh, kw, ci, oc := o.spec.filter(in[1].Shape)
	if !sameDim(c, ci) {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "filter", Got: in[1].Shape, Want: fmt.Sprintf("%d input channels, as x %v has", c, in[0].Shape)}
	}
	if o.bias {
		if b := in[2]; len(b.Shape) != 1 || !sameDim(b.Shape[0], oc) || b.DType != tensor.Float32 {
			return Value{}, &tensor.ShapeError{Op: t, Arg: "bias", Got: b.Shape, Want: fmt.Sprintf("(%d,), one per output channel of the filter %v", oc, in[1].Shape)}
		}
	}
	s, err := o.spec.outShape(in[0].Shape, kh, kw, oc)
	if err != nil {
		return Value{}, fmt.Errorf("%s of x %v by filter %v (%v): %w", t, in[0].Shape, in[1].Shape, o.spec, err)
	}
	return Value{Shape: s, DType: tensor.Float32}, nil
}

func (o *convOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	g, err := o.spec.convGeom(in[0].Shape(), in[1].Shape())
	if err != nil {
		return nil, err
	}
	x, w, y := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	var b []float32
	if o.bias {
		b = in[2].Float32s()
	}
	epi := epilogue(o.act, b, g.OC)
	if len(y) == 0 {
		return KernelFunc(func() {}), nil
	}
	if g.Pointwise() {
		m := g.N * g.H * g.W
		rows := func(lo, hi int) { epi(y[lo*g.OC : hi*g.OC]) }
		return KernelFunc(func() {
			gemm.Sgemm(false, false, m, g.OC, g.C, 1, x, g.C, w, g.OC, 0, y, g.OC)
			if epi != nil {
				c.Pool.For(m, max(1, grain/g.OC), rows)
			}
		}), nil
	}
	p := planConvForward(c, &g)
	scr := c.Scratch(p.parts * p.colLen)
	body := convForward(&g, p, scr, x, func() []float32 { return w }, y, epi, nil)
	return KernelFunc(func() { c.Pool.For(p.parts, 1, body) }), nil
}

// compileWithPool is the convolution's kernel followed, chunk by chunk of
// images, by the pooling po of those images into out while they are in
// cache (see fusedConvPools). With write false, the convolution's output y
// is not needed: each chunk goes to a scratch block instead.
func (o *convOp) compileWithPool(c *KernelCtx, in []*tensor.Tensor, y *tensor.Tensor, write bool, po *poolOp, out *tensor.Tensor, args []int32) (Kernel, error) {
	g, err := o.spec.convGeom(in[0].Shape(), in[1].Shape())
	if err != nil {
		return nil, err
	}
	pg, err := po.geom(tensor.Shape{g.N, g.OH, g.OW, g.OC})
	if err != nil {
		return nil, err
	}
	x, w, pd := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	var yd []float32
	if write {
		yd = y.Float32s() // y has no memory when it is not written
	}
	var b []float32
	if o.bias {
		b = in[2].Float32s()
	}
	if len(pd) == 0 {
		return KernelFunc(func() {}), nil
	}
	pool := nn.MaxPool
	if po.kind == avgPool {
		pool = nn.AvgPool
	}
	p := planConvForward(c, &g)
	outSz, pinSz, poutSz := g.OutImageSize(), pg.ImageSize(), pg.OutImageSize()
	if outSz != pinSz {
		return nil, fmt.Errorf("conv output image of %d floats, pooling input of %d", outSz, pinSz)
	}
	// Without y, part k's chunks land in block k of a scratch of
	// p.parts·p.chunk images, after the im2col blocks.
	blk := 0
	if !write {
		blk = p.chunk * outSz
	}
	scr := c.Scratch(p.parts*p.colLen + p.parts*blk)
	epi := epilogue(o.act, b, g.OC)
	post := func(n, nb int, yc []float32) {
		for i := range nb {
			pool(&pg, yc[i*outSz:][:outSz], pd[(n+i)*poutSz:][:poutSz])
		}
	}
	if args != nil { // the pooling's gradient routes by them (linkArgPools)
		post = func(n, nb int, yc []float32) {
			for i := range nb {
				nn.MaxPoolArg(&pg, yc[i*outSz:][:outSz], pd[(n+i)*poutSz:][:poutSz], args[(n+i)*poutSz:][:poutSz])
			}
		}
	}
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			if write {
				convForwardPart(&g, p, scr, part, x, w, yd, false, epi, post)
			} else {
				convForwardPart(&g, p, scr, part, x, w, scr.F32[p.parts*p.colLen+part*blk:][:blk], true, epi, post)
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(p.parts, 1, body) }), nil
}

// convForward returns the loop body of the convolution g of x by the filter
// that w returns (read once per part) into y, over parts [lo, hi) of the
// batch: each part writes the im2col matrix of a chunk of images into its
// share of scr (the first p.parts·p.colLen floats) and multiplies it by the
// filter, A read in place; epi, if not nil, runs on each chunk of y.
func convForward(g *nn.Conv, p convPlan, scr *Scratch, x []float32, w func() []float32, y []float32, epi func([]float32), post func(n, nb int, yc []float32)) func(lo, hi int) {
	return func(lo, hi int) {
		f := w()
		for part := lo; part < hi; part++ {
			convForwardPart(g, p, scr, part, x, f, y, false, epi, post)
		}
	}
}

// convForwardPart runs part's chunks of images: chunk n goes to y at image n,
// or, with reuse, to the start of y every time (a block of p.chunk images).
// post, if not nil, runs on each chunk after epi, with its first image.
func convForwardPart(g *nn.Conv, p convPlan, scr *Scratch, part int, x, f, y []float32, reuse bool, epi func([]float32), post func(n, nb int, yc []float32)) {
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	col := scr.F32[part*p.colLen:][:p.colLen]
	if p.implicit {
		clear(col) // the padded image's border, zero for the whole run
		nn.PackFilter(p.eng, g, f, &p.packs[part])
	}
	n0, n1 := part*g.N/p.parts, (part+1)*g.N/p.parts
	for n := n0; n < n1; n += p.chunk {
		nb := min(p.chunk, n1-n)
		var yc []float32
		if reuse {
			yc = y[:nb*outSz]
		} else {
			yc = y[n*outSz:][:nb*outSz]
		}
		if p.implicit {
			for i := range nb {
				nn.ConvImplicit(p.eng, g, x[(n+i)*inSz:][:inSz], col, &p.packs[part], yc[i*outSz:][:outSz])
			}
		} else {
			for i := 0; i < nb; i++ {
				nn.Im2col(g, x[(n+i)*inSz:][:inSz], col[i*rows*K:][:rows*K])
			}
			p.eng.Sgemm(false, false, nb*rows, g.OC, K, 1, col, K, f, g.OC, 0, yc, g.OC)
		}
		if epi != nil {
			epi(yc)
		}
		if post != nil {
			post(n, nb, yc)
		}
	}
}

func (o *convOp) Grad(n, dy *Node) []*Node {
	x, w := n.inputs[0], n.inputs[1]
	dz := dy
	if f := reluGradFused(n, dy); f != nil {
		dz = f
	} else if o.act != Identity {
		dz = n.g.Apply(&actGradOp{act: o.act}, dy, n)
	}
	gs := []*Node{
		n.g.Apply(&convBackpropInputOp{spec: o.spec}, dz, w, x),
		n.g.Apply(&convBackpropFilterOp{spec: o.spec}, x, dz, w),
	}
	if o.bias {
		gs = append(gs, n.g.Apply(channelSumOp{}, dz, n.inputs[2]))
	}
	return gs
}

// reluGradFused returns, for a node n that ends in a ReLU, its pre-activation
// gradient computed in the same pass as dy when dy is the gradient of a max
// pooling or an LRN of n (and of nothing else): the op producing dy is built
// again with the ReLU's mask fused in, saving a pass over the activations.
// The unfused dy node stays in the graph, unused unless asked for. It returns
// nil when there is nothing to fuse.
func reluGradFused(n, dy *Node) *Node {
	if o, ok := n.op.(*convOp); !ok || o.act != ReluAct {
		return nil
	}
	if len(dy.inputs) == 0 || dy.inputs[0] != n {
		return nil
	}
	switch o := dy.op.(type) {
	case *maxPoolGradOp:
		if !o.relu {
			return n.g.Apply(&maxPoolGradOp{spec: o.spec, relu: true}, dy.inputs...)
		}
	case *lrnGradOp:
		if !o.relu {
			return n.g.Apply(&lrnGradOp{l: o.l, relu: true}, dy.inputs...)
		}
	}
	return nil
}

func actKind(a Activation) unKind {
	switch a {
	case ReluAct:
		return unRelu
	case SigmoidAct:
		return unSigmoid
	case TanhAct:
		return unTanh
	}
	return 255
}

// epilogue returns the function applied to rows of oc output channels just after
// their product, while they are in cache: add the bias, apply the activation.
// Nil when there is nothing to do.
func epilogue(act Activation, b []float32, oc int) func(y []float32) {
	if b == nil && act == Identity {
		return nil
	}
	k := actKind(act)
	if b == nil {
		return func(y []float32) { unLoop(k, 0, y, y) }
	}
	b = b[:oc:oc]
	return func(y []float32) {
		for r := 0; r+oc <= len(y); r += oc {
			row := y[r : r+oc : r+oc]
			if k == unRelu {
				nn.AddRelu(row, b)
				continue
			}
			for j := range row {
				row[j] += b[j]
			}
			if act != Identity {
				unLoop(k, 0, row, row)
			}
		}
	}
}

// actGradOp is the gradient of a fused activation from its output: inputs dy, y.
type actGradOp struct{ act Activation }

func (o *actGradOp) Type() string { return o.act.String() + "Grad" }
func (o *actGradOp) Infer(in []Value) (Value, error) {
	if !compatible(in[0].Shape, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "dy", Got: in[0].Shape, Want: fmt.Sprint(in[1].Shape)}
	}
	return in[0], nil
}
func (o *actGradOp) InPlace() int { return 0 }
func (o *actGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, y, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	k := actKind(o.act)
	body := func(lo, hi int) {
		if k == unRelu {
			nn.ReluGrad(d[lo:hi], dy[lo:hi], y[lo:hi])
			return
		}
		unGradLoop(k, 0, d[lo:hi], dy[lo:hi], y[lo:hi])
	}
	return KernelFunc(func() { c.Pool.For(len(d), grain, body) }), nil
}

// convPlan splits a convolution's batch over the cores: each part takes a
// contiguous range of images and runs one product per chunk of images, with its
// own im2col scratch.
type convPlan struct {
	parts, chunk int
	colLen       int // im2col scratch per part (implicit: the padded image)
	eng          *gemm.Engine
	// implicit: the forward runs without im2col (nn.ConvImplicit), each
	// part with its own packed filter.
	implicit bool
	packs    []gemm.PackedB
}

// Chunk sizes: enough rows per product to amortise packing the filter, and an
// im2col block of at most 4 MB per core. On the CIFAR-10 shapes, chunks of 512
// to 4608 rows ran at the same speed (docs/BENCHMARKS.md).
const (
	convTargetRows = 512
	convMaxCol     = 1 << 20 // floats of im2col per part
)

func planConv(c *KernelCtx, g *nn.Conv) convPlan {
	parts := max(1, min(c.Pool.Workers(), g.N))
	rows, K := max(g.Rows(), 1), g.K()
	per := (g.N + parts - 1) / parts
	chunk := (convTargetRows + rows - 1) / rows
	chunk = max(1, min(chunk, convMaxCol/max(rows*K, 1), per))
	p := convPlan{parts: parts, chunk: chunk, colLen: chunk * rows * K, eng: nn.Gemm()}
	if parts == 1 {
		// One image (or one core): let the product itself use every core.
		p.eng = gemm.Default()
	}
	return p
}

// planConvForward is planConv for a forward convolution: without im2col
// (nn.ConvImplicit) where the geometry allows and the batch is split among
// the cores (one image alone runs its im2col product on every core), one
// image a chunk. At batch 128 on two threads of a Zen 4, CIFAR's second
// layer ran 15% faster so (one thread: 17.2-17.5 ms against 20.2-20.8 ms
// for 64 images).
func planConvForward(c *KernelCtx, g *nn.Conv) convPlan {
	p := planConv(c, g)
	if !g.ImplicitOK(p.eng) || p.parts == 1 && c.Pool.Workers() > 1 {
		return p
	}
	p.implicit, p.chunk, p.colLen = true, 1, g.ImplicitPad()
	p.packs = make([]gemm.PackedB, p.parts)
	return p
}

// Conv2D convolves x (N, H, W, C) with the filter w (KH, KW, C, OC) and returns
// (N, OH, OW, OC), with TensorFlow's semantics (cross-correlation, strides,
// dilations, SAME or VALID padding). Its gradients are Conv2DBackpropInput and
// Conv2DBackpropFilter.
func Conv2D(x, w *Node, opts Conv2DOpts) *Node {
	return x.g.Apply(&convOp{spec: spec2D(opts)}, x, w)
}

// Conv2DBiasAct computes act(Conv2D(x, w) + b) with the bias and the activation
// applied to each block of the product while it is in cache.
func Conv2DBiasAct(x, w, b *Node, act Activation, opts Conv2DOpts) *Node {
	return x.g.Apply(&convOp{spec: spec2D(opts), act: act, bias: true}, x, w, b)
}

// Conv1D convolves x (N, W, C) with the filter w (KW, C, OC) and returns
// (N, OW, OC): Conv2D on images of height 1.
func Conv1D(x, w *Node, opts Conv1DOpts) *Node {
	return x.g.Apply(&convOp{spec: spec1D(opts)}, x, w)
}

// Conv1DBiasAct computes act(Conv1D(x, w) + b), fused like Conv2DBiasAct.
func Conv1DBiasAct(x, w, b *Node, act Activation, opts Conv1DOpts) *Node {
	return x.g.Apply(&convOp{spec: spec1D(opts), act: act, bias: true}, x, w, b)
}

// convBackpropInputOp is the gradient of a convolution with respect to its input,
// and the forward pass of a transposed convolution: inputs dy, w[, like], where
// like (read for its shape only) is the input whose gradient this is. Without
// like, the input shape is the largest the forward convolution maps to dy's shape
// (see Conv2DTranspose).
type convBackpropInputOp struct{ spec convSpec }

func (o *convBackpropInputOp) Type() string {
	if o.spec.rank == 3 {
		return "Conv1DBackpropInput"
	}
	return "Conv2DBackpropInput"
}
func (o *convBackpropInputOp) ShapeOnly(i int) bool { return i == 2 }

// transposedSize is the input size along one axis that a transposed convolution
// produces from out: in·stride for SAME, (in-1)·stride + dilated window for VALID.
func (s convSpec) transposedSize(out, k, stride, dil int) int {
	if out < 0 || k < 0 {
		return -1
	}
	if s.same {
		return out * stride
	}
	return (out-1)*stride + (k-1)*dil + 1
}

func (o *convBackpropInputOp) Infer(in []Value) (Value, error) {
	t := o.Type()
	if err := o.spec.check(t); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkImage(t, "dy", in[0]); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkFilter(t, in[1]); err != nil {
		return Value{}, err
	}
	n, oh, ow, oc := o.spec.image(in[0].Shape)
	kh, kw, ci, fo := o.spec.filter(in[1].Shape)
	if !sameDim(oc, fo) {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "filter", Got: in[1].Shape, Want: fmt.Sprintf("%d output channels, as dy %v has", oc, in[0].Shape)}
	}
	var xs tensor.Shape
	if len(in) == 3 {
		if err := o.spec.checkImage(t, "input", in[2]); err != nil {
			return Value{}, err
		}
		xs = in[2].Shape.Clone()
		if _, _, _, c := o.spec.image(xs); !sameDim(c, ci) {
			return Value{}, &tensor.ShapeError{Op: t, Arg: "filter", Got: in[1].Shape, Want: fmt.Sprintf("%d input channels, as the input %v has", c, xs)}
		}
	} else {
		h := o.spec.transposedSize(oh, kh, o.spec.sh, o.spec.dh)
		if o.spec.rank == 3 {
			h = 1
		}
		xs = o.spec.shape(n, h, o.spec.transposedSize(ow, kw, o.spec.sw, o.spec.dw), ci)
	}
	// The forward convolution must map the input shape onto dy's shape.
	want, err := o.spec.outShape(xs, kh, kw, oc)
	if err != nil {
		return Value{}, fmt.Errorf("%s: input %v, filter %v (%v): %w", t, xs, in[1].Shape, o.spec, err)
	}
	if !compatible(want, in[0].Shape) {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "dy", Got: in[0].Shape, Want: fmt.Sprintf("%v, the output of the convolution of %v by %v (%v)", want, xs, in[1].Shape, o.spec)}
	}
	return Value{Shape: xs, DType: tensor.Float32}, nil
}

func (o *convBackpropInputOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	g, err := o.spec.convGeom(out.Shape(), in[1].Shape())
	if err != nil {
		return nil, err
	}
	dy, w, dx := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	if len(dx) == 0 {
		return KernelFunc(func() {}), nil
	}
	if len(dy) == 0 {
		return KernelFunc(func() { clear(dx) }), nil
	}
	if g.Pointwise() {
		m := g.N * g.H * g.W
		return KernelFunc(func() { gemm.Sgemm(false, true, m, g.C, g.OC, 1, dy, g.OC, w, g.OC, 0, dx, g.C) }), nil
	}
	if t, ok := g.InputGradConv(); ok && g.C >= flipMinC {
		// Stride 1: a forward convolution of dy by the flipped filter,
		// which the kernel builds in the scratch after the im2col buffers.
		p := planConvForward(c, &t)
		wLen := t.K() * t.OC
		scr := c.Scratch(p.parts*p.colLen + wLen)
		flipped := func() []float32 { return scr.F32[p.parts*p.colLen:][:wLen] }
		body := convForward(&t, p, scr, dy, flipped, dx, nil, nil)
		return KernelFunc(func() {
			nn.FlipFilter(&g, w, flipped())
			c.Pool.For(p.parts, 1, body)
		}), nil
	}
	p := planConv(c, &g)
	scr := c.Scratch(p.parts * p.colLen)
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			col := scr.F32[part*p.colLen:][:p.colLen]
			n0, n1 := part*g.N/p.parts, (part+1)*g.N/p.parts
			for n := n0; n < n1; n += p.chunk {
				nb := min(p.chunk, n1-n)
				p.eng.Sgemm(false, true, nb*rows, K, g.OC, 1, dy[n*outSz:], g.OC, w, g.OC, 0, col, K)
				for i := 0; i < nb; i++ {
					dxi := dx[(n+i)*inSz:][:inSz]
					clear(dxi)
					nn.Col2im(&g, col[i*rows*K:][:rows*K], dxi)
				}
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(p.parts, 1, body) }), nil
}

// flipMinC is the fewest input channels for which a stride-1 input gradient
// runs as a forward convolution: its product has C columns, and below a
// kernel's narrow width (16) most of each tile would be padding. At batch 128
// on Zen 4, CIFAR's 12×12×64 layer took 20 ms that way against 23 ms through
// col2im; its 24×24×3 input, 32 ms against 9.
const flipMinC = 16

// Grad: the op is linear in dy and in w. For L = <G, A(w)ᵀ dy>, the gradient for
// dy is A(w) G = Conv(G, w), and for w the filter gradient of the convolution of
// G whose output gradient is dy.
func (o *convBackpropInputOp) Grad(n, dx *Node) []*Node {
	dy, w := n.inputs[0], n.inputs[1]
	gs := []*Node{
		n.g.Apply(&convOp{spec: o.spec}, dx, w),
		n.g.Apply(&convBackpropFilterOp{spec: o.spec}, dx, dy, w),
	}
	if len(n.inputs) == 3 {
		gs = append(gs, nil)
	}
	return gs
}

// Conv2DBackpropInput is the gradient of Conv2D(x, w, opts) with respect to x
// given dy, the gradient with respect to its output. x is read for its shape only.
func Conv2DBackpropInput(dy, w, x *Node, opts Conv2DOpts) *Node {
	return dy.g.Apply(&convBackpropInputOp{spec: spec2D(opts)}, dy, w, x)
}

// Conv2DTranspose is the transposed convolution ("deconvolution") of x
// (N, H, W, Cin) by the filter w (KH, KW, Cout, Cin), as in TensorFlow's
// conv2d_transpose: the gradient of a Conv2D whose output is x. It returns
// (N, OH, OW, Cout) with OH = H·stride for SAME padding and
// (H-1)·stride + (KH-1)·dilation + 1 for VALID (likewise OW).
func Conv2DTranspose(x, w *Node, opts Conv2DOpts) *Node {
	return x.g.Apply(&convBackpropInputOp{spec: spec2D(opts)}, x, w)
}

// Conv1DTranspose is Conv2DTranspose on x (N, W, Cin) with a filter
// (KW, Cout, Cin).
func Conv1DTranspose(x, w *Node, opts Conv1DOpts) *Node {
	return x.g.Apply(&convBackpropInputOp{spec: spec1D(opts)}, x, w)
}

// convBackpropFilterOp is the gradient of a convolution with respect to its
// filter: inputs x, dy, like (the filter, read for its shape only).
type convBackpropFilterOp struct{ spec convSpec }

func (o *convBackpropFilterOp) Type() string {
	if o.spec.rank == 3 {
		return "Conv1DBackpropFilter"
	}
	return "Conv2DBackpropFilter"
}
func (o *convBackpropFilterOp) ShapeOnly(i int) bool { return i == 2 }

func (o *convBackpropFilterOp) Infer(in []Value) (Value, error) {
	t := o.Type()
	if err := o.spec.check(t); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkImage(t, "x", in[0]); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkImage(t, "dy", in[1]); err != nil {
		return Value{}, err
	}
	if err := o.spec.checkFilter(t, in[2]); err != nil {
		return Value{}, err
	}
	kh, kw, ci, oc := o.spec.filter(in[2].Shape)
	if _, _, _, c := o.spec.image(in[0].Shape); !sameDim(c, ci) {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "filter", Got: in[2].Shape, Want: fmt.Sprintf("%d input channels, as x %v has", c, in[0].Shape)}
	}
	want, err := o.spec.outShape(in[0].Shape, kh, kw, oc)
	if err != nil {
		return Value{}, fmt.Errorf("%s: x %v, filter %v (%v): %w", t, in[0].Shape, in[2].Shape, o.spec, err)
	}
	if !compatible(want, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "dy", Got: in[1].Shape, Want: fmt.Sprintf("%v, the output of the convolution of %v by %v (%v)", want, in[0].Shape, in[2].Shape, o.spec)}
	}
	return Value{Shape: in[2].Shape.Clone(), DType: tensor.Float32}, nil
}

func (o *convBackpropFilterOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	g, err := o.spec.convGeom(in[0].Shape(), out.Shape())
	if err != nil {
		return nil, err
	}
	x, dy, dw := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	if len(dy) == 0 || len(x) == 0 {
		return KernelFunc(func() { clear(dw) }), nil
	}
	if g.Pointwise() {
		m := g.N * g.H * g.W
		return KernelFunc(func() { gemm.Sgemm(true, false, g.C, g.OC, m, 1, x, g.C, dy, g.OC, 0, dw, g.OC) }), nil
	}
	p := planConv(c, &g)
	implicit := g.ImplicitFilterOK(p.eng) && (p.parts > 1 || c.Pool.Workers() == 1)
	var pbs []gemm.PackedB // per part: its image's output gradient, packed
	if implicit {
		p.colLen, pbs = g.ImplicitFilterPad(), make([]gemm.PackedB, p.parts)
	}
	rows, K, inSz, outSz := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize()
	wLen := K * g.OC
	scr := c.Scratch(p.parts*p.colLen + (p.parts-1)*wLen)
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			col := scr.F32[part*p.colLen:][:p.colLen]
			acc := dw
			if part > 0 {
				acc = scr.F32[p.parts*p.colLen+(part-1)*wLen:][:wLen]
			}
			beta := float32(0)
			n0, n1 := part*g.N/p.parts, (part+1)*g.N/p.parts
			if implicit {
				// Image by image, without im2col (nn.ConvFilterImplicit).
				clear(col)
				for n := n0; n < n1; n++ {
					nn.ConvFilterImplicit(p.eng, &g, x[n*inSz:][:inSz], dy[n*outSz:][:outSz], col, &pbs[part], beta, acc)
					beta = 1
				}
				if beta == 0 {
					clear(acc)
				}
				continue
			}
			for n := n0; n < n1; n += p.chunk {
				nb := min(p.chunk, n1-n)
				for i := 0; i < nb; i++ {
					nn.Im2col(&g, x[(n+i)*inSz:][:inSz], col[i*rows*K:][:rows*K])
				}
				p.eng.Sgemm(true, false, K, g.OC, nb*rows, 1, col, K, dy[n*outSz:], g.OC, beta, acc, g.OC)
				beta = 1
			}
			if beta == 0 {
				clear(acc)
			}
		}
	}
	reduce := func(lo, hi int) {
		d := dw[lo:hi]
		for part := 1; part < p.parts; part++ {
			nn.Add(d, scr.F32[p.parts*p.colLen+(part-1)*wLen+lo:][:hi-lo])
		}
	}
	return KernelFunc(func() {
		c.Pool.For(p.parts, 1, body)
		if p.parts > 1 {
			c.Pool.For(wLen, grain/4, reduce)
		}
	}), nil
}

// Grad: the op is bilinear in x and dy: <G, F(x, dy)> = <dy, Conv(x, G)> =
// <x, BackpropInput(dy, G)>.
func (o *convBackpropFilterOp) Grad(n, dw *Node) []*Node {
	x, dy := n.inputs[0], n.inputs[1]
	return []*Node{
		n.g.Apply(&convBackpropInputOp{spec: o.spec}, dy, dw, x),
		n.g.Apply(&convOp{spec: o.spec}, x, dw),
		nil,
	}
}

// Conv2DBackpropFilter is the gradient of Conv2D(x, w, opts) with respect to w
// given dy, the gradient with respect to its output. w is read for its shape
// only.
func Conv2DBackpropFilter(x, dy, w *Node, opts Conv2DOpts) *Node {
	return x.g.Apply(&convBackpropFilterOp{spec: spec2D(opts)}, x, dy, w)
}

// channelSumOp sums dy (..., C) over every axis but the last: the gradient of a
// bias. Input 1 (the bias) is read for its shape only.
type channelSumOp struct{}

func (channelSumOp) Type() string         { return "BiasGrad" }
func (channelSumOp) ShapeOnly(i int) bool { return i == 1 }
func (channelSumOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if len(s) == 0 || len(in[1].Shape) != 1 || !sameDim(s[len(s)-1], in[1].Shape[0]) {
		return Value{}, &tensor.ShapeError{Op: "BiasGrad", Arg: "dy", Got: s, Want: fmt.Sprintf("a last axis of %v", in[1].Shape)}
	}
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (channelSumOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, d := in[0].Float32s(), out.Float32s()
	if len(d) == 0 {
		return KernelFunc(func() {}), nil
	}
	sum := sumRows(c, len(dy)/len(d), len(d))
	return KernelFunc(func() { sum(dy, d) }), nil
}
func (channelSumOp) Grad(n, dd *Node) []*Node {
	return []*Node{BroadcastLike(dd, n.inputs[0]), nil}
}

// compileConvGrads is the kernel of a group found by fusedConvGrads: ns holds
// the max pooling's gradient g (x: the convolution's output y, dy: the
// pooling's output gradient), the convolution's filter gradient f, and
// optionally its bias gradient. Per part of the batch and chunk of images, as
// the filter gradient alone: dz of the chunk into a scratch block, the chunk's
// im2col columns times dz into the part's filter sum, dz's rows into the
// part's bias sum; then the parts' sums are added. dz itself is not written.
//
// With pool and args (linkArgPools), dz comes from the pooled output and the
// argmax offsets the forward pass recorded, not from the convolution's output.
func compileConvGrads(c *KernelCtx, ns []*Node, ts map[*Node]*tensor.Tensor, pool *Node, args []int32) (Kernel, error) {
	gn, fn := ns[0], ns[1]
	po, fo := gn.op.(*maxPoolGradOp), fn.op.(*convBackpropFilterOp)
	dy := ts[gn.inputs[1]].Float32s()
	var y []float32 // the convolution's output; without memory when args route dy
	if args == nil {
		y = ts[gn.inputs[0]].Float32s()
	}
	x, dw := ts[fn.inputs[0]].Float32s(), ts[fn].Float32s()
	var db []float32
	if len(ns) == 3 {
		db = ts[ns[2]].Float32s()
	}
	g, err := fo.spec.convGeom(ts[fn.inputs[0]].Shape(), ts[fn].Shape())
	if err != nil {
		return nil, err
	}
	pg, err := (&poolOp{kind: maxPool, spec: po.spec}).geom(tensor.Shape{g.N, g.OH, g.OW, g.OC})
	if err != nil {
		return nil, err
	}
	p := planConv(c, &g)
	rows, K, inSz, outSz, oc := g.Rows(), g.K(), g.ImageSize(), g.OutImageSize(), g.OC
	poutSz := pg.OutImageSize()
	wLen := K * oc
	nf, ni := nn.MaxPoolGradScratch(&pg)
	dzLen := p.chunk * outSz
	// Per part: im2col columns, dz of a chunk, the pooling's scratch; the
	// filter sums of parts 1.. after them.
	per := p.colLen + dzLen + nf
	scr := c.Scratch(p.parts*per + (p.parts-1)*wLen)
	arg := make([]int32, p.parts*ni)
	dbs := make([]float32, p.parts*oc)
	relu := po.relu
	var pooled []float32
	if pool != nil {
		pooled = ts[pool].Float32s()
	}
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			base := scr.F32[part*per:]
			col, dz, ps := base[:p.colLen], base[p.colLen:][:dzLen], base[p.colLen+dzLen:][:nf]
			a := arg[part*ni:][:ni]
			acc := dw
			if part > 0 {
				acc = scr.F32[p.parts*per+(part-1)*wLen:][:wLen]
			}
			dbp := dbs[part*oc:][:oc]
			clear(dbp)
			beta := float32(0)
			n0, n1 := part*g.N/p.parts, (part+1)*g.N/p.parts
			for n := n0; n < n1; n += p.chunk {
				nb := min(p.chunk, n1-n)
				for i := 0; i < nb; i++ {
					if args != nil {
						o := (n + i) * poutSz
						nn.MaxPoolGradArg(&pg, pooled[o:][:poutSz], dy[o:][:poutSz], args[o:][:poutSz], dz[i*outSz:][:outSz], ps, relu)
					} else {
						nn.MaxPoolGrad(&pg, y[(n+i)*outSz:][:outSz], dy[(n+i)*poutSz:][:poutSz], dz[i*outSz:][:outSz], ps, a, relu)
					}
					nn.Im2col(&g, x[(n+i)*inSz:][:inSz], col[i*rows*K:][:rows*K])
				}
				p.eng.Sgemm(true, false, K, oc, nb*rows, 1, col, K, dz, oc, beta, acc, oc)
				beta = 1
				if db != nil {
					for r := 0; r < nb*rows; r++ {
						nn.Add(dbp, dz[r*oc:][:oc])
					}
				}
			}
			if beta == 0 {
				clear(acc)
			}
		}
	}
	reduce := func(lo, hi int) {
		d := dw[lo:hi]
		for part := 1; part < p.parts; part++ {
			nn.Add(d, scr.F32[p.parts*per+(part-1)*wLen+lo:][:hi-lo])
		}
	}
	return KernelFunc(func() {
		c.Pool.For(p.parts, 1, body)
		if p.parts > 1 {
			c.Pool.For(wLen, grain/4, reduce)
		}
		if db != nil {
			copy(db, dbs[:oc])
			for part := 1; part < p.parts; part++ {
				nn.Add(db, dbs[part*oc:][:oc])
			}
		}
	}), nil
}
