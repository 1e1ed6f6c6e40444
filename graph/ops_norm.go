package graph

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/cpu/nn"
	"github.com/tlgo/tl/tensor"
)

// rowParts is the number of parallel parts for rows of width w: one per worker,
// unless the work is too small to be worth handing out.
func rowParts(c *KernelCtx, rows, w int) int {
	return max(1, min(c.Pool.Workers(), rows, rows*max(w, 1)/4096))
}

// LRNOpts configure LocalResponseNorm. TensorFlow's defaults are DepthRadius 5,
// Bias 1, Alpha 1, Beta 0.5; the CIFAR-10 tutorial uses 4, 1, 0.001/9, 0.75.
type LRNOpts struct {
	DepthRadius       int
	Bias, Alpha, Beta float32
}

type lrnOp struct{ l nn.LRN }

func (o *lrnOp) Type() string { return "LocalResponseNorm" }
func (o *lrnOp) Infer(in []Value) (Value, error) {
	if len(in[0].Shape) == 0 || in[0].DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "x", Got: in[0].Shape, Want: "float32 of rank >= 1 (channels last)"}
	}
	if o.l.Radius < 0 {
		return Value{}, fmt.Errorf("LocalResponseNorm: depth radius %d is negative", o.l.Radius)
	}
	return in[0], nil
}
func (o *lrnOp) InPlace() int { return 0 }
func (o *lrnOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, y := in[0].Float32s(), out.Float32s()
	s := in[0].Shape()
	C := s[len(s)-1]
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	parts := rowParts(c, rows, C)
	n := o.l.ScratchSize(C)
	scr := c.Scratch(parts * n)
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			r0, r1 := part*rows/parts, (part+1)*rows/parts
			o.l.Forward(x[r0*C:r1*C], y[r0*C:r1*C], C, scr.F32[part*n:][:n])
		}
	}
	return KernelFunc(func() { c.Pool.For(parts, 1, body) }), nil
}
func (o *lrnOp) Grad(n, dy *Node) []*Node {
	return []*Node{n.g.Apply(&lrnGradOp{l: o.l}, n.inputs[0], dy)}
}

// LocalResponseNorm normalises x across its last axis (channels) with
// TensorFlow's semantics:
//
//	sqr_sum[..., d] = Σ x[..., d-r : d+r+1]²
//	y = x / (Bias + Alpha·sqr_sum)^Beta
func LocalResponseNorm(x *Node, opts LRNOpts) *Node {
	return x.g.Apply(&lrnOp{l: nn.LRN{Radius: opts.DepthRadius, Bias: opts.Bias, Alpha: opts.Alpha, Beta: opts.Beta}}, x)
}

// lrnGradOp is TensorFlow's LRNGrad, from x and dy (the normaliser is computed
// again, so the forward output need not be kept). With relu, x is a ReLU's
// output and the gradient also goes through that ReLU (see convOp.Grad).
type lrnGradOp struct {
	l    nn.LRN
	relu bool
}

func (o *lrnGradOp) Type() string {
	if o.relu {
		return "LocalResponseNormReluGrad"
	}
	return "LocalResponseNormGrad"
}
func (o *lrnGradOp) Infer(in []Value) (Value, error) {
	if !compatible(in[0].Shape, in[1].Shape) {
		return Value{}, &tensor.ShapeError{Op: o.Type(), Arg: "dy", Got: in[1].Shape, Want: fmt.Sprint(in[0].Shape)}
	}
	return in[0], nil
}
func (o *lrnGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, dy, dx := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	s := in[0].Shape()
	C := s[len(s)-1]
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	parts := rowParts(c, rows, 4*C)
	n := o.l.ScratchSize(C)
	scr := c.Scratch(parts * n)
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			r0, r1 := part*rows/parts, (part+1)*rows/parts
			o.l.Backward(x[r0*C:r1*C], dy[r0*C:r1*C], dx[r0*C:r1*C], C, scr.F32[part*n:][:n])
			if o.relu {
				nn.ReluGrad(dx[r0*C:r1*C], dx[r0*C:r1*C], x[r0*C:r1*C])
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(parts, 1, body) }), nil
}

// BatchNormOpts configure BatchNorm.
type BatchNormOpts struct {
	// Momentum of the moving averages: moving = Momentum·moving +
	// (1-Momentum)·batch. 0 means 0.99.
	Momentum float32
	// Epsilon is added to the variance. 0 means 0.001.
	Epsilon float32
}

func (o BatchNormOpts) norm() BatchNormOpts {
	if o.Momentum == 0 {
		o.Momentum = 0.99
	}
	if o.Epsilon == 0 {
		o.Epsilon = 1e-3
	}
	return o
}

// bnOp is batch normalisation over every axis but the last: inputs x, gamma,
// beta, moving mean, moving variance.
type bnOp struct{ o BatchNormOpts }

func (o *bnOp) Type() string { return "BatchNorm" }
func (o *bnOp) Infer(in []Value) (Value, error) {
	x := in[0]
	if len(x.Shape) == 0 || x.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "BatchNorm", Arg: "x", Got: x.Shape, Want: "float32 of rank >= 1 (channels last)"}
	}
	c := x.Shape[len(x.Shape)-1]
	for i, name := range []string{"gamma", "beta", "moving mean", "moving variance"} {
		v := in[1+i]
		if len(v.Shape) != 1 || !sameDim(v.Shape[0], c) || v.DType != tensor.Float32 {
			return Value{}, &tensor.ShapeError{Op: "BatchNorm", Arg: name, Got: v.Shape, Want: fmt.Sprintf("(%d,), one per channel of x %v", c, x.Shape)}
		}
	}
	return x, nil
}

// bnStats accumulates, per channel over rows [r0, r1) of x (and dy when not nil),
// Σ(x-k), Σ(x-k)², Σdy and Σdy·(x-k) in float64, shifted by k (the first row)
// so that the variance does not cancel catastrophically.
func bnStats(x, dy []float32, k []float32, r0, r1 int, acc []float64) {
	C := len(k)
	s1, s2, s3, s4 := acc[:C], acc[C:2*C], acc[2*C:3*C], acc[3*C:4*C]
	for i := range acc[:4*C] {
		acc[i] = 0
	}
	for r := r0; r < r1; r++ {
		xr := x[r*C:][:C]
		if dy == nil {
			for j, v := range xr {
				d := float64(v - k[j])
				s1[j] += d
				s2[j] += d * d
			}
			continue
		}
		dr := dy[r*C:][:C]
		for j, v := range xr {
			d := float64(v - k[j])
			g := float64(dr[j])
			s1[j] += d
			s2[j] += d * d
			s3[j] += g
			s4[j] += g * d
		}
	}
}

// bnReduce runs bnStats over rows in parallel and sums the parts into acc[0].
func bnReduce(c *KernelCtx, x, dy, k []float32, rows int, acc [][]float64) {
	parts := len(acc)
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			bnStats(x, dy, k, part*rows/parts, (part+1)*rows/parts, acc[part])
		}
	}
	c.Pool.For(parts, 1, body)
	for _, a := range acc[1:] {
		for i, v := range a {
			acc[0][i] += v
		}
	}
}

func newAcc(parts, C int) [][]float64 {
	acc := make([][]float64, parts)
	for i := range acc {
		acc[i] = make([]float64, 4*C)
	}
	return acc
}

func (o *bnOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, gamma, beta, mm, mv := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	y := out.Float32s()
	C := len(gamma)
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	parts := rowParts(c, rows, C)
	scale, shift := make([]float32, C), make([]float32, C)
	apply := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*C:][:C], y[r*C:][:C]
			for j, v := range xr {
				yr[j] = v*scale[j] + shift[j]
			}
		}
	}
	grainRows := max(1, 4096/C)
	eps, mom := float64(o.o.Epsilon), o.o.Momentum
	if !c.Training {
		return KernelFunc(func() {
			for j := range scale {
				s := gamma[j] / float32(math.Sqrt(float64(mv[j])+eps))
				scale[j], shift[j] = s, beta[j]-mm[j]*s
			}
			c.Pool.For(rows, grainRows, apply)
		}), nil
	}
	acc := newAcc(parts, C)
	k := make([]float32, C)
	return KernelFunc(func() {
		copy(k, x[:C])
		bnReduce(c, x, nil, k, rows, acc)
		s1, s2 := acc[0][:C], acc[0][C:2*C]
		R := float64(rows)
		for j := range scale {
			dm := s1[j] / R
			v := max(s2[j]/R-dm*dm, 0)
			mean := float64(k[j]) + dm
			s := gamma[j] / float32(math.Sqrt(v+eps))
			scale[j], shift[j] = s, beta[j]-float32(mean)*s
			unbiased := v
			if rows > 1 {
				unbiased = v * R / (R - 1)
			}
			mm[j] = mom*mm[j] + (1-mom)*float32(mean)
			mv[j] = mom*mv[j] + (1-mom)*float32(unbiased)
		}
		c.Pool.For(rows, grainRows, apply)
	}), nil
}

func (o *bnOp) Grad(n, dy *Node) []*Node {
	x, gamma, mm, mv := n.inputs[0], n.inputs[1], n.inputs[3], n.inputs[4]
	red := n.g.Apply(&bnReduceOp{o: o.o}, x, dy, mm, mv)
	dx := n.g.Apply(&bnGradOp{}, x, gamma, dy, red)
	return []*Node{dx, Index(red, 0), Index(red, 1), nil, nil}
}

// BatchNorm normalises x over every axis but the last (channels), then scales by
// gamma and shifts by beta (all (C,)). Plans compiled for training normalise with
// the batch's statistics and update the moving averages (state variables, see
// Graph.State) in the same kernel, the variance's with Bessel's correction as
// TensorFlow's fused batch norm does; other plans normalise with the moving
// averages. The gradient in training flows through the batch statistics.
//
// Because the training kernel updates the moving averages as it runs, a node
// that reads them later in the same step sees the new values; and every run of
// a training plan updates them, whether or not it also trains.
func BatchNorm(x, gamma, beta, movingMean, movingVar *Node, opts BatchNormOpts) *Node {
	return x.g.Apply(&bnOp{o: opts.norm()}, x, gamma, beta, movingMean, movingVar)
}

// BatchNormalization creates the variables of a batch normalisation over the
// last axis of x, called name/gamma, name/beta (trainable), name/moving_mean and
// name/moving_variance (state), and applies BatchNorm.
func BatchNormalization(x *Node, name string, opts BatchNormOpts) *Node {
	s := x.value.Shape
	if len(s) == 0 || s[len(s)-1] < 0 {
		return x.g.fail(fmt.Errorf("graph: BatchNormalization %q: x %v needs a known last axis", name, s))
	}
	c := s[len(s)-1]
	g := x.g
	return BatchNorm(x,
		g.Variable(name+"/gamma", tensor.Ones(), c),
		g.Variable(name+"/beta", tensor.Zeros(), c),
		g.State(name+"/moving_mean", tensor.Zeros(), c),
		g.State(name+"/moving_variance", tensor.Ones(), c),
		opts)
}

// bnReduceOp computes, from x, dy and the moving statistics, a (4, C) tensor:
// dgamma = Σdy·x̂, dbeta = Σdy, and the mean and 1/std used (the batch's in
// training, the moving ones otherwise).
type bnReduceOp struct{ o BatchNormOpts }

func (o *bnReduceOp) Type() string { return "BatchNormReduce" }
func (o *bnReduceOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	return F32(4, s[len(s)-1]), nil
}
func (o *bnReduceOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, dy, mm, mv, d := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), out.Float32s()
	C := len(mm)
	if C == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	if rows == 0 {
		return KernelFunc(func() { clear(d) }), nil
	}
	acc := newAcc(rowParts(c, rows, C), C)
	k := make([]float32, C)
	eps := float64(o.o.Epsilon)
	training := c.Training
	dg, db, dmean, dinv := d[:C], d[C:2*C], d[2*C:3*C], d[3*C:4*C]
	return KernelFunc(func() {
		if training {
			copy(k, x[:C])
		} else {
			copy(k, mm)
		}
		bnReduce(c, x, dy, k, rows, acc)
		s1, s2, s3, s4 := acc[0][:C], acc[0][C:2*C], acc[0][2*C:3*C], acc[0][3*C:4*C]
		R := float64(rows)
		for j := 0; j < C; j++ {
			var dm, inv float64
			if training {
				dm = s1[j] / R
				inv = 1 / math.Sqrt(max(s2[j]/R-dm*dm, 0)+eps)
			} else {
				inv = 1 / math.Sqrt(float64(mv[j])+eps)
			}
			// Σdy·(x-mean) = Σdy·(x-k) - (mean-k)·Σdy
			dg[j] = float32(inv * (s4[j] - dm*s3[j]))
			db[j] = float32(s3[j])
			dmean[j] = float32(float64(k[j]) + dm)
			dinv[j] = float32(inv)
		}
	}), nil
}

// bnGradOp computes dx from x, gamma, dy and bnReduceOp's result.
type bnGradOp struct{}

func (bnGradOp) Type() string                    { return "BatchNormGrad" }
func (bnGradOp) Infer(in []Value) (Value, error) { return in[0], nil }
func (bnGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, gamma, dy, red, dx := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s(), out.Float32s()
	C := len(gamma)
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	dg, db, mean, inv := red[:C], red[C:2*C], red[2*C:3*C], red[3*C:4*C]
	a, b, s := make([]float32, C), make([]float32, C), make([]float32, C)
	training := c.Training
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr, gr := x[r*C:][:C], dy[r*C:][:C], dx[r*C:][:C]
			if !training {
				for j, v := range dr {
					gr[j] = v * s[j]
				}
				continue
			}
			// dx = γ·inv·(dy - dβ/R - x̂·dγ/R), x̂ = (x-mean)·inv
			for j, v := range xr {
				gr[j] = s[j]*dr[j] - a[j]*(v-mean[j]) - b[j]
			}
		}
	}
	return KernelFunc(func() {
		R := float32(rows)
		for j := range s {
			s[j] = gamma[j] * inv[j]
			a[j] = s[j] * inv[j] * dg[j] / R
			b[j] = s[j] * db[j] / R
		}
		c.Pool.For(rows, max(1, 4096/C), body)
	}), nil
}

// layerNormOp normalises each row over the last axis: inputs x, gamma, beta.
type layerNormOp struct{ eps float32 }

func (o *layerNormOp) Type() string { return "LayerNorm" }
func (o *layerNormOp) Infer(in []Value) (Value, error) {
	x := in[0]
	if len(x.Shape) == 0 || x.DType != tensor.Float32 {
		return Value{}, &tensor.ShapeError{Op: "LayerNorm", Arg: "x", Got: x.Shape, Want: "float32 of rank >= 1"}
	}
	c := x.Shape[len(x.Shape)-1]
	for i, name := range []string{"gamma", "beta"} {
		v := in[1+i]
		if len(v.Shape) != 1 || !sameDim(v.Shape[0], c) || v.DType != tensor.Float32 {
			return Value{}, &tensor.ShapeError{Op: "LayerNorm", Arg: name, Got: v.Shape, Want: fmt.Sprintf("(%d,), the last axis of x %v", c, x.Shape)}
		}
	}
	return x, nil
}
func (o *layerNormOp) InPlace() int { return 0 }

// rowStats returns the mean and 1/sqrt(var+eps) of one row.
func rowStats(xr []float32, eps float32) (mean, inv float32) {
	var s float64
	for _, v := range xr {
		s += float64(v)
	}
	m := s / float64(len(xr))
	var v2 float64
	for _, v := range xr {
		d := float64(v) - m
		v2 += d * d
	}
	return float32(m), float32(1 / math.Sqrt(v2/float64(len(xr))+float64(eps)))
}

func (o *layerNormOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, gamma, beta, y := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), out.Float32s()
	C := len(gamma)
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	eps := o.eps
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x[r*C:][:C], y[r*C:][:C]
			m, inv := rowStats(xr, eps)
			for j, v := range xr {
				yr[j] = (v-m)*inv*gamma[j] + beta[j]
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, 4096/C), body) }), nil
}

func (o *layerNormOp) Grad(n, dy *Node) []*Node {
	x, gamma := n.inputs[0], n.inputs[1]
	dx := n.g.Apply(&layerNormGradOp{eps: o.eps}, x, gamma, dy)
	params := n.g.Apply(&layerNormParamGradOp{eps: o.eps}, x, dy)
	return []*Node{dx, Index(params, 0), Index(params, 1)}
}

// LayerNorm normalises x over its last axis, row by row, then scales by gamma and
// shifts by beta (both the size of the last axis). epsilon is added to the
// variance (0 means 0.001).
func LayerNorm(x, gamma, beta *Node, epsilon float32) *Node {
	if epsilon == 0 {
		epsilon = 1e-3
	}
	return x.g.Apply(&layerNormOp{eps: epsilon}, x, gamma, beta)
}

// layerNormGradOp: dx = inv·(g - mean(g) - x̂·mean(g·x̂)), g = dy·γ.
type layerNormGradOp struct{ eps float32 }

func (o *layerNormGradOp) Type() string                    { return "LayerNormGrad" }
func (o *layerNormGradOp) Infer(in []Value) (Value, error) { return in[0], nil }
func (o *layerNormGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, gamma, dy, dx := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), out.Float32s()
	C := len(gamma)
	if C == 0 || len(x) == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	eps := o.eps
	body := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dr, gr := x[r*C:][:C], dy[r*C:][:C], dx[r*C:][:C]
			m, inv := rowStats(xr, eps)
			var sg, sgx float64
			for j, v := range xr {
				g := float64(dr[j] * gamma[j])
				sg += g
				sgx += g * float64((v-m)*inv)
			}
			mg, mgx := float32(sg/float64(C)), float32(sgx/float64(C))
			for j, v := range xr {
				xh := (v - m) * inv
				gr[j] = inv * (dr[j]*gamma[j] - mg - xh*mgx)
			}
		}
	}
	return KernelFunc(func() { c.Pool.For(rows, max(1, 4096/C), body) }), nil
}

// layerNormParamGradOp computes (2, C): Σ_rows dy·x̂ and Σ_rows dy.
type layerNormParamGradOp struct{ eps float32 }

func (o *layerNormParamGradOp) Type() string { return "LayerNormParamGrad" }
func (o *layerNormParamGradOp) Infer(in []Value) (Value, error) {
	s := in[0].Shape
	return F32(2, s[len(s)-1]), nil
}
func (o *layerNormParamGradOp) Compile(c *KernelCtx, in []*tensor.Tensor, out *tensor.Tensor) (Kernel, error) {
	x, dy, d := in[0].Float32s(), in[1].Float32s(), out.Float32s()
	s := in[0].Shape()
	C := s[len(s)-1]
	if C == 0 {
		return KernelFunc(func() {}), nil
	}
	rows := len(x) / C
	parts := rowParts(c, rows, C)
	partial := make([]float32, parts*2*C)
	eps := o.eps
	body := func(lo, hi int) {
		for part := lo; part < hi; part++ {
			acc := partial[part*2*C:][:2*C]
			clear(acc)
			dg, db := acc[:C], acc[C:]
			for r := part * rows / parts; r < (part+1)*rows/parts; r++ {
				xr, dr := x[r*C:][:C], dy[r*C:][:C]
				m, inv := rowStats(xr, eps)
				for j, v := range xr {
					dg[j] += dr[j] * (v - m) * inv
					db[j] += dr[j]
				}
			}
		}
	}
	return KernelFunc(func() {
		c.Pool.For(parts, 1, body)
		copy(d, partial[:2*C])
		for part := 1; part < parts; part++ {
			nn.Add(d, partial[part*2*C:][:2*C])
		}
	}), nil
}
