// Package gradcheck compares the gradients the graph computes with central finite
// differences. Every op of the engine is tested with it, and it is the tool to test
// a custom op's gradient.
//
// The loss differentiated is Σ w·f(inputs) with fixed random weights w, so every
// output element contributes with a different weight. Differences are taken in
// float64 from float32 evaluations, at a sample of input elements.
package gradcheck

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Case is one gradient check.
type Case struct {
	// Inputs: Float32 inputs are differentiated; Int32 inputs (indices, labels) are
	// fed as they are.
	Inputs []*tensor.Tensor
	// Build makes the function under test from placeholders for Inputs.
	Build func(g *graph.Graph, in []*graph.Node) *graph.Node
	// Eps is the finite-difference step (default 1e-2); Atol and Rtol the
	// tolerance |numeric-analytic| <= Atol + Rtol·max(|numeric|, |analytic|)
	// (defaults 2e-3 and 2e-2).
	Eps, Atol, Rtol float64
	// Samples is the number of elements probed per input (default 48; all when
	// an input is smaller).
	Samples int
	// Training compiles in training mode.
	Training bool
	// Seed picks the loss weights and the probed elements.
	Seed uint64
}

// Check runs the case and returns an error describing the worst mismatch, or nil.
func Check(c Case) error {
	if c.Eps == 0 {
		c.Eps = 1e-2
	}
	if c.Atol == 0 {
		c.Atol = 2e-3
	}
	if c.Rtol == 0 {
		c.Rtol = 2e-2
	}
	if c.Samples == 0 {
		c.Samples = 48
	}
	g := graph.New(c.Seed + 1)
	ins := make([]*graph.Node, len(c.Inputs))
	var xs []*graph.Node
	var xi []int
	feeds := map[*graph.Node]tensor.Shape{}
	for i, t := range c.Inputs {
		ins[i] = g.Placeholder(fmt.Sprintf("in%d", i), t.DType(), t.Shape()...)
		feeds[ins[i]] = t.Shape()
		if t.DType() == tensor.Float32 {
			xs = append(xs, ins[i])
			xi = append(xi, i)
		}
	}
	out := c.Build(g, ins)
	if err := g.Err(); err != nil {
		return fmt.Errorf("gradcheck: building: %w", err)
	}
	if !out.Shape().Known() {
		return fmt.Errorf("gradcheck: output shape %v is not known from the input shapes", out.Shape())
	}
	rng := tensor.NewRand(c.Seed + 7)
	w := tensor.New(tensor.Float32, out.Shape()...)
	tensor.Uniform(0.5, 1.5).Init(w, rng)
	for i, v := range w.Float32s() { // alternate signs
		if i%2 == 1 {
			w.Float32s()[i] = -v
		}
	}
	loss := graph.ReduceSum(graph.Mul(out, g.Const(w)))
	grads, err := graph.Gradients(loss, xs...)
	if err != nil {
		return fmt.Errorf("gradcheck: %w", err)
	}
	targets := []*graph.Node{loss}
	for i, gr := range grads {
		if gr == nil {
			return fmt.Errorf("gradcheck: no gradient reaches input %d", xi[i])
		}
		targets = append(targets, graph.Densify(gr))
	}
	if err := g.Err(); err != nil {
		return fmt.Errorf("gradcheck: building gradients: %w", err)
	}
	p, err := g.Compile(graph.Options{Training: c.Training}, feeds, targets...)
	if err != nil {
		return fmt.Errorf("gradcheck: %w", err)
	}
	defer p.Close()
	for i, t := range c.Inputs {
		if err := p.Input(ins[i]).CopyFrom(t); err != nil {
			return err
		}
	}
	eval := func() (float64, error) {
		if err := p.Run(); err != nil {
			return 0, err
		}
		return float64(p.Outputs()[0].Float32s()[0]), nil
	}
	if _, err := eval(); err != nil {
		return fmt.Errorf("gradcheck: %w", err)
	}
	analytic := make([][]float32, len(xs))
	for k := range xs {
		analytic[k] = append([]float32(nil), p.Outputs()[1+k].Float32s()...)
	}
	var worst error
	worstExcess := 0.0
	for k, x := range xs {
		data := p.Input(x).Float32s()
		n := len(data)
		probes := make([]int, 0, c.Samples)
		if n <= c.Samples {
			for j := 0; j < n; j++ {
				probes = append(probes, j)
			}
		} else {
			for j := 0; j < c.Samples; j++ {
				probes = append(probes, rng.IntN(n))
			}
		}
		for _, j := range probes {
			orig := data[j]
			data[j] = orig + float32(c.Eps)
			up, err := eval()
			if err != nil {
				return err
			}
			data[j] = orig - float32(c.Eps)
			down, err := eval()
			if err != nil {
				return err
			}
			data[j] = orig
			// The step actually taken in float32.
			h := float64(orig+float32(c.Eps)) - float64(orig-float32(c.Eps))
			num := (up - down) / h
			ana := float64(analytic[k][j])
			diff := math.Abs(num - ana)
			tol := c.Atol + c.Rtol*math.Max(math.Abs(num), math.Abs(ana))
			if diff > tol || math.IsNaN(ana) {
				if ex := diff / tol; ex > worstExcess || math.IsNaN(ana) {
					worstExcess = ex
					worst = fmt.Errorf("gradcheck: input %d element %d (of %v): analytic %.6g, numeric %.6g (|diff| %.3g > tol %.3g)",
						xi[k], j, c.Inputs[xi[k]].Shape(), ana, num, diff, tol)
				}
			}
		}
	}
	return worst
}

// Rand returns a float32 tensor of the shape with values uniform in [lo, hi).
func Rand(seed uint64, lo, hi float64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	tensor.Uniform(lo, hi).Init(t, tensor.NewRand(seed))
	return t
}

// RandInt returns an int32 tensor of the shape with values in [0, n).
func RandInt(seed uint64, n int, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Int32, shape...)
	rng := tensor.NewRand(seed)
	for i := range t.Int32s() {
		t.Int32s()[i] = int32(rng.IntN(n))
	}
	return t
}

// AwayFrom returns a float32 tensor uniform in [lo, hi) with no element closer than
// gap to any of the kinks (for ops like relu, abs, max that are not smooth there).
func AwayFrom(seed uint64, lo, hi, gap float64, kinks []float64, shape ...int) *tensor.Tensor {
	t := Rand(seed, lo, hi, shape...)
	rng := tensor.NewRand(seed + 1)
	d := t.Float32s()
	for i := range d {
		for near(float64(d[i]), gap, kinks) {
			d[i] = float32(lo + (hi-lo)*rng.Float64())
		}
	}
	return t
}

func near(v, gap float64, kinks []float64) bool {
	for _, k := range kinks {
		if math.Abs(v-k) < gap {
			return true
		}
	}
	return false
}
