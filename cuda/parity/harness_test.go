package parity

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// In is one input of a case: a placeholder fed fresh random values every round.
type In struct {
	Shape  []int
	Int    int // > 0: an int32 input with values in [IntMin, Int)
	IntMin int
	Lo, Hi float32 // range of a float input; both 0: [-1, 1)
	NoGrad bool    // do not check the gradient with respect to this input
}

// Case is one op (or a small graph) checked on both backends.
type Case struct {
	Name  string
	In    []In
	Build func(g *graph.Graph, in []*graph.Node) *graph.Node
	// Tol bounds ‖dev−cpu‖/‖cpu‖ for the output and each gradient; 0 means 1e-5.
	Tol      float64
	NoGrad   bool
	Training bool
	// Update: Build returns an updater; the variables are compared after each round.
	Update bool
	// Check replaces the elementwise comparison (random ops). It is called once
	// per round with the targets' values: the output, then the gradients.
	Check func(t *testing.T, cpu, dev []*tensor.Tensor)
}

// rounds: the first device run launches kernels one by one, the second captures a
// device graph, the third replays it.
const rounds = 3

// Run checks each case: the same graph compiled for the CPU and for the device
// (a GPU, or the CPU emulator of cuda/emu), fed the same fresh random inputs,
// the device's memory poisoned with NaN before each run.
func Run(t *testing.T, cases ...Case) {
	t.Helper()
	dev := cudatest.Open(t)
	for i, c := range cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("case%d", i)
		}
		t.Run(name, func(t *testing.T) { runCase(t, dev, c, uint64(i)+1) })
	}
}

func runCase(t *testing.T, dev graph.Device, c Case, seed uint64) {
	g := graph.New(seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	in := make([]*graph.Node, len(c.In))
	shapes := map[*graph.Node]tensor.Shape{}
	for i, x := range c.In {
		dt := tensor.Float32
		if x.Int > 0 {
			dt = tensor.Int32
		}
		in[i] = g.Placeholder(fmt.Sprintf("in%d", i), dt, x.Shape...)
		shapes[in[i]] = tensor.Shape(x.Shape).Clone()
	}
	out := c.Build(g, in)
	if err := g.Err(); err != nil {
		t.Fatalf("building: %v", err)
	}
	targets := []*graph.Node{out}
	var gradOf []int
	if !c.NoGrad && !c.Update && out.Value().DType == tensor.Float32 {
		w := tensor.New(tensor.Float32, out.Shape()...)
		fillFloat(w, rng, -1, 1)
		loss := graph.ReduceSum(graph.Mul(out, g.Const(w)))
		var xs []*graph.Node
		for i, x := range c.In {
			if x.Int == 0 && !x.NoGrad {
				xs = append(xs, in[i])
				gradOf = append(gradOf, i)
			}
		}
		grads, err := graph.Gradients(loss, xs...)
		if err != nil {
			t.Fatalf("gradients: %v", err)
		}
		for k, gr := range grads {
			if gr == nil {
				t.Fatalf("no gradient flows to input %d", gradOf[k])
			}
			targets = append(targets, gr)
		}
	}

	// The device first: it uploads the variables before the CPU updates them.
	od := g.OnDevice(dev)
	defer od.Close()
	dp, err := od.Compile(graph.DeviceOptions{Training: c.Training}, shapes, targets...)
	if err != nil {
		t.Fatalf("device compile: %v", err)
	}
	cp, err := g.Compile(graph.Options{Training: c.Training, Threads: 1}, shapes, targets...)
	if err != nil {
		t.Fatalf("cpu compile: %v", err)
	}
	defer cp.Close()

	tol := c.Tol
	if tol == 0 {
		tol = 1e-5
	}
	for r := 0; r < rounds; r++ {
		for i, x := range c.In {
			ct, dt := cp.Input(in[i]), dp.Input(in[i])
			if x.Int > 0 {
				for j := range ct.Int32s() {
					ct.Int32s()[j] = int32(x.IntMin + rng.IntN(x.Int-x.IntMin))
				}
			} else {
				lo, hi := x.Lo, x.Hi
				if lo == 0 && hi == 0 {
					lo, hi = -1, 1
				}
				fillFloat(ct, rng, lo, hi)
			}
			if err := dt.CopyFrom(ct); err != nil {
				t.Fatal(err)
			}
		}
		if err := cp.Run(); err != nil {
			t.Fatalf("round %d: cpu run: %v", r, err)
		}
		if err := dp.Poison(); err != nil {
			t.Fatalf("round %d: poison: %v", r, err)
		}
		if err := dp.Run(); err != nil {
			t.Fatalf("round %d: device run: %v", r, err)
		}
		if r == 2 && !dp.Captured() {
			t.Errorf("round %d: the device plan did not capture a graph: %v", r, dp.CaptureError())
		}
		if c.Check != nil {
			c.Check(t, clones(cp.Outputs()), clones(dp.Outputs()))
			continue
		}
		if c.Update {
			for _, v := range g.Variables() {
				got, err := od.Read(v)
				if err != nil {
					t.Fatal(err)
				}
				compare(t, fmt.Sprintf("round %d: variable %s", r, v.Name()), v.Tensor(), got, tol)
			}
			continue
		}
		for k, ct := range cp.Outputs() {
			what := "output"
			if k > 0 {
				what = fmt.Sprintf("gradient of input %d", gradOf[k-1])
			}
			compare(t, fmt.Sprintf("round %d: %s", r, what), ct, dp.Outputs()[k], tol)
		}
	}
}

func clones(ts []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ts))
	for i, x := range ts {
		if x != nil {
			out[i] = x.Clone()
		}
	}
	return out
}

// fillFloat draws uniform values in [lo, hi), never exactly zero.
func fillFloat(t *tensor.Tensor, rng *rand.Rand, lo, hi float32) {
	for i := range t.Float32s() {
		v := float32(0)
		for v == 0 {
			v = lo + (hi-lo)*rng.Float32()
		}
		t.Float32s()[i] = v
	}
}

// compare fails unless dev matches cpu: same shape, no NaN where the CPU has none
// (an unwritten element keeps the poison), relative L2 error within tol; int32
// tensors must be equal. It returns the relative error (0 for int32).
func compare(t *testing.T, what string, cpu, dev *tensor.Tensor, tol float64) float64 {
	t.Helper()
	if cpu == nil || dev == nil {
		if cpu != dev {
			t.Errorf("%s: one side is missing (cpu %v, device %v)", what, cpu, dev)
		}
		return 0
	}
	if !cpu.Shape().Equal(dev.Shape()) || cpu.DType() != dev.DType() {
		t.Errorf("%s: cpu %v%v, device %v%v", what, cpu.DType(), cpu.Shape(), dev.DType(), dev.Shape())
		return 0
	}
	if cpu.DType() == tensor.Int32 {
		for i, v := range cpu.Int32s() {
			if dev.Int32s()[i] != v {
				t.Errorf("%s: element %d: cpu %d, device %d", what, i, v, dev.Int32s()[i])
				return 0
			}
		}
		return 0
	}
	var num, den float64
	for i, c := range cpu.Float32s() {
		d := dev.Float32s()[i]
		cNaN, dNaN := math.IsNaN(float64(c)), math.IsNaN(float64(d))
		if dNaN && !cNaN {
			t.Errorf("%s: element %d of %v is NaN on the device (unwritten?), cpu %g", what, i, cpu.Shape(), c)
			return math.NaN()
		}
		if cNaN || math.IsInf(float64(c), 0) {
			continue
		}
		e := float64(d) - float64(c)
		num += e * e
		den += float64(c) * float64(c)
	}
	rel := math.Sqrt(num) / math.Max(math.Sqrt(den), 1e-30)
	if den == 0 {
		rel = math.Sqrt(num)
	}
	if rel > tol {
		worst, wi := 0.0, 0
		for i, c := range cpu.Float32s() {
			if e := math.Abs(float64(dev.Float32s()[i]) - float64(c)); e > worst {
				worst, wi = e, i
			}
		}
		t.Errorf("%s: relative error %.3g > %.3g (worst element %d: cpu %g, device %g)", what, rel, tol, wi, cpu.Float32s()[wi], dev.Float32s()[wi])
	}
	return rel
}
