package graph

import (
	"fmt"

	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/tensor"
)

// PoolOpts configure a 2-D pooling.
type PoolOpts struct {
	Size    [2]int // window (height, width)
	Strides [2]int // (height, width); 0 means the window size
	Padding Padding
}

// Pool1DOpts configure a 1-D pooling.
type Pool1DOpts struct {
	Size    int // window width
	Stride  int // 0 means Size
	Padding Padding
}

func poolSpec2D(o PoolOpts) convSpec {
	sh, sw := o.Strides[0], o.Strides[1]
	if sh == 0 {
		sh = o.Size[0]
	}
	if sw == 0 {
		sw = o.Size[1]
	}
	return convSpec{sh: sh, sw: sw, dh: 1, dw: 1, kh: o.Size[0], kw: o.Size[1], same: o.Padding == Same, rank: 4}
}

func poolSpec1D(o Pool1DOpts) convSpec {
	s := o.Stride
	if s == 0 {
		s = o.Size
	}
	return convSpec{sh: 1, sw: s, dh: 1, dw: 1, kh: 1, kw: o.Size, same: o.Padding == Same, rank: 3}
}

type poolKind uint8

const (
	maxPool poolKind = iota
	avgPool
)

// poolOp is max or average pooling over the spatial axes of x.
type poolOp struct {
	kind poolKind
	spec convSpec
}

func (o *poolOp) Type() string {
	t := [...]string{"MaxPool", "AvgPool"}[o.kind]
	if o.spec.rank == 3 {
		return t + "1D"
	}
	return t + "2D"
}

func (o *poolOp) Infer(in []Value) (Value, error) {
	t := o.Type()
	if o.spec.kh < 1 || o.spec.kw < 1 || o.spec.sh < 1 || o.spec.sw < 1 {
		return Value{}, fmt.Errorf("%s: window (%d, %d) and strides (%d, %d) must be positive", t, o.spec.kh, o.spec.kw, o.spec.sh, o.spec.sw)
	}
	if err := o.spec.checkImage(t, "x", in[0]); err != nil {
		return Value{}, err
	}
	_, _, _, c := o.spec.image(in[0].Shape)
	s, err := o.spec.outShape(in[0].Shape, o.spec.kh, o.spec.kw, c)
	if err != nil {
		return Value{}, fmt.Errorf("%s of x %v, window (%d, %d), %v: %w", t, in[0].Shape, o.spec.kh, o.spec.kw, o.spec, err)
	}
	return Value{Shape: s, DType: tensor.Float32}, nil
}

func (o *poolOp) geom(x tensor.Shape) (nn.Conv, error) {
	_, _, _, c := o.spec.image(x)
	return o.spec.geom(x, o.spec.kh, o.spec.kw, c)
}

func (o *poolOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	g, err := o.geom(in[0].Shape())
	if err != nil {
		return nil, err
	}
	x, y := in[0].Float32s(), out.Float32s()
	inSz, outSz := g.ImageSize(), g.OutImageSize()
	f := nn.MaxPool
	if o.kind == avgPool {
		f = nn.AvgPool
	}
	body := func(lo, hi int) {
		for n := lo; n < hi; n++ {
			f(&g, x[n*inSz:][:inSz], y[n*outSz:][:outSz])
		}
	}
	return KernelFunc(func() { c.Pool.For(g.N, 1, body) }), nil
}

func (o *poolOp) Grad(n, dy *Node) []*Node {
	x := n.inputs[0]
	if o.kind == maxPool {
		return []*Node{n.g.Apply(&maxPoolGradOp{spec: o.spec}, x, dy)}
	}
	return []*Node{n.g.Apply(&avgPoolGradOp{spec: o.spec}, dy, x)}
}

// MaxPool2D takes the maximum of each window of x (N, H, W, C). With SAME padding
// the padding is ignored (windows at the border take the maximum of their
// elements inside the image), as in TensorFlow.
func MaxPool2D(x *Node, opts PoolOpts) *Node {
	return x.g.Apply(&poolOp{kind: maxPool, spec: poolSpec2D(opts)}, x)
}

// AvgPool2D averages each window of x (N, H, W, C). With SAME padding a window at
// the border divides by the number of its elements inside the image, as in
// TensorFlow.
func AvgPool2D(x *Node, opts PoolOpts) *Node {
	return x.g.Apply(&poolOp{kind: avgPool, spec: poolSpec2D(opts)}, x)
}

// MaxPool1D is MaxPool2D over the width of x (N, W, C).
func MaxPool1D(x *Node, opts Pool1DOpts) *Node {
	return x.g.Apply(&poolOp{kind: maxPool, spec: poolSpec1D(opts)}, x)
}

// AvgPool1D is AvgPool2D over the width of x (N, W, C).
func AvgPool1D(x *Node, opts Pool1DOpts) *Node {
	return x.g.Apply(&poolOp{kind: avgPool, spec: poolSpec1D(opts)}, x)
}

// maxPoolGradOp routes dy to the argmax of each window, found again from x:
// inputs x, dy. With relu, x is a ReLU's output and the gradient also goes
// through that ReLU (see convOp.Grad).
type maxPoolGradOp struct {
	spec convSpec
	relu bool
}

func (o *maxPoolGradOp) Type() string {
	if o.relu {
		return "MaxPoolReluGrad"
	}
	return "MaxPoolGrad"
}
func (o *maxPoolGradOp) Infer(in []Value) (Value, error) {
	return poolGradInfer(o.Type(), o.spec, in[0], in[1])
}

func poolGradInfer(t string, s convSpec, x, dy Value) (Value, error) {
	if err := s.checkImage(t, "x", x); err != nil {
		return Value{}, err
	}
	_, _, _, c := s.image(x.Shape)
	want, err := s.outShape(x.Shape, s.kh, s.kw, c)
	if err != nil {
		return Value{}, fmt.Errorf("%s of x %v: %w", t, x.Shape, err)
	}
	if !compatible(want, dy.Shape) || dy.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: t, Arg: "dy", Got: dy.Shape, Want: fmt.Sprintf("%v, the pooling's output for x %v", want, x.Shape)}
	}
	return Value{Shape: x.Shape.Clone(), DType: tensor.Float32}, nil
}

func (o *maxPoolGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	p := &poolOp{kind: maxPool, spec: o.spec}
	g, err := p.geom(in[0].Shape())
	if err != nil {
		return nil, err
	}
	x, dy, dx := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	inSz, outSz := g.ImageSize(), g.OutImageSize()
	parts := max(1, min(c.Pool.Workers(), g.N))
	nf, ni := nn.MaxPoolGradScratch(&g)
	scratch := make([]float32, parts*nf)
	arg := make([]int32, parts*ni)
	relu := o.relu
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			s, a := scratch[part*nf:][:nf], arg[part*ni:][:ni]
			for n := part * g.N / parts; n < (part+1)*g.N/parts; n++ {
				nn.MaxPoolGrad(&g, x[n*inSz:][:inSz], dy[n*outSz:][:outSz], dx[n*inSz:][:inSz], s, a, relu)
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(parts, 1, body) }), nil
}

// avgPoolGradOp spreads dy evenly over each window: inputs dy, x (shape only).
type avgPoolGradOp struct{ spec convSpec }

func (o *avgPoolGradOp) Type() string         { return "AvgPoolGrad" }
func (o *avgPoolGradOp) ShapeOnly(i int) bool { return i == 1 }
func (o *avgPoolGradOp) Infer(in []Value) (Value, error) {
	return poolGradInfer(o.Type(), o.spec, in[1], in[0])
}

func (o *avgPoolGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	p := &poolOp{kind: avgPool, spec: o.spec}
	g, err := p.geom(out.Shape())
	if err != nil {
		return nil, err
	}
	dy, dx := in[0].Float32s(), out.Float32s()
	inSz, outSz := g.ImageSize(), g.OutImageSize()
	parts := max(1, min(c.Pool.Workers(), g.N))
	scratch := make([]float32, parts*g.C)
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			s := scratch[part*g.C:][:g.C]
			for n := part * g.N / parts; n < (part+1)*g.N/parts; n++ {
				nn.AvgPoolGrad(&g, dy[n*outSz:][:outSz], dx[n*inSz:][:inSz], s)
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(parts, 1, body) }), nil
}

// Grad: the op is linear in dy, and its adjoint is the average pooling itself.
func (o *avgPoolGradOp) Grad(n, ddx *Node) []*Node {
	return []*Node{n.g.Apply(&poolOp{kind: avgPool, spec: o.spec}, ddx), nil}
}
