package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/tensor"
)

const grain = 1 << 14 // elements per parallel chunk for cheap elementwise loops

type binKind uint8

const (
	binAdd binKind = iota
	binSub
	binMul
	binDiv
	binMax
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div", "Maximum"}

type binaryOp struct{ kind binKind }

func (o *binaryOp) Type() string { return binNames[o.kind] }
func (o *binaryOp) Infer(in []Value) (Value, error) {
	if in[0].DType != tensor.Float32 || in[1].DType != tensor.Float32 {
		return Value{}, fmt.Errorf("%s needs float32 inputs, got %v and %v", o.Type(), in[0].DType, in[1].DType)
	}
	s, err := broadcastShapes(o.Type(), in[0].Shape, in[1].Shape)
	if err != nil {
		return Value{}, err
	}
	return Value{Shape: s, DType: tensor.Float32}, nil
}
func (o *binaryOp) InPlace() int { return 0 }

func (o *binaryOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	a, b, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	k := o.kind
	switch {
	case len(a) == len(d) && len(b) == len(d):
		body := func(lo, hi int) { binLoop(k, d[lo:hi], a[lo:hi], b[lo:hi]) }
		return KernelFunc(func() { c.Pool.For(len(d), grain, body) }), nil
	case len(a) == len(d) && suffix(out.Shape(), in[1].Shape()):
		// b repeats along the leading axes of a (bias-like).
		w := len(b)
		rows := len(d) / max(w, 1)
		body := func(lo, hi int) {
			for r := lo; r < hi; r++ {
				binLoop(k, d[r*w:r*w+w], a[r*w:r*w+w], b)
			}
		}
		return KernelFunc(func() { c.Pool.For(rows, max(1, grain/max(w, 1)), body) }), nil
	}
	ma := broadcastIndex(out.Shape(), in[0].Shape())
	mb := broadcastIndex(out.Shape(), in[1].Shape())
	return KernelFunc(func() {
		for i := range d {
			d[i] = binScalar(k, a[ma[i]], b[mb[i]])
		}
	}), nil
}

func binScalar(k binKind, x, y float32) float32 {
	switch k {
	case binAdd:
		return x + y
	case binSub:
		return x - y
	case binMul:
		return x * y
	case binDiv:
		return x / y
	default:
		return max(x, y)
	}
}

func binLoop(k binKind, d, a, b []float32) {
	b = b[:len(d)]
	a = a[:len(d)]
	switch k {
	case binAdd:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case binSub:
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case binMul:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case binDiv:
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case binMax:
		for i := range d {
			d[i] = max(a[i], b[i])
		}
	}
}

func (o *binaryOp) Grad(n, dy *Node) []*Node {
	a, b := n.inputs[0], n.inputs[1]
	switch o.kind {
	case binAdd:
		return []*Node{SumTo(dy, a), SumTo(dy, b)}
	case binSub:
		return []*Node{SumTo(dy, a), SumTo(Neg(dy), b)}
	case binMul:
		return []*Node{SumTo(Mul(dy, b), a), SumTo(Mul(dy, a), b)}
	case binDiv:
		// d(a/b)/db = -a/b² = -(a/b)/b
		return []*Node{SumTo(Div(dy, b), a), SumTo(Neg(Mul(dy, Div(n, b))), b)}
	default:
		// The gradient goes to the larger input (to a on ties).
		ga := n.g.Apply(&maxGradOp{}, dy, a, b)
		gb := Sub(dy, ga)
		return []*Node{SumTo(ga, a), SumTo(gb, b)}
	}
}

// Add returns a+b with broadcasting.
func Add(a, b *Node) *Node { return a.g.Apply(&binaryOp{binAdd}, a, b) }

// Sub returns a-b with broadcasting.
func Sub(a, b *Node) *Node { return a.g.Apply(&binaryOp{binSub}, a, b) }

// Mul returns a*b elementwise with broadcasting.
func Mul(a, b *Node) *Node { return a.g.Apply(&binaryOp{binMul}, a, b) }

// Div returns a/b elementwise with broadcasting.
func Div(a, b *Node) *Node { return a.g.Apply(&binaryOp{binDiv}, a, b) }

// Maximum returns max(a, b) elementwise with broadcasting.
func Maximum(a, b *Node) *Node { return a.g.Apply(&binaryOp{binMax}, a, b) }

// maxGradOp: dy where a >= b (broadcast to dy's shape), else 0.
type maxGradOp struct{}

func (maxGradOp) Type() string { return "MaximumGrad" }
func (maxGradOp) Infer(in []Value) (Value, error) {
	return in[0], nil
}
func (maxGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, a, b, d := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), out.Float32s()
	ma := broadcastIndex(out.Shape(), in[1].Shape())
	mb := broadcastIndex(out.Shape(), in[2].Shape())
	return KernelFunc(func() {
		for i := range d {
			if a[ma[i]] >= b[mb[i]] {
				d[i] = dy[i]
			} else {
				d[i] = 0
			}
		}
	}), nil
}

type unKind uint8

const (
	unNeg unKind = iota
	unRelu
	unLeakyRelu
	unElu
	unSigmoid
	unTanh
	unSoftplus
	unExp
	unLog
	unSqrt
	unSquare
	unScale
	unAbs
)

var unNames = [...]string{"Neg", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Exp", "Log", "Sqrt", "Square", "Scale", "Abs"}

type unaryOp struct {
	kind  unKind
	param float32 // leaky slope, scale factor
}

func (o *unaryOp) Type() string { return unNames[o.kind] }
func (o *unaryOp) Infer(in []Value) (Value, error) {
	if in[0].DType != tensor.Float32 {
		return Value{}, fmt.Errorf("%s needs a float32 input, got %v", o.Type(), in[0].DType)
	}
	return in[0], nil
}
func (o *unaryOp) InPlace() int { return 0 }
func (o *unaryOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, d := in[0].Float32s(), out.Float32s()
	body := func(lo, hi int) { unLoop(o.kind, o.param, d[lo:hi], x[lo:hi]) }
	return KernelFunc(func() { c.Pool.For(len(d), grain, body) }), nil
}

func unLoop(k unKind, p float32, d, x []float32) {
	x = x[:len(d)]
	switch k {
	case unNeg:
		for i, v := range x {
			d[i] = -v
		}
	case unRelu:
		for i, v := range x {
			d[i] = max(v, 0)
		}
	case unLeakyRelu:
		if p >= 0 && p <= 1 {
			// max(v, p·v) is the same without a branch on the sign, which
			// mispredicts on every other element of real activations (5x here).
			for i, v := range x {
				d[i] = max(v, v*p)
			}
			return
		}
		for i, v := range x {
			if v < 0 {
				v *= p
			}
			d[i] = v
		}
	case unElu:
		for i, v := range x {
			if v < 0 {
				v = float32(math.Expm1(float64(v)))
			}
			d[i] = v
		}
	case unSigmoid:
		for i, v := range x {
			d[i] = sigmoid(v)
		}
	case unTanh:
		for i, v := range x {
			d[i] = float32(math.Tanh(float64(v)))
		}
	case unSoftplus:
		for i, v := range x {
			// log(1+e^v) = max(v,0) + log1p(e^-|v|), stable for large |v|.
			d[i] = max(v, 0) + float32(math.Log1p(math.Exp(-math.Abs(float64(v)))))
		}
	case unExp:
		for i, v := range x {
			d[i] = float32(math.Exp(float64(v)))
		}
	case unLog:
		for i, v := range x {
			d[i] = float32(math.Log(float64(v)))
		}
	case unSqrt:
		for i, v := range x {
			d[i] = float32(math.Sqrt(float64(v)))
		}
	case unSquare:
		for i, v := range x {
			d[i] = v * v
		}
	case unScale:
		for i, v := range x {
			d[i] = v * p
		}
	case unAbs:
		for i, v := range x {
			d[i] = float32(math.Abs(float64(v)))
		}
	}
}

func sigmoid(v float32) float32 {
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return float32(e / (1 + e))
}

func (o *unaryOp) Grad(n, dy *Node) []*Node {
	x := n.inputs[0]
	switch o.kind {
	case unNeg:
		return []*Node{Neg(dy)}
	case unScale:
		return []*Node{Scale(dy, o.param)}
	case unSquare:
		return []*Node{Mul(dy, Scale(x, 2))}
	case unLog:
		return []*Node{Div(dy, x)}
	case unSoftplus:
		return []*Node{Mul(dy, Sigmoid(x))}
	case unAbs:
		return []*Node{n.g.Apply(&unaryGradOp{kind: unAbs}, dy, x)}
	}
	// The rest differentiate from their output y.
	return []*Node{n.g.Apply(&unaryGradOp{kind: o.kind, param: o.param}, dy, n)}
}

// unaryGradOp computes dx from dy and y (x for Abs).
type unaryGradOp struct {
	kind  unKind
	param float32
}

func (o *unaryGradOp) Type() string { return unNames[o.kind] + "Grad" }
func (o *unaryGradOp) Infer(in []Value) (Value, error) {
	if !compatible(in[0].Shape, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "dy", Got: in[0].Shape, Want: fmt.Sprint(in[1].Shape)}
	}
	return in[0], nil
}
func (o *unaryGradOp) InPlace() int { return 0 }
func (o *unaryGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, y, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	body := func(lo, hi int) { unGradLoop(o.kind, o.param, d[lo:hi], dy[lo:hi], y[lo:hi]) }
	return KernelFunc(func() { c.Pool.For(len(d), grain, body) }), nil
}

func unGradLoop(k unKind, p float32, d, dy, y []float32) {
	dy = dy[:len(d)]
	y = y[:len(d)]
	switch k {
	case unRelu:
		nn.ReluGrad(d, dy, y)
	case unLeakyRelu:
		// The slope, 1 or p, chosen by an integer select on y's bits (y > 0 is
		// int32(bits) > 0 but for NaN) rather than a branch that mispredicts
		// on every other element (7x here).
		one, pb := math.Float32bits(1), math.Float32bits(p)
		for i, v := range y {
			s := pb
			if int32(math.Float32bits(v)) > 0 {
				s = one
			}
			d[i] = dy[i] * math.Float32frombits(s)
		}
	case unElu:
		for i, v := range y {
			if v > 0 {
				d[i] = dy[i]
			} else {
				d[i] = dy[i] * (v + 1)
			}
		}
	case unSigmoid:
		for i, v := range y {
			d[i] = dy[i] * v * (1 - v)
		}
	case unTanh:
		for i, v := range y {
			d[i] = dy[i] * (1 - v*v)
		}
	case unExp:
		for i, v := range y {
			d[i] = dy[i] * v
		}
	case unSqrt:
		for i, v := range y {
			d[i] = dy[i] / (2 * v)
		}
	case unAbs: // y is x here
		for i, v := range y {
			switch {
			case v > 0:
				d[i] = dy[i]
			case v < 0:
				d[i] = -dy[i]
			default:
				d[i] = 0
			}
		}
	}
}

// Grad is linear in dy; no gradient flows to y (second derivatives are not needed
// by the optimizers here).
func (o *unaryGradOp) Grad(n, ddx *Node) []*Node {
	return []*Node{n.g.Apply(&unaryGradOp{kind: o.kind, param: o.param}, ddx, n.inputs[1]), nil}
}

func unary(x *Node, k unKind, p float32) *Node { return x.g.Apply(&unaryOp{kind: k, param: p}, x) }

// Neg returns -x.
func Neg(x *Node) *Node { return unary(x, unNeg, 0) }

// Relu returns max(x, 0).
func Relu(x *Node) *Node { return unary(x, unRelu, 0) }

// LeakyRelu returns x for x > 0 and alpha*x otherwise.
func LeakyRelu(x *Node, alpha float32) *Node { return unary(x, unLeakyRelu, alpha) }

// Elu returns x for x > 0 and e^x - 1 otherwise.
func Elu(x *Node) *Node { return unary(x, unElu, 0) }

// Sigmoid returns 1/(1+e^-x).
func Sigmoid(x *Node) *Node { return unary(x, unSigmoid, 0) }

// Tanh returns tanh(x).
func Tanh(x *Node) *Node { return unary(x, unTanh, 0) }

// Softplus returns log(1+e^x).
func Softplus(x *Node) *Node { return unary(x, unSoftplus, 0) }

// Exp returns e^x.
func Exp(x *Node) *Node { return unary(x, unExp, 0) }

// Log returns the natural logarithm of x.
func Log(x *Node) *Node { return unary(x, unLog, 0) }

// Sqrt returns the square root of x.
func Sqrt(x *Node) *Node { return unary(x, unSqrt, 0) }

// Square returns x*x.
func Square(x *Node) *Node { return unary(x, unSquare, 0) }

// Abs returns |x|.
func Abs(x *Node) *Node { return unary(x, unAbs, 0) }

// Scale returns c*x.
func Scale(x *Node, c float32) *Node { return unary(x, unScale, c) }
