package optim

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// rule is one optimizer's update, shared by its dense and sparse kernels.
type rule interface {
	// name is the op type's prefix ("Adam").
	name() string
	// coeffs turns the learning rate and the step number (1 for the first step)
	// into the scalars apply needs; called once per run.
	coeffs(lr float32, t float64) [4]float32
	// apply updates the weights w in place from the gradient g and the slots
	// (s0, s1: nil when the rule has fewer), all of the same length.
	apply(k *[4]float32, w, g, s0, s1 []float32)
}

// slotSpec names a slot variable and its initial value.
type slotSpec struct {
	name string
	init float32
}

// buildUpdates makes one update node per (grad, var) pair for rule r: slots are
// state variables named optName/varName/slotName; step, when not nil, is the
// scalar step counter (steps done so far) the rule reads.
func buildUpdates(r rule, optName string, lr, step *graph.Node, slots []slotSpec, grads, vars []*graph.Node) (*graph.Node, error) {
	return applyEach(grads, vars, func(gr, v *graph.Node) *graph.Node {
		g := v.Graph()
		ins := []*graph.Node{v, nil, nil, lr, step}
		if step == nil {
			ins[4] = lr // unused: keeps the input positions fixed
		}
		for _, s := range slots {
			ins = append(ins, g.State(optName+"/"+v.Name()+"/"+s.name, tensor.Constant(s.init), v.Shape()...))
		}
		if graph.IsSparse(gr) {
			idx, val, _ := graph.SparseParts(gr)
			ins[1], ins[2] = idx, val
			return g.Apply(&sparseUpdateOp{r: r, hasStep: step != nil}, ins...)
		}
		ins[1] = gr
		return g.Apply(&denseUpdateOp{r: r, hasStep: step != nil}, append(ins[:2:2], ins[3:]...)...)
	})
}

// denseUpdateOp: inputs v, grad, lr, step (or lr again), slots...
type denseUpdateOp struct {
	r       rule
	hasStep bool
}

func (o *denseUpdateOp) Type() string { return o.r.name() + "Update" }
func (o *denseUpdateOp) Updates()     {}
func (o *denseUpdateOp) Infer(in []graph.Value) (graph.Value, error) {
	return updateInfer(o.Type(), in)
}
func (o *denseUpdateOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, _ *tensor.Tensor) (graph.Kernel, error) {
	w, g, lr, st := in[0].Float32s(), in[1].Float32s(), in[2].Float32s(), in[3].Float32s()
	s0, s1 := slotData(in[4:])
	var k [4]float32
	r := o.r
	body := func(lo, hi int) {
		var a, b []float32
		if s0 != nil {
			a = s0[lo:hi]
		}
		if s1 != nil {
			b = s1[lo:hi]
		}
		r.apply(&k, w[lo:hi], g[lo:hi], a, b)
	}
	hasStep := o.hasStep
	return graph.KernelFunc(func() {
		t := 1.0
		if hasStep {
			t = float64(st[0]) + 1
		}
		k = r.coeffs(lr[0], t)
		c.Pool.For(len(w), 1<<13, body)
	}), nil
}

func slotData(ts []*tensor.Tensor) (s0, s1 []float32) {
	if len(ts) > 0 {
		s0 = ts[0].Float32s()
	}
	if len(ts) > 1 {
		s1 = ts[1].Float32s()
	}
	return s0, s1
}

// sparseUpdateOp: inputs v, indices, values, lr, step (or lr), slots... Repeated
// indices are summed first (the gradient of a row is the sum of its slices), then
// each touched row is updated once; other rows and their slots are left alone
// ("lazy" updates, as TensorFlow's sparse apply ops).
type sparseUpdateOp struct {
	r       rule
	hasStep bool
}

func (o *sparseUpdateOp) Type() string { return o.r.name() + "SparseUpdate" }
func (o *sparseUpdateOp) Updates()     {}
func (o *sparseUpdateOp) Infer(in []graph.Value) (graph.Value, error) {
	return sparseInfer(o.Type(), in)
}
func (o *sparseUpdateOp) Compile(c *graph.KernelCtx, in []*tensor.Tensor, _ *tensor.Tensor) (graph.Kernel, error) {
	w, idx, val, lr, st := in[0].Float32s(), in[1].Int32s(), in[2].Float32s(), in[3].Float32s(), in[4].Float32s()
	s0, s1 := slotData(in[5:])
	width := rowWidth(in[0])
	rows := in[0].Shape()[0]
	acc := newRowAccum(rows, len(idx), width, c)
	r := o.r
	hasStep := o.hasStep
	var k [4]float32
	return graph.KernelFunc(func() {
		t := 1.0
		if hasStep {
			t = float64(st[0]) + 1
		}
		k = r.coeffs(lr[0], t)
		acc.sum(idx, val)
		sums := acc.scr.F32
		for p, row := range acc.uniq {
			lo, hi := int(row)*width, int(row)*width+width
			var a, b []float32
			if s0 != nil {
				a = s0[lo:hi]
			}
			if s1 != nil {
				b = s1[lo:hi]
			}
			r.apply(&k, w[lo:hi], sums[p*width:p*width+width], a, b)
		}
		acc.reset()
	}), nil
}

// rowAccum sums the slices of a sparse gradient by row without allocating: pos
// maps a row to its place in uniq (or -1), the sums go to scratch memory.
type rowAccum struct {
	pos   []int32
	uniq  []int32
	width int
	scr   *graph.Scratch
}

func newRowAccum(rows, n, width int, c *graph.KernelCtx) *rowAccum {
	a := &rowAccum{pos: make([]int32, rows), uniq: make([]int32, 0, n), width: width, scr: c.Scratch(n * width)}
	for i := range a.pos {
		a.pos[i] = -1
	}
	return a
}

func (a *rowAccum) sum(idx []int32, val []float32) {
	w := a.width
	sums := a.scr.F32
	for i, row := range idx {
		if row < 0 || int(row) >= len(a.pos) {
			continue // rejected by Gather in the forward pass
		}
		p := a.pos[row]
		if p < 0 {
			p = int32(len(a.uniq))
			a.pos[row] = p
			a.uniq = append(a.uniq, row)
			copy(sums[int(p)*w:int(p)*w+w], val[i*w:i*w+w])
			continue
		}
		dst, src := sums[int(p)*w:int(p)*w+w], val[i*w:i*w+w]
		for j := range dst {
			dst[j] += src[j]
		}
	}
}

func (a *rowAccum) reset() {
	for _, row := range a.uniq {
		a.pos[row] = -1
	}
	a.uniq = a.uniq[:0]
}

// incrementOp adds 1 to a scalar counter after the updates it depends on.
type incrementOp struct{}

func (incrementOp) Type() string { return "Increment" }
func (incrementOp) Updates()     {}
func (incrementOp) Infer(in []graph.Value) (graph.Value, error) {
	if in[0].Shape.Size() != 1 {
		return graph.Value{}, &tensor.ShapeError{Op: "Increment", Arg: "counter", Got: in[0].Shape, Want: "a scalar"}
	}
	return graph.Value{}, nil
}
func (incrementOp) Compile(_ *graph.KernelCtx, in []*tensor.Tensor, _ *tensor.Tensor) (graph.Kernel, error) {
	d := in[0].Float32s()
	return graph.KernelFunc(func() { d[0]++ }), nil
}

// withStepCounter runs the updates, then increments the counter.
func withStepCounter(counter, updates *graph.Node) (*graph.Node, error) {
	g := counter.Graph()
	inc := g.Apply(incrementOp{}, counter, updates)
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optim: step counter: %w", err)
	}
	return graph.Group(g, updates, inc), nil
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
