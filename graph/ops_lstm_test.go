package graph_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

func sig64(v float64) float64 { return 1 / (1 + math.Exp(-v)) }

// lstmRef is the cell in float64: returns h', c'.
func lstmRef(x, h, c, w, b []float32, bsz, in, hid int, fb float64) (hn, cn []float64) {
	hn, cn = make([]float64, bsz*hid), make([]float64, bsz*hid)
	for r := 0; r < bsz; r++ {
		for j := 0; j < hid; j++ {
			var z [4]float64
			for q := 0; q < 4; q++ {
				col := q*hid + j
				s := float64(b[col])
				for k := 0; k < in; k++ {
					s += float64(x[r*in+k]) * float64(w[k*4*hid+col])
				}
				for k := 0; k < hid; k++ {
					s += float64(h[r*hid+k]) * float64(w[(in+k)*4*hid+col])
				}
				z[q] = s
			}
			i, f, g, o := sig64(z[0]), sig64(z[1]+fb), math.Tanh(z[2]), sig64(z[3])
			cv := f*float64(c[r*hid+j]) + i*g
			cn[r*hid+j] = cv
			hn[r*hid+j] = o * math.Tanh(cv)
		}
	}
	return hn, cn
}

func TestLSTMCellForward(t *testing.T) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 4}, {2, 0, 3}, {7, 3, 17}} {
		bsz, in, hid := sz[0], sz[1], sz[2]
		g := graph.New(1)
		x := g.Const(gradcheck.Rand(1, -2, 2, bsz, in))
		h := g.Const(gradcheck.Rand(2, -1, 1, bsz, hid))
		c := g.Const(gradcheck.Rand(3, -3, 3, bsz, hid))
		w := g.Const(gradcheck.Rand(4, -1, 1, in+hid, 4*hid))
		b := g.Const(gradcheck.Rand(5, -1, 1, 4*hid))
		cell := graph.LSTMCell(x, h, c, w, b, 1)
		hn, cn := graph.LSTMState(cell)
		p, err := g.Compile(graph.Options{}, nil, hn, cn)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
		wantH, wantC := lstmRef(x.Tensor().Float32s(), h.Tensor().Float32s(), c.Tensor().Float32s(), w.Tensor().Float32s(), b.Tensor().Float32s(), bsz, in, hid, 1)
		for i, got := range p.Outputs()[0].Float32s() {
			if math.Abs(float64(got)-wantH[i]) > 1e-5 {
				t.Fatalf("%v: h[%d] = %v, want %v", sz, i, got, wantH[i])
			}
		}
		for i, got := range p.Outputs()[1].Float32s() {
			if math.Abs(float64(got)-wantC[i]) > 1e-5*math.Max(1, math.Abs(wantC[i])) {
				t.Fatalf("%v: c[%d] = %v, want %v", sz, i, got, wantC[i])
			}
		}
		p.Close()
	}
}

// A hand-computed case: all weights zero, so the gates are σ(b) and tanh(b).
func TestLSTMCellHandComputed(t *testing.T) {
	g := graph.New(1)
	x := g.Const(tensor.New(tensor.Float32, 1, 1))
	h := g.Const(tensor.New(tensor.Float32, 1, 1))
	c := g.Const(tensor.Scalar(2))
	w := g.Const(tensor.New(tensor.Float32, 2, 4))
	bt, _ := tensor.FromFloat32([]float32{0, 0, 0.5, 0}, 4)
	cell := graph.LSTMCell(x, h, graph.Reshape(c, 1, 1), w, g.Const(bt), 0)
	hn, cn := graph.LSTMState(cell)
	p, err := g.Compile(graph.Options{}, nil, hn, cn)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	// i = f = o = 0.5, g = tanh(0.5): c' = 0.5·2 + 0.5·tanh(0.5), h' = 0.5·tanh(c').
	wc := 1 + 0.5*math.Tanh(0.5)
	wh := 0.5 * math.Tanh(wc)
	if got := p.Outputs()[1].At(0, 0); math.Abs(got-wc) > 1e-6 {
		t.Errorf("c' = %v, want %v", got, wc)
	}
	if got := p.Outputs()[0].At(0, 0); math.Abs(got-wh) > 1e-6 {
		t.Errorf("h' = %v, want %v", got, wh)
	}
}

func TestLSTMCellGradientUnrolled(t *testing.T) {
	for _, sz := range [][4]int{{1, 2, 3, 2}, {3, 4, 5, 3}, {2, 3, 2, 1}} {
		bsz, in, hid, steps := sz[0], sz[1], sz[2], sz[3]
		inputs := []*tensor.Tensor{
			gradcheck.Rand(1, -1, 1, steps, bsz, in),
			gradcheck.Rand(2, -1, 1, bsz, hid),
			gradcheck.Rand(3, -1, 1, bsz, hid),
			gradcheck.Rand(4, -0.8, 0.8, in+hid, 4*hid),
			gradcheck.Rand(5, -0.5, 0.5, 4*hid),
		}
		err := gradcheck.Check(gradcheck.Case{
			Inputs: inputs, Seed: 5, Eps: 5e-3,
			Build: func(g *graph.Graph, ins []*graph.Node) *graph.Node {
				h, c := ins[1], ins[2]
				var outs []*graph.Node
				for s := 0; s < steps; s++ {
					cell := graph.LSTMCell(graph.Index(ins[0], s), h, c, ins[3], ins[4], 1)
					h, c = graph.LSTMState(cell)
					outs = append(outs, h)
				}
				// Both the last c and every h reach the loss.
				return graph.Concat(1, append(outs, c)...)
			},
		})
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
	}
}

// The gate activations in the packed output are differentiable too.
func TestLSTMCellGradientAllSlots(t *testing.T) {
	err := gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, 2, 3), gradcheck.Rand(2, -1, 1, 2, 4),
			gradcheck.Rand(3, -1, 1, 2, 4), gradcheck.Rand(4, -1, 1, 7, 16), gradcheck.Rand(5, -1, 1, 16)},
		Seed: 2, Eps: 5e-3,
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.LSTMCell(in[0], in[1], in[2], in[3], in[4], 0.5)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLSTMCellShapeErrors(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	h := g.Placeholder("h", tensor.Float32, -1, 4)
	w := g.Variable("w", tensor.Zeros(), 6, 16)
	b := g.Variable("b", tensor.Zeros(), 16)
	n := graph.LSTMCell(x, h, h, w, b, 1)
	if n.Err() == nil {
		t.Fatal("w (6, 16) for I=3, H=4: want an error")
	}
	for _, want := range []string{"LSTMCell", "w", "(6, 16)", "(7, 16)"} {
		if !strings.Contains(n.Err().Error(), want) {
			t.Errorf("error %q does not mention %q", n.Err(), want)
		}
	}
	g2 := graph.New(1)
	x2 := g2.Placeholder("x", tensor.Float32, 2, 3)
	h2 := g2.Placeholder("h", tensor.Float32, 2, 4)
	c2 := g2.Placeholder("c", tensor.Float32, 2, 5)
	if n := graph.LSTMCell(x2, h2, c2, g2.Variable("w", nil, 7, 16), g2.Variable("b", nil, 16), 1); n.Err() == nil || !strings.Contains(n.Err().Error(), "c") {
		t.Fatalf("c (2, 5) with h (2, 4): got %v", n.Err())
	}
}

// Unknown batch while building: the plan compiles for the fed batch.
func TestLSTMCellUnknownBatch(t *testing.T) {
	g := graph.New(3)
	x := g.Placeholder("x", tensor.Float32, -1, 3)
	h0 := g.Placeholder("h", tensor.Float32, -1, 4)
	w := g.Variable("w", tensor.GlorotUniform(), 7, 16)
	b := g.Variable("b", tensor.Zeros(), 16)
	hn, cn := graph.LSTMState(graph.LSTMCell(x, h0, h0, w, b, 1))
	loss := graph.ReduceSum(graph.Add(hn, cn))
	grads, err := graph.Gradients(loss, w, b, x)
	if err != nil {
		t.Fatal(err)
	}
	e, err := g.NewExecutor(graph.Options{}, append([]*graph.Node{loss}, grads...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, bs := range []int{1, 5} {
		out, err := e.Run(graph.Feed{x, gradcheck.Rand(1, -1, 1, bs, 3)}, graph.Feed{h0, gradcheck.Rand(2, -1, 1, bs, 4)})
		if err != nil {
			t.Fatal(err)
		}
		if !out[3].Shape().Equal(tensor.Shape{bs, 3}) {
			t.Fatalf("dx shape %v, want (%d, 3)", out[3].Shape(), bs)
		}
	}
}

// The fused sequence op computes what chained cells compute.
func TestLSTMSequenceMatchesCells(t *testing.T) {
	// A batch of 9 or more rows is split among threads in each step.
	for _, sz := range [][4]int{{1, 1, 1, 1}, {4, 3, 5, 6}, {3, 2, 0, 4}, {5, 9, 7, 20}, {3, 21, 0, 33}} {
		steps, bsz, in, hid := sz[0], sz[1], sz[2], sz[3]
		g := graph.New(1)
		x, h0, c0, w, b := lstmConsts(g, steps, bsz, in, hid, 1)
		seq := graph.LSTM(x, h0, c0, w, b, 1)
		hs, hT, cT := graph.LSTMOutputs(seq)
		h, c := h0, c0
		var outs []*graph.Node
		for s := 0; s < steps; s++ {
			h, c = graph.LSTMState(graph.LSTMCell(graph.Index(x, s), h, c, w, b, 1))
			outs = append(outs, graph.Reshape(h, 1, bsz, hid))
		}
		out := runOne(t, g, hs, hT, cT, graph.Concat(0, outs...), h, c)
		for k, pair := range [][2]int{{0, 3}, {1, 4}, {2, 5}} {
			a, e := out[pair[0]].Float32s(), out[pair[1]].Float32s()
			if len(a) != len(e) {
				t.Fatalf("%v output %d: %d elements, cells give %d", sz, k, len(a), len(e))
			}
			for i := range a {
				if math.Abs(float64(a[i]-e[i])) > 1e-5 {
					t.Fatalf("%v output %d element %d: sequence %v, cells %v", sz, k, i, a[i], e[i])
				}
			}
		}
	}
}

func TestLSTMSequenceGradient(t *testing.T) {
	for _, sz := range [][4]int{{3, 2, 3, 2}, {1, 1, 2, 3}, {4, 3, 2, 1}, {3, 9, 2, 3}} {
		steps, bsz, in, hid := sz[0], sz[1], sz[2], sz[3]
		err := gradcheck.Check(gradcheck.Case{
			Inputs: []*tensor.Tensor{
				gradcheck.Rand(1, -1, 1, steps, bsz, in), gradcheck.Rand(2, -1, 1, bsz, hid),
				gradcheck.Rand(3, -1, 1, bsz, hid), gradcheck.Rand(4, -0.8, 0.8, in+hid, 4*hid),
				gradcheck.Rand(5, -0.5, 0.5, 4*hid)},
			Seed: 4, Eps: 5e-3,
			Build: func(g *graph.Graph, ins []*graph.Node) *graph.Node {
				seq := graph.LSTM(ins[0], ins[1], ins[2], ins[3], ins[4], 1)
				hs, h, c := graph.LSTMOutputs(seq)
				return graph.Concat(0, graph.Reshape(hs, -1), graph.Reshape(h, -1), graph.Reshape(c, -1),
					graph.Reshape(graph.Index(seq, 3), -1)) // and the forget gates
			},
		})
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
	}
}

func TestLSTMSequenceShapeError(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, 5, -1, 3)
	h := g.Placeholder("h", tensor.Float32, -1, 4)
	n := graph.LSTM(x, h, h, g.Variable("w", nil, 7, 12), g.Variable("b", nil, 16), 1)
	if n.Err() == nil || !strings.Contains(n.Err().Error(), "(7, 12)") || !strings.Contains(n.Err().Error(), "LSTM") {
		t.Fatalf("w (7, 12) for H=4: got %v", n.Err())
	}
	if n := graph.LSTM(h, h, h, g.Variable("w2", nil, 8, 16), g.Variable("b2", nil, 16), 1); n.Err() == nil {
		t.Fatal("x of rank 2: want an error")
	}
	g3 := graph.New(1)
	xs := g3.Placeholder("x", tensor.Float32, -1, 2, 3)
	hz := g3.Placeholder("h", tensor.Float32, 2, 4)
	_, hT, _ := graph.LSTMOutputs(graph.LSTM(xs, hz, hz, g3.Variable("w", nil, 7, 16), g3.Variable("b", nil, 16), 1))
	if hT.Err() == nil || !strings.Contains(hT.Err().Error(), "steps") {
		t.Fatalf("unknown number of steps: got %v", hT.Err())
	}
}

func ExampleLSTM() {
	g := graph.New(1)
	// Sequences of 5 steps, batch 2, 3 features; an LSTM of 4 units.
	x := g.Placeholder("x", tensor.Float32, 5, -1, 3)
	h0 := g.Placeholder("h0", tensor.Float32, -1, 4)
	w := g.Variable("lstm/w", tensor.GlorotUniform(), 3+4, 4*4)
	b := g.Variable("lstm/b", tensor.Zeros(), 4*4)
	hs, h, c := graph.LSTMOutputs(graph.LSTM(x, h0, h0, w, b, 1))
	fmt.Println(hs.Shape(), h.Shape(), c.Shape())

	// The same step by step, with cells sharing the weights.
	hc, cc := h0, h0
	for t := 0; t < 5; t++ {
		hc, cc = graph.LSTMState(graph.LSTMCell(graph.Index(x, t), hc, cc, w, b, 1))
	}
	fmt.Println(hc.Shape(), g.Err())
	// Output:
	// (5, ?, 4) (?, 4) (?, 4)
	// (?, 4) <nil>
}

// A sequence whose steps are big enough is split among the cores, forward
// and backward: by hidden units when the batch is small (one part per core,
// parts claimed by whichever goroutine is free), by rows of the batch from 16
// rows (parts of 8, 10 and 12 rows: gemm's 7- and 10-row edge kernels and
// its 14-row edge tile; input projections step by step, in one product
// before, or none). The result is the same bits as on one thread, where it is
// not split, for every slot of every step and every gradient, with parts of
// uneven width (three threads) and a hidden size that is not a multiple of
// 8; close at a hidden size over 300 (the backward's parts are then wider
// than 256, and the one-thread products not split along the inner
// dimension as the two-thread ones may be). And it is the cells' result.
func TestLSTMSequenceSplit(t *testing.T) {
	for _, sz := range [][4]int{{3, 4, 24, 256}, {2, 5, 0, 260}, {4, 3, 16, 300}, {2, 40, 8, 256}, {2, 2, 8, 800},
		{3, 20, 0, 256}, {4, 16, 32, 130}, {2, 24, 40, 256}, {3, 20, 1000, 1200}} {
		steps, bsz, in, hid := sz[0], sz[1], sz[2], sz[3]
		g := graph.New(1)
		x, h0, c0, w, b := lstmConsts(g, steps, bsz, in, hid, 0.2)
		seq := graph.LSTM(x, h0, c0, w, b, 1)
		h, c := h0, c0
		for s := 0; s < steps; s++ {
			h, c = graph.LSTMState(graph.LSTMCell(graph.Index(x, s), h, c, w, b, 1))
		}
		// The backward pass is split too: the gradients of a loss that
		// weighs every h and the last c.
		hs, _, cT := graph.LSTMOutputs(seq)
		loss := graph.Add(graph.ReduceSum(graph.Mul(hs, g.Const(gradcheck.Rand(6, -1, 1, steps, bsz, hid)))), graph.ReduceSum(cT))
		grads, err := graph.Gradients(loss, x, h0, c0, w, b)
		if err != nil {
			t.Fatal(err)
		}
		// Unsplit, the backward's product dgates·W[I:]ᵀ at hid 800 (inner
		// dimension 3200) is split along its inner dimension by the shared
		// engine, whose partial sums round otherwise: close, not the same
		// bits.
		same := func(a, b float32) bool { return a == b }
		if hid > 300 {
			same = func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5*math.Max(1, math.Abs(float64(b))) }
		}
		var want []float32
		var wantGrads [][]float32
		for _, threads := range []int{1, 2, 3} {
			p, err := g.Compile(graph.Options{Threads: threads}, nil, append([]*graph.Node{seq, h, c}, grads...)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			got := p.Outputs()[0].Float32s()
			if threads == 1 {
				want = append([]float32(nil), got...)
				// The last step's h and c against the cells.
				bh := bsz * hid
				for k, cell := range []*tensor.Tensor{p.Outputs()[1], p.Outputs()[2]} {
					last := got[k*steps*bh+(steps-1)*bh:][:bh]
					for i, v := range cell.Float32s() {
						if math.Abs(float64(v-last[i])) > 1e-5 {
							t.Fatalf("%v slot %d unit %d: sequence %v, cells %v", sz, k, i, last[i], v)
						}
					}
				}
			}
			for k, gt := range p.Outputs()[3:] {
				if threads == 1 {
					wantGrads = append(wantGrads, append([]float32(nil), gt.Float32s()...))
					continue
				}
				for i, v := range gt.Float32s() {
					// db (800 columns) sums rows by parts on several cores: close.
					if !same(v, wantGrads[k][i]) && !(k == 4 && math.Abs(float64(v-wantGrads[k][i])) <= 1e-5*math.Max(1, math.Abs(float64(v)))) {
						t.Fatalf("%v on %d threads: gradient %d element %d = %v, one thread %v", sz, threads, k, i, v, wantGrads[k][i])
					}
				}
			}
			p.Close()
			for i, v := range got {
				if !same(v, want[i]) {
					t.Fatalf("%v on %d threads: element %d (slot %d) = %v, one thread %v", sz, threads, i, i/(steps*bsz*hid), v, want[i])
				}
			}
		}
	}
}

// lstmConsts makes an LSTM's inputs as random constants: x (steps, bsz, in),
// h0 and c0 (bsz, hid), w (in+hid, 4·hid) in [-wr, wr], b (4·hid).
func lstmConsts(g *graph.Graph, steps, bsz, in, hid int, wr float64) (x, h0, c0, w, b *graph.Node) {
	x = g.Const(gradcheck.Rand(1, -2, 2, steps, bsz, in))
	h0 = g.Const(gradcheck.Rand(2, -1, 1, bsz, hid))
	c0 = g.Const(gradcheck.Rand(3, -1, 1, bsz, hid))
	w = g.Const(gradcheck.Rand(4, -wr, wr, in+hid, 4*hid))
	b = g.Const(gradcheck.Rand(5, -1, 1, 4*hid))
	return x, h0, c0, w, b
}
