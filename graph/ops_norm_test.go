package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"
)

func TestLRNHandCase(t *testing.T) {
	// One pixel of four channels, radius 1: sqr_sum = (1+4, 1+4+9, 4+9+16, 9+16).
	x := mustF32(t, []float32{1, 2, 3, 4}, 1, 1, 1, 4)
	out := eval(t, false, func(g *graph.Graph) []*graph.Node {
		return []*graph.Node{
			graph.LocalResponseNorm(g.Const(x), graph.LRNOpts{DepthRadius: 1, Bias: 1, Alpha: 1, Beta: 0.5}),
			graph.LocalResponseNorm(g.Const(x), graph.LRNOpts{DepthRadius: 1, Bias: 2, Alpha: 0.1, Beta: 0.75}),
		}
	})
	near32(t, "beta 0.5", out[0], []float32{
		1 / float32(math.Sqrt(6)), 2 / float32(math.Sqrt(15)), 3 / float32(math.Sqrt(30)), 4 / float32(math.Sqrt(26))}, 1e-6)
	want := make([]float32, 4)
	for i, s := range []float64{5, 14, 29, 25} {
		want[i] = float32(float64(i+1) / math.Pow(2+0.1*s, 0.75))
	}
	near32(t, "beta 0.75", out[1], want, 1e-6)
}

// refLRN is the definition, directly.
func refLRN(x []float32, C int, o graph.LRNOpts) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < len(x)/C; r++ {
		for c := 0; c < C; c++ {
			var s float64
			for k := max(0, c-o.DepthRadius); k <= min(C-1, c+o.DepthRadius); k++ {
				v := float64(x[r*C+k])
				s += v * v
			}
			y[r*C+c] = float64(x[r*C+c]) / math.Pow(float64(o.Bias)+float64(o.Alpha)*s, float64(o.Beta))
		}
	}
	return y
}

var lrnCases = []struct {
	shape []int
	o     graph.LRNOpts
}{
	{[]int{2, 3, 3, 7}, graph.LRNOpts{DepthRadius: 2, Bias: 1, Alpha: 0.5, Beta: 0.75}},
	{[]int{3, 5}, graph.LRNOpts{DepthRadius: 4, Bias: 2, Alpha: 0.2, Beta: 0.6}},    // radius >= channels
	{[]int{4, 6}, graph.LRNOpts{DepthRadius: 0, Bias: 1, Alpha: 0.3, Beta: 1}},      // radius 0
	{[]int{2, 2, 9}, graph.LRNOpts{DepthRadius: 1, Bias: 0.5, Alpha: 1, Beta: 0.5}}, // beta 0.5
	{[]int{128, 64}, graph.LRNOpts{DepthRadius: 4, Bias: 1, Alpha: 0.001 / 9, Beta: 0.75}},
}

func TestLRNMatchesReference(t *testing.T) {
	for i, c := range lrnCases {
		x := gradcheck.Rand(uint64(i), -3, 3, c.shape...)
		out := eval(t, false, func(g *graph.Graph) []*graph.Node {
			return []*graph.Node{graph.LocalResponseNorm(g.Const(x), c.o)}
		})
		want := refLRN(x.Float32s(), c.shape[len(c.shape)-1], c.o)
		for j, v := range out[0].Float32s() {
			if math.Abs(float64(v)-want[j]) > 1e-5*math.Max(1, math.Abs(want[j])) {
				t.Fatalf("case %d: y[%d] = %v, want %v", i, j, v, want[j])
			}
		}
	}
}

func TestLRNGradients(t *testing.T) {
	var cases []gcase
	for i, c := range lrnCases {
		c := c
		if len(c.shape) > 2 || c.shape[0] < 100 {
			cases = append(cases, gcase{fmt.Sprintf("%v_%+v", c.shape, c.o), []*tensor.Tensor{r(uint64(i), c.shape...)},
				func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.LocalResponseNorm(in[0], c.o) }})
		}
	}
	// The CIFAR setting, on values large enough for the normaliser to matter.
	cases = append(cases, gcase{"cifar", []*tensor.Tensor{gradcheck.Rand(9, -20, 20, 2, 2, 2, 16)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return graph.LocalResponseNorm(in[0], graph.LRNOpts{DepthRadius: 4, Bias: 1, Alpha: 0.001 / 9, Beta: 0.75})
	}})
	runCases(t, cases)
}

func TestBatchNormTrainingAndInference(t *testing.T) {
	const n, c = 64, 3
	x := tensor.New(tensor.Float32, n, 2, c)
	tensor.Normal(5, 2).Init(x, tensor.NewRand(1))
	g := graph.New(1)
	xp := g.Placeholder("x", tensor.Float32, -1, 2, c)
	gamma := g.Variable("bn/gamma", tensor.Constant(2), c)
	beta := g.Variable("bn/beta", tensor.Constant(0.5), c)
	mm := g.State("bn/mean", tensor.Zeros(), c)
	mv := g.State("bn/var", tensor.Ones(), c)
	y := graph.BatchNorm(xp, gamma, beta, mm, mv, graph.BatchNormOpts{Momentum: 0.9, Epsilon: 1e-5})
	train, err := g.NewExecutor(graph.Options{Training: true}, y)
	if err != nil {
		t.Fatal(err)
	}
	defer train.Close()
	out, err := train.Run(graph.Feed{Node: xp, Value: x})
	if err != nil {
		t.Fatal(err)
	}
	// Training: each channel of y has mean beta and standard deviation gamma.
	rows := n * 2
	for j := 0; j < c; j++ {
		var s, s2, xs, xs2 float64
		for r := 0; r < rows; r++ {
			v := float64(out[0].Float32s()[r*c+j])
			s += v
			s2 += v * v
			xv := float64(x.Float32s()[r*c+j])
			xs += xv
			xs2 += xv * xv
		}
		mean, std := s/float64(rows), math.Sqrt(s2/float64(rows)-(s/float64(rows))*(s/float64(rows)))
		if math.Abs(mean-0.5) > 1e-4 || math.Abs(std-2) > 1e-3 {
			t.Errorf("channel %d: training output mean %v std %v, want 0.5 and 2", j, mean, std)
		}
		// Moving averages after one step, momentum 0.9, unbiased variance.
		xm := xs / float64(rows)
		xv := (xs2/float64(rows) - xm*xm) * float64(rows) / float64(rows-1)
		if got := float64(mm.Tensor().Float32s()[j]); math.Abs(got-0.1*xm) > 1e-4 {
			t.Errorf("channel %d: moving mean %v, want %v", j, got, 0.1*xm)
		}
		if got := float64(mv.Tensor().Float32s()[j]); math.Abs(got-(0.9+0.1*xv)) > 1e-3 {
			t.Errorf("channel %d: moving variance %v, want %v", j, got, 0.9+0.1*xv)
		}
	}
	// Inference uses the moving averages and changes nothing.
	mm.Tensor().Float32s()[0], mv.Tensor().Float32s()[0] = 5, 4
	infer, err := g.NewExecutor(graph.Options{}, y)
	if err != nil {
		t.Fatal(err)
	}
	defer infer.Close()
	before := mm.Tensor().Clone()
	out, err = infer.Run(graph.Feed{Node: xp, Value: x})
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < rows; r++ {
		want := (float64(x.Float32s()[r*c])-5)/math.Sqrt(4+1e-5)*2 + 0.5
		if got := float64(out[0].Float32s()[r*c]); math.Abs(got-want) > 1e-4 {
			t.Fatalf("inference row %d: %v, want %v", r, got, want)
		}
	}
	for j, v := range mm.Tensor().Float32s() {
		if v != before.Float32s()[j] {
			t.Fatal("inference changed the moving mean")
		}
	}
}

func TestBatchNormGradients(t *testing.T) {
	bn := func(g *graph.Graph, in []*graph.Node) *graph.Node {
		c := in[0].Shape()[len(in[0].Shape())-1]
		mean := g.Const(gradcheck.Rand(5, -0.5, 0.5, c))
		variance := g.Const(gradcheck.Rand(6, 0.5, 2, c))
		return graph.BatchNorm(in[0], in[1], in[2], mean, variance, graph.BatchNormOpts{})
	}
	for _, training := range []bool{true, false} {
		for i, shape := range [][]int{{6, 4}, {3, 2, 3, 5}, {2, 1, 1, 3}} {
			c := shape[len(shape)-1]
			t.Run(fmt.Sprintf("training=%v/%v", training, shape), func(t *testing.T) {
				err := gradcheck.Check(gradcheck.Case{
					Inputs:   []*tensor.Tensor{gradcheck.Rand(uint64(i), -2, 3, shape...), gradcheck.Rand(uint64(i+1), 0.5, 1.5, c), r(uint64(i+2), c)},
					Build:    bn,
					Training: training,
					Eps:      3e-3,
					Seed:     uint64(i),
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestLayerNorm(t *testing.T) {
	x := r(1, 3, 2, 5)
	gamma, beta := gradcheck.Rand(2, 0.5, 1.5, 5), r(3, 5)
	out := eval(t, false, func(g *graph.Graph) []*graph.Node {
		return []*graph.Node{graph.LayerNorm(g.Const(x), g.Const(gamma), g.Const(beta), 1e-5)}
	})
	xs := x.Float32s()
	for row := 0; row < 6; row++ {
		var s, s2 float64
		for j := 0; j < 5; j++ {
			s += float64(xs[row*5+j])
		}
		m := s / 5
		for j := 0; j < 5; j++ {
			d := float64(xs[row*5+j]) - m
			s2 += d * d
		}
		for j := 0; j < 5; j++ {
			want := (float64(xs[row*5+j])-m)/math.Sqrt(s2/5+1e-5)*float64(gamma.Float32s()[j]) + float64(beta.Float32s()[j])
			if got := float64(out[0].Float32s()[row*5+j]); math.Abs(got-want) > 1e-5 {
				t.Fatalf("row %d, %d: %v, want %v", row, j, got, want)
			}
		}
	}
	runCases(t, []gcase{
		{"layernorm", []*tensor.Tensor{r(1, 3, 2, 5), gradcheck.Rand(2, 0.5, 1.5, 5), r(3, 5)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.LayerNorm(in[0], in[1], in[2], 0)
		}},
		{"layernorm_wide", []*tensor.Tensor{r(4, 7, 33), gradcheck.Rand(5, 0.5, 1.5, 33), r(6, 33)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.LayerNorm(in[0], in[1], in[2], 1e-5)
		}},
	})
}

func TestNormShapeErrors(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 4, 4, 8)
	v := func(name string, n int) *graph.Node { return g.Variable(name, tensor.Zeros(), n) }
	if n := graph.BatchNorm(x, v("g", 7), v("b", 8), v("m", 8), v("v", 8), graph.BatchNormOpts{}); n.Err() == nil {
		t.Error("BatchNorm with gamma (7,) on 8 channels: want an error")
	}
	if n := graph.LayerNorm(x, v("g2", 8), v("b2", 4), 0); n.Err() == nil {
		t.Error("LayerNorm with beta (4,) on 8 channels: want an error")
	}
	if n := graph.LocalResponseNorm(x, graph.LRNOpts{DepthRadius: -1}); n.Err() == nil {
		t.Error("LRN with a negative radius: want an error")
	}
	if n := graph.BatchNormalization(x, "bn", graph.BatchNormOpts{}); n.Err() != nil || !n.Shape().Equal(tensor.Shape{-1, 4, 4, 8}) {
		t.Errorf("BatchNormalization: %v %v", n.Shape(), n.Err())
	}
	if g.VariableByName("bn/moving_variance") == nil {
		t.Error("BatchNormalization did not create bn/moving_variance")
	}
}
