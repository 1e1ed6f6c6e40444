package graph_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// distinct returns a tensor whose elements are a shuffle of evenly spaced values
// 0.05 apart, so that a finite-difference step of 0.01 never changes which
// element of a pooling window is the largest.
func distinct(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	d := t.Float32s()
	for i := range d {
		d[i] = float32(i)*0.05 - float32(len(d))*0.025
	}
	rng := tensor.NewRand(seed)
	rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return t
}

func TestPoolHandCases(t *testing.T) {
	x := mustF32(t, iota1(16), 1, 4, 4, 1)
	s2 := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
	out := eval(t, false, func(g *graph.Graph) []*graph.Node {
		xn := g.Const(x)
		return []*graph.Node{
			graph.MaxPool2D(xn, s2),
			graph.AvgPool2D(xn, s2),
			graph.MaxPool2D(xn, graph.PoolOpts{Size: [2]int{2, 2}}), // strides default to the window
			graph.AvgPool2D(xn, graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{1, 1}, Padding: graph.Same}),
		}
	})
	// SAME, 3x3, stride 2 on 4x4: pad_total 1, after the image: windows cover
	// rows/columns {0,1,2} and {2,3}.
	near32(t, "max 3x3/2 SAME", out[0], []float32{11, 12, 15, 16}, 1e-6)
	// Border windows divide by their valid elements only: 45/6, 72/6, 54/4.
	near32(t, "avg 3x3/2 SAME", out[1], []float32{6, 7.5, 12, 13.5}, 1e-6)
	near32(t, "max 2x2 VALID", out[2], []float32{6, 8, 14, 16}, 1e-6)
	near32(t, "avg 3x3/1 SAME", out[3], []float32{
		14. / 4, 24. / 6, 30. / 6, 22. / 4,
		33. / 6, 54. / 9, 63. / 9, 45. / 6,
		57. / 6, 90. / 9, 99. / 9, 69. / 6,
		46. / 4, 72. / 6, 78. / 6, 54. / 4}, 1e-6)

	// Gradients: each dy goes to its window's argmax; with ties, to the first
	// element of the window in row-major order (TensorFlow).
	zeros := tensor.New(tensor.Float32, 1, 4, 4, 1)
	dy := mustF32(t, []float32{1, 2, 3, 4}, 1, 2, 2, 1)
	gr := eval(t, false, func(g *graph.Graph) []*graph.Node {
		xn, z := g.Const(x), g.Const(zeros)
		d := g.Const(dy)
		return []*graph.Node{
			gradOf(t, g, graph.MaxPool2D(xn, s2), xn, d),
			gradOf(t, g, graph.MaxPool2D(z, s2), z, d),
			gradOf(t, g, graph.AvgPool2D(xn, s2), xn, d),
		}
	})
	near32(t, "max grad", gr[0], []float32{
		0, 0, 0, 0,
		0, 0, 0, 0,
		0, 0, 1, 2,
		0, 0, 3, 4}, 1e-6)
	near32(t, "max grad, ties", gr[1], []float32{
		1, 0, 2, 0,
		0, 0, 0, 0,
		3, 0, 4 + 0, 0,
		0, 0, 0, 0}, 1e-6)
	near32(t, "avg grad", gr[2], []float32{
		1. / 9, 1. / 9, 1./9 + 2./6, 2. / 6,
		1. / 9, 1. / 9, 1./9 + 2./6, 2. / 6,
		1./9 + 3./6, 1./9 + 3./6, 1./9 + 2./6 + 3./6 + 4./4, 2./6 + 4./4,
		3. / 6, 3. / 6, 3./6 + 4./4, 4. / 4}, 1e-6)
}

// gradOf returns the gradient of Σ y·dy with respect to x: the backward pass of
// y given the output gradient dy.
func gradOf(t *testing.T, g *graph.Graph, y, x, dy *graph.Node) *graph.Node {
	t.Helper()
	gs, err := graph.Gradients(graph.ReduceSum(graph.Mul(y, dy)), x)
	if err != nil {
		t.Fatal(err)
	}
	return gs[0]
}

type poolCase struct {
	n, h, w, c, kh, kw, sh, sw int
	pad                        graph.Padding
}

func (k poolCase) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_k%dx%d_s%d%d_%v", k.n, k.h, k.w, k.c, k.kh, k.kw, k.sh, k.sw, k.pad)
}

func (k poolCase) opts() graph.PoolOpts {
	return graph.PoolOpts{Size: [2]int{k.kh, k.kw}, Strides: [2]int{k.sh, k.sw}, Padding: k.pad}
}

// refPool is a direct pooling: max over, or mean of, the window's elements inside
// the image.
func refPool(k poolCase, x []float32, isMax bool) ([]float64, int, int) {
	y, _, oh, ow := refPoolGrad(k, x, nil, isMax)
	return y, oh, ow
}

// refPoolGrad also returns the gradient for dy (when not nil): to the first
// maximum of each window, or spread over its valid elements.
func refPoolGrad(k poolCase, x, dy []float32, isMax bool) ([]float64, []float64, int, int) {
	oh, pt := tfOut(k.h, k.kh, k.sh, 1, k.pad == graph.Same)
	ow, pl := tfOut(k.w, k.kw, k.sw, 1, k.pad == graph.Same)
	y := make([]float64, k.n*oh*ow*k.c)
	dx := make([]float64, len(x))
	for n := 0; n < k.n; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for c := 0; c < k.c; c++ {
					m, s, cnt, arg := math.Inf(-1), 0.0, 0, -1
					var idx []int
					for a := 0; a < k.kh; a++ {
						for b := 0; b < k.kw; b++ {
							ih, iw := i*k.sh-pt+a, j*k.sw-pl+b
							if ih < 0 || ih >= k.h || iw < 0 || iw >= k.w {
								continue
							}
							e := ((n*k.h+ih)*k.w+iw)*k.c + c
							v := float64(x[e])
							if v > m {
								m, arg = v, e
							}
							s += v
							cnt++
							idx = append(idx, e)
						}
					}
					o := ((n*oh+i)*ow+j)*k.c + c
					if isMax {
						y[o] = m
						if dy != nil {
							dx[arg] += float64(dy[o])
						}
					} else {
						y[o] = s / float64(cnt)
						for _, e := range idx {
							if dy != nil {
								dx[e] += float64(dy[o]) / float64(cnt)
							}
						}
					}
				}
			}
		}
	}
	return y, dx, oh, ow
}

var poolCases = []poolCase{
	{2, 24, 24, 8, 3, 3, 2, 2, graph.Same}, // the CIFAR pooling
	{1, 5, 7, 3, 3, 3, 2, 2, graph.Same},   // odd sizes, batch 1
	{3, 6, 5, 2, 2, 2, 3, 3, graph.Same},   // stride > window
	{3, 6, 5, 2, 2, 2, 3, 2, graph.Valid},
	{2, 7, 7, 3, 3, 2, 1, 1, graph.Same},
	{2, 4, 9, 1, 4, 3, 1, 2, graph.Valid},
	{2, 2, 2, 3, 3, 3, 1, 1, graph.Same}, // window bigger than the image
	// 12 channels and more: the vector loops over runs of output columns,
	// on inputs rounded to halves so that windows tie (the first maximum
	// in row-major window order takes the gradient).
	{2, 9, 11, 12, 3, 3, 2, 2, graph.Same},
	{2, 8, 8, 16, 2, 2, 2, 2, graph.Valid},
	{1, 7, 9, 24, 3, 2, 1, 2, graph.Same},
	{2, 5, 12, 16, 3, 3, 3, 1, graph.Valid},
}

func TestPoolMatchesReference(t *testing.T) {
	for i, k := range poolCases {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/t%d", k, threads), func(t *testing.T) {
				x := r(uint64(i), k.n, k.h, k.w, k.c)
				if k.c >= 12 {
					for e, v := range x.Float32s() {
						x.Float32s()[e] = float32(math.Round(float64(v)*2) / 2)
					}
				}
				oh, _ := tfOut(k.h, k.kh, k.sh, 1, k.pad == graph.Same)
				ow, _ := tfOut(k.w, k.kw, k.sw, 1, k.pad == graph.Same)
				dy := r(uint64(i+100), k.n, oh, ow, k.c)
				out := evalOpts(t, graph.Options{Threads: threads}, func(g *graph.Graph) []*graph.Node {
					xn, d := g.Const(x), g.Const(dy)
					mp, ap := graph.MaxPool2D(xn, k.opts()), graph.AvgPool2D(xn, k.opts())
					return []*graph.Node{mp, ap, gradOf(t, g, mp, xn, d), gradOf(t, g, ap, xn, d)}
				})
				for j, isMax := range []bool{true, false} {
					want, dx, oh, ow := refPoolGrad(k, x.Float32s(), dy.Float32s(), isMax)
					for e, v := range out[2+j].Float32s() {
						if math.Abs(float64(v)-dx[e]) > 1e-5 {
							t.Fatalf("max=%v: dx[%d] = %v, want %v", isMax, e, v, dx[e])
						}
					}
					if !out[j].Shape().Equal(tensor.Shape{k.n, oh, ow, k.c}) {
						t.Fatalf("shape %v, want (%d, %d, %d, %d)", out[j].Shape(), k.n, oh, ow, k.c)
					}
					for e, v := range out[j].Float32s() {
						if math.Abs(float64(v)-want[e]) > 1e-5 {
							t.Fatalf("max=%v: y[%d] = %v, want %v", isMax, e, v, want[e])
						}
					}
				}
			})
		}
	}
}

func TestPoolGradients(t *testing.T) {
	var cases []gcase
	for i, k := range poolCases {
		k := k
		if k.n*k.h*k.w*k.c > 600 {
			// distinct's values would grow large enough for float32 rounding
			// to swamp the finite differences.
			continue
		}
		cases = append(cases,
			gcase{fmt.Sprintf("max%v", k), []*tensor.Tensor{distinct(uint64(i), k.n, k.h, k.w, k.c)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.MaxPool2D(in[0], k.opts())
			}},
			gcase{fmt.Sprintf("avg%v", k), []*tensor.Tensor{r(uint64(i), k.n, k.h, k.w, k.c)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
				return graph.AvgPool2D(in[0], k.opts())
			}})
	}
	cases = append(cases,
		gcase{"max1d", []*tensor.Tensor{distinct(1, 2, 9, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.MaxPool1D(in[0], graph.Pool1DOpts{Size: 3, Stride: 2, Padding: graph.Same})
		}},
		gcase{"avg1d", []*tensor.Tensor{r(1, 2, 9, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.AvgPool1D(in[0], graph.Pool1DOpts{Size: 2})
		}},
	)
	runCases(t, cases)
}

func TestPool1DShapes(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 10, 4)
	for _, c := range []struct {
		n    *graph.Node
		want tensor.Shape
	}{
		{graph.MaxPool1D(x, graph.Pool1DOpts{Size: 3, Stride: 2, Padding: graph.Same}), tensor.Shape{-1, 5, 4}},
		{graph.AvgPool1D(x, graph.Pool1DOpts{Size: 3}), tensor.Shape{-1, 3, 4}},
		{graph.Conv1D(x, g.Variable("w", nil, 3, 4, 6), graph.Conv1DOpts{Stride: 3, Padding: graph.Same}), tensor.Shape{-1, 4, 6}},
	} {
		if c.n.Err() != nil || !c.n.Shape().Equal(c.want) {
			t.Errorf("%v: shape %v (err %v), want %v", c.n, c.n.Shape(), c.n.Err(), c.want)
		}
	}
}
