package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/vmath"
	"github.com/tlgo/tl/tensor"
)

// Activation names a function fused into BiasAct.
type Activation uint8

const (
	Identity Activation = iota
	ReluAct
	SigmoidAct
	TanhAct
)

var actNames = [...]string{"identity", "relu", "sigmoid", "tanh"}

func (a Activation) String() string { return actNames[a] }

type biasActOp struct{ act Activation }

func (o *biasActOp) Type() string { return "BiasAct" }
func (o *biasActOp) Infer(in []Value) (Value, error) {
	x, b := in[0].Shape, in[1].Shape
	if len(x) == 0 || len(b) != 1 || (x[len(x)-1] >= 0 && b[0] >= 0 && x[len(x)-1] != b[0]) {
		return Value{}, &tensor.ShapeError{Op: "BiasAct", Arg: "bias", Got: b, Want: fmt.Sprintf("(C,) with C the last dimension of x %v", x)}
	}
	return in[0], nil
}
func (o *biasActOp) InPlace() int { return 0 }
func (o *biasActOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, b, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	w := len(b)
	rows := len(d) / max(w, 1)
	k, ok := o.kind()
	if !ok {
		k = 255
	}
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dr, xr := d[r*w:r*w+w], x[r*w:r*w+w]
			if k == unRelu {
				for j, v := range xr {
					d[r*w+j] = max(v+b[j], 0)
				}
				continue
			}
			for j, v := range xr {
				dr[j] = v + b[j]
			}
			if k != 255 {
				unLoop(k, 0, dr, dr)
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, grain/max(w, 1)), body) }), nil
}

// kind is the elementwise kernel of the activation; false for the identity.
func (o *biasActOp) kind() (unKind, bool) {
	switch o.act {
	case ReluAct:
		return unRelu, true
	case SigmoidAct:
		return unSigmoid, true
	case TanhAct:
		return unTanh, true
	}
	return 0, false
}

// actKernel applies the activation to d (rows of w) in place, or is nil for
// the identity.
func (o *biasActOp) actKernel(c *KernelCtx, d []float32, w int) func() {
	k, ok := o.kind()
	if !ok {
		return nil
	}
	rows := len(d) / max(w, 1)
	body := func(lo, hi int) { unLoop(k, 0, d[lo*w:hi*w], d[lo*w:hi*w]) }
	return func() { c.Pool.For(rows, max(1, grain/max(w, 1)), body) }
}
func (o *biasActOp) Grad(n, dy *Node) []*Node {
	dz := dy
	switch o.act {
	case ReluAct:
		dz = n.g.Apply(&unaryGradOp{kind: unRelu}, dy, n)
	case SigmoidAct:
		dz = n.g.Apply(&unaryGradOp{kind: unSigmoid}, dy, n)
	case TanhAct:
		dz = n.g.Apply(&unaryGradOp{kind: unTanh}, dy, n)
	}
	return []*Node{dz, SumTo(dz, n.inputs[1])}
}

// BiasAdd adds b (shape (C,)) along the last axis of x.
func BiasAdd(x, b *Node) *Node { return x.g.Apply(&biasActOp{act: Identity}, x, b) }

// BiasAct computes act(x + b) in one pass (b along the last axis).
func BiasAct(x, b *Node, act Activation) *Node { return x.g.Apply(&biasActOp{act: act}, x, b) }

type redKind uint8

const (
	redSum redKind = iota
	redMean
	redMax
)

type reduceOp struct {
	kind redKind
	axes []int // sorted, distinct
}

func (o *reduceOp) Type() string {
	return [...]string{"ReduceSum", "ReduceMean", "ReduceMax"}[o.kind]
}
func (o *reduceOp) keep(s tensor.Shape) tensor.Shape {
	k := s.Clone()
	for _, a := range o.axes {
		k[a] = 1
	}
	return k
}
func (o *reduceOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	if in[0].DType != tensor.Float32 {
		return Value{}, fmt.Errorf("%s needs float32, got %v", o.Type(), in[0].DType)
	}
	var out tensor.Shape
	j := 0
	for i, d := range s {
		if j < len(o.axes) && o.axes[j] == i {
			j++
			continue
		}
		out = append(out, d)
	}
	if j != len(o.axes) {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "axes", Got: s, Want: fmt.Sprintf("rank > every axis of %v", o.axes)}
	}
	if out == nil {
		out = tensor.Shape{}
	}
	return Value{Shape: out, DType: tensor.Float32}, nil
}
func (o *reduceOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, d := in[0].Float32s(), out.Float32s()
	scale := float32(1)
	if o.kind == redMean && len(d) > 0 {
		scale = float32(len(d)) / float32(len(x))
	}
	if len(d) == 1 {
		if o.kind == redMax {
			return KernelFunc(func() {
				m := float32(math.Inf(-1))
				for _, v := range x {
					m = max(m, v)
				}
				d[0] = m
			}), nil
		}
		return KernelFunc(func() { d[0] = sumF32(x) * scale }), nil
	}
	m := broadcastIndex(in[0].Shape(), o.keep(in[0].Shape()))
	if o.kind == redMax {
		return KernelFunc(func() {
			for i := range d {
				d[i] = float32(math.Inf(-1))
			}
			for i, j := range m {
				d[j] = max(d[j], x[i])
			}
		}), nil
	}
	return KernelFunc(func() {
		clear(d)
		for i, j := range m {
			d[j] += x[i]
		}
		if scale != 1 {
			for i := range d {
				d[i] *= scale
			}
		}
	}), nil
}
func (o *reduceOp) Grad(n, dy *Node) []*Node {
	x := n.inputs[0]
	keep := o.keep(x.value.Shape)
	dk := Reshape(dy, keep...)
	switch o.kind {
	case redSum:
		return []*Node{BroadcastLike(dk, x)}
	case redMean:
		return []*Node{n.g.Apply(&meanGradOp{}, dk, x)}
	}
	return []*Node{n.g.Apply(&maxReduceGradOp{}, dk, x, Reshape(n, keep...))}
}

func reduce(x *Node, k redKind, axes []int) *Node {
	r := len(x.value.Shape)
	set := map[int]bool{}
	if len(axes) == 0 {
		for i := 0; i < r; i++ {
			set[i] = true
		}
	}
	for _, a := range axes {
		if a < 0 {
			a += r
		}
		set[a] = true
	}
	var as []int
	for i := 0; i < r; i++ {
		if set[i] {
			as = append(as, i)
			delete(set, i)
		}
	}
	if len(set) > 0 {
		return x.g.fail(fmt.Errorf("graph: reduce: axes %v out of range for shape %v", axes, x.value.Shape))
	}
	return x.g.Apply(&reduceOp{kind: k, axes: as}, x)
}

// ReduceSum sums x over axes (all axes when none are given).
func ReduceSum(x *Node, axes ...int) *Node { return reduce(x, redSum, axes) }

// ReduceMean averages x over axes (all axes when none are given).
func ReduceMean(x *Node, axes ...int) *Node { return reduce(x, redMean, axes) }

// ReduceMax takes the maximum of x over axes (all when none are given). Its gradient
// goes to every element equal to the maximum.
func ReduceMax(x *Node, axes ...int) *Node { return reduce(x, redMax, axes) }

// meanGradOp broadcasts dy to x's shape, divided by the number of reduced elements.
type meanGradOp struct{}

func (meanGradOp) Type() string         { return "ReduceMeanGrad" }
func (meanGradOp) ShapeOnly(i int) bool { return i == 1 }
func (meanGradOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (meanGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, d := in[0].Float32s(), out.Float32s()
	scale := float32(len(dy)) / float32(len(d))
	m := broadcastIndex(out.Shape(), in[0].Shape())
	return KernelFunc(func() {
		for i, j := range m {
			d[i] = dy[j] * scale
		}
	}), nil
}

type maxReduceGradOp struct{}

func (maxReduceGradOp) Type() string { return "ReduceMaxGrad" }
func (maxReduceGradOp) Infer(in []Value) (Value, error) {
	return Value{Shape: in[1].Shape.Clone(), DType: tensor.Float32}, nil
}
func (maxReduceGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, x, y, d := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), out.Float32s()
	m := broadcastIndex(out.Shape(), in[0].Shape())
	return KernelFunc(func() {
		for i, j := range m {
			if x[i] == y[j] {
				d[i] = dy[j]
			} else {
				d[i] = 0
			}
		}
	}), nil
}

type softmaxOp struct{ log bool }

func (o *softmaxOp) Type() string {
	if o.log {
		return "LogSoftmax"
	}
	return "Softmax"
}
func (o *softmaxOp) Infer(in []Value) (Value, error) {
	if len(in[0].Shape) == 0 || in[0].DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "x", Got: in[0].Shape, Want: "float32 of rank >= 1"}
	}
	return in[0], nil
}
func (o *softmaxOp) InPlace() int { return 0 }
func (o *softmaxOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, d := in[0].Float32s(), out.Float32s()
	s := in[0].Shape()
	w := s[len(s)-1]
	rows := len(x) / max(w, 1)
	log := o.log
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(d[r*w:r*w+w], x[r*w:r*w+w], log)
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, 4096/max(w, 1)), body) }), nil
}

// softmaxRow writes softmax(x) (or log-softmax) into d; d may be x.
func softmaxRow(d, x []float32, log bool) float32 {
	m := vmath.Max(x)
	var sum float64
	if log {
		sum = float64(vmath.ExpSum(nil, x, m))
	} else {
		sum = float64(vmath.ExpSum(d, x, m)) // vectorised exp
	}
	lse := m + float32(math.Log(sum))
	if log {
		for i, v := range x {
			d[i] = v - lse
		}
	} else {
		vmath.Scale(d[:len(x)], float32(1/sum))
	}
	return lse
}

func (o *softmaxOp) Grad(n, dy *Node) []*Node {
	return []*Node{n.g.Apply(&softmaxGradOp{log: o.log}, dy, n)}
}

// Softmax normalises the last axis of x into probabilities.
func Softmax(x *Node) *Node { return x.g.Apply(&softmaxOp{}, x) }

// LogSoftmax returns log(softmax(x)) over the last axis, computed stably.
func LogSoftmax(x *Node) *Node { return x.g.Apply(&softmaxOp{log: true}, x) }

// softmaxGradOp: dx = y*(dy - Σdy·y) for softmax, dy - e^y Σdy for log-softmax.
type softmaxGradOp struct{ log bool }

func (o *softmaxGradOp) Type() string                    { return "SoftmaxGrad" }
func (o *softmaxGradOp) Infer(in []Value) (Value, error) { return in[1], nil }
func (o *softmaxGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	dy, y, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	s := in[1].Shape()
	w := s[len(s)-1]
	rows := len(y) / max(w, 1)
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dr, yr, gr := dy[r*w:r*w+w], y[r*w:r*w+w], d[r*w:r*w+w]
			var dot float64
			if o.log {
				for _, v := range dr {
					dot += float64(v)
				}
				for i := range gr {
					gr[i] = dr[i] - float32(math.Exp(float64(yr[i])))*float32(dot)
				}
				continue
			}
			for i := range dr {
				dot += float64(dr[i]) * float64(yr[i])
			}
			for i := range gr {
				gr[i] = yr[i] * (dr[i] - float32(dot))
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, 4096/max(w, 1)), body) }), nil
}
