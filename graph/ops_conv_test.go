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

// eval compiles and runs the nodes built by build over constant inputs.
func eval(t *testing.T, training bool, build func(g *graph.Graph) []*graph.Node) []*tensor.Tensor {
	t.Helper()
	return evalOpts(t, graph.Options{Training: training}, build)
}

func evalOpts(t *testing.T, opts graph.Options, build func(g *graph.Graph) []*graph.Node) []*tensor.Tensor {
	t.Helper()
	g := graph.New(1)
	outs := build(g)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	p, err := g.Compile(opts, nil, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	res := make([]*tensor.Tensor, len(outs))
	for i, o := range p.Outputs() {
		res[i] = o.Clone()
	}
	return res
}

func iota1(n int) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i + 1)
	}
	return d
}

func near32(t *testing.T, what string, got *tensor.Tensor, want []float32, tol float64) {
	t.Helper()
	g := got.Float32s()
	if len(g) != len(want) {
		t.Fatalf("%s: %d values %v, want %d", what, len(g), got.Shape(), len(want))
	}
	for i := range want {
		if math.Abs(float64(g[i]-want[i])) > tol*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s: got %v, want %v (first difference at %d)", what, g, want, i)
		}
	}
}

// TestConvForwardHandCases checks convolutions against results worked out by
// hand with TensorFlow's rules.
func TestConvForwardHandCases(t *testing.T) {
	x := mustF32(t, iota1(16), 1, 4, 4, 1) // 1..16, row-major
	ones3 := mustF32(t, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, 3, 3, 1, 1)
	corner := mustF32(t, []float32{1, 0, 0, 0, 0, 0, 0, 0, 0}, 3, 3, 1, 1)
	out := eval(t, false, func(g *graph.Graph) []*graph.Node {
		xn := g.Const(x)
		return []*graph.Node{
			graph.Conv2D(xn, g.Const(ones3), graph.Conv2DOpts{Padding: graph.Same}),
			// Stride 2 SAME: pad_total 1, all of it after the image (TensorFlow),
			// so windows start at rows/columns 0 and 2.
			graph.Conv2D(xn, g.Const(ones3), graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same}),
			graph.Conv2D(xn, g.Const(ones3), graph.Conv2DOpts{}),
			// Cross-correlation, not convolution: the top-left tap reads x[i-1, j-1].
			graph.Conv2D(xn, g.Const(corner), graph.Conv2DOpts{Padding: graph.Same}),
		}
	})
	near32(t, "3x3 SAME", out[0], []float32{
		14, 24, 30, 22,
		33, 54, 63, 45,
		57, 90, 99, 69,
		46, 72, 78, 54}, 1e-6)
	near32(t, "3x3 SAME stride 2", out[1], []float32{54, 45, 72, 54}, 1e-6)
	near32(t, "3x3 VALID", out[2], []float32{54, 63, 90, 99}, 1e-6)
	near32(t, "corner tap SAME", out[3], []float32{
		0, 0, 0, 0,
		0, 1, 2, 3,
		0, 5, 6, 7,
		0, 9, 10, 11}, 1e-6)

	// Dilation: a 2x2 filter of ones dilated by 2 on the 4x4 image, VALID, sums
	// x[i][j] + x[i][j+2] + x[i+2][j] + x[i+2][j+2].
	dil := eval(t, false, func(g *graph.Graph) []*graph.Node {
		w := g.Const(mustF32(t, []float32{1, 1, 1, 1}, 2, 2, 1, 1))
		return []*graph.Node{graph.Conv2D(g.Const(x), w, graph.Conv2DOpts{Dilations: [2]int{2, 2}})}
	})
	near32(t, "dilated VALID", dil[0], []float32{1 + 3 + 9 + 11, 2 + 4 + 10 + 12, 5 + 7 + 13 + 15, 6 + 8 + 14 + 16}, 1e-6)

	// Two channels in, two out: out[c'] = Σ_c x[c]·w[c][c'].
	x2 := mustF32(t, []float32{1, 2, 3, 4}, 1, 1, 2, 2) // pixels (1,2) and (3,4)
	w2 := mustF32(t, []float32{1, 10, 100, 1000}, 1, 1, 2, 2)
	pw := eval(t, false, func(g *graph.Graph) []*graph.Node {
		return []*graph.Node{graph.Conv2D(g.Const(x2), g.Const(w2), graph.Conv2DOpts{})}
	})
	near32(t, "pointwise", pw[0], []float32{1 + 200, 10 + 2000, 3 + 400, 30 + 4000}, 1e-6)
}

func TestConvTransposeHandCases(t *testing.T) {
	x := mustF32(t, []float32{1, 2, 3, 4}, 1, 2, 2, 1)
	out := eval(t, false, func(g *graph.Graph) []*graph.Node {
		xn := g.Const(x)
		ones2 := g.Const(mustF32(t, []float32{1, 1, 1, 1}, 2, 2, 1, 1))
		ones3 := g.Const(mustF32(t, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, 3, 3, 1, 1))
		return []*graph.Node{
			graph.Conv2DTranspose(xn, ones2, graph.Conv2DOpts{Strides: [2]int{2, 2}}),
			graph.Conv2DTranspose(xn, ones3, graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same}),
		}
	})
	if !out[0].Shape().Equal(tensor.Shape{1, 4, 4, 1}) {
		t.Fatalf("transpose VALID shape %v, want (1, 4, 4, 1)", out[0].Shape())
	}
	near32(t, "transpose 2x2 stride 2 VALID", out[0], []float32{
		1, 1, 2, 2,
		1, 1, 2, 2,
		3, 3, 4, 4,
		3, 3, 4, 4}, 1e-6)
	near32(t, "transpose 3x3 stride 2 SAME", out[1], []float32{
		1, 1, 3, 2,
		1, 1, 3, 2,
		4, 4, 10, 6,
		3, 3, 7, 4}, 1e-6)
}

type convCase struct {
	n, h, w, c, kh, kw, oc int
	sh, sw, dh, dw         int
	pad                    graph.Padding
}

func (k convCase) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_k%dx%dx%d_s%d%d_d%d%d_%v", k.n, k.h, k.w, k.c, k.kh, k.kw, k.oc, k.sh, k.sw, k.dh, k.dw, k.pad)
}

func (k convCase) opts() graph.Conv2DOpts {
	return graph.Conv2DOpts{Strides: [2]int{k.sh, k.sw}, Dilations: [2]int{k.dh, k.dw}, Padding: k.pad}
}

// tfOut is TensorFlow's output size and padding before, written out again here
// so that the test does not share the code it checks.
func tfOut(in, k, s, d int, same bool) (int, int) {
	span := (k-1)*d + 1
	if !same {
		return (in-span)/s + 1, 0
	}
	out := (in + s - 1) / s
	total := (out-1)*s + span - in
	if total < 0 {
		total = 0
	}
	return out, total / 2
}

// refTaps calls tap for every output pixel and filter tap whose input pixel
// lies inside the image, with the offsets of the output pixel's channels in
// y, the input pixel's in x and the tap's (C×OC) block in w; it returns the
// output size. The reference loops below are written on it.
func refTaps(k convCase, tap func(yo, xo, wo int)) (oh, ow int) {
	oh, pt := tfOut(k.h, k.kh, k.sh, k.dh, k.pad == graph.Same)
	ow, pl := tfOut(k.w, k.kw, k.sw, k.dw, k.pad == graph.Same)
	for n := 0; n < k.n; n++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				for a := 0; a < k.kh; a++ {
					for b := 0; b < k.kw; b++ {
						ih, iw := i*k.sh-pt+a*k.dh, j*k.sw-pl+b*k.dw
						if ih < 0 || ih >= k.h || iw < 0 || iw >= k.w {
							continue
						}
						tap(((n*oh+i)*ow+j)*k.oc, ((n*k.h+ih)*k.w+iw)*k.c, (a*k.kw+b)*k.c*k.oc)
					}
				}
			}
		}
	}
	return oh, ow
}

// refConv is a direct float64 convolution, NHWC by HWIO.
func refConv(k convCase, x, w []float32) ([]float64, int, int) {
	oh, _ := tfOut(k.h, k.kh, k.sh, k.dh, k.pad == graph.Same)
	ow, _ := tfOut(k.w, k.kw, k.sw, k.dw, k.pad == graph.Same)
	y := make([]float64, k.n*oh*ow*k.oc)
	refTaps(k, func(yo, xo, wo int) {
		for o := 0; o < k.oc; o++ {
			for c := 0; c < k.c; c++ {
				y[yo+o] += float64(x[xo+c]) * float64(w[wo+c*k.oc+o])
			}
		}
	})
	return y, oh, ow
}

// refConvInputGrad is the input gradient of refConv for the output gradient
// dy, scattered tap by tap in float64.
func refConvInputGrad(k convCase, dy, w []float32) []float64 {
	dx := make([]float64, k.n*k.h*k.w*k.c)
	refTaps(k, func(yo, xo, wo int) {
		for c := 0; c < k.c; c++ {
			for o := 0; o < k.oc; o++ {
				dx[xo+c] += float64(dy[yo+o]) * float64(w[wo+c*k.oc+o])
			}
		}
	})
	return dx
}

var convCases = []convCase{
	{2, 5, 5, 3, 3, 3, 4, 1, 1, 1, 1, graph.Same},
	{1, 7, 6, 2, 3, 2, 3, 2, 2, 1, 1, graph.Valid},    // odd sizes, batch 1
	{2, 6, 7, 2, 2, 2, 3, 3, 3, 1, 1, graph.Same},     // stride > kernel
	{2, 7, 7, 2, 3, 3, 2, 1, 1, 2, 2, graph.Same},     // dilation
	{3, 8, 5, 2, 3, 2, 2, 2, 1, 2, 1, graph.Valid},    // dilation and stride
	{3, 4, 4, 5, 1, 1, 3, 1, 1, 1, 1, graph.Valid},    // pointwise: no im2col
	{2, 5, 4, 3, 1, 1, 2, 2, 2, 1, 1, graph.Same},     // 1x1 strided
	{1, 1, 9, 2, 1, 3, 3, 2, 2, 1, 1, graph.Same},     // height 1
	{5, 9, 9, 3, 5, 5, 4, 1, 1, 1, 1, graph.Same},     // the CIFAR layer's shape, small
	{4, 3, 3, 1, 5, 5, 2, 1, 1, 1, 1, graph.Same},     // window bigger than the image
	{2, 10, 11, 64, 5, 5, 8, 2, 2, 1, 1, graph.Valid}, // wide channels
	{17, 10, 10, 3, 3, 3, 4, 1, 1, 1, 1, graph.Same},  // several products per core
	// Stride 1 and at least 16 channels: the input gradient runs as a
	// forward convolution by the flipped filter.
	{2, 7, 6, 16, 3, 3, 5, 1, 1, 1, 1, graph.Same},
	{2, 9, 8, 20, 3, 2, 4, 1, 1, 2, 1, graph.Valid}, // dilated, even window
	{3, 3, 4, 16, 5, 5, 3, 1, 1, 1, 1, graph.Same},  // window bigger than the image
	{2, 8, 9, 17, 4, 3, 6, 1, 1, 1, 2, graph.Same},  // even window height, dilated width
	{2, 6, 7, 16, 3, 3, 4, 1, 2, 1, 1, graph.Same},  // stride 2 across: col2im
	// Window rows of at least 64 floats (KW·C) without dilation: no im2col
	// (nn.ConvImplicit), forward and, where the input gradient is a forward
	// convolution, for it too.
	{3, 12, 12, 64, 5, 5, 64, 1, 1, 1, 1, graph.Same}, // CIFAR's second layer: rows of 12
	{2, 9, 13, 32, 4, 3, 20, 1, 1, 1, 1, graph.Same},  // even window, rows of 13 (a packed edge)
	{2, 8, 30, 32, 3, 3, 16, 2, 2, 1, 1, graph.Same},  // stride 2, padded copy, rows of 15
	{2, 6, 30, 24, 3, 3, 70, 1, 1, 1, 1, graph.Valid}, // in place, rows of 28; its input gradient padded, rows of 30
}

// TestConvForwardMatchesReference compares Conv2D with the direct loop on many
// geometries, and checks the adjoint identities that define the two backprop ops:
// <Conv(x, w), dy> = <x, BackpropInput(dy, w)> = <w, BackpropFilter(x, dy)>.
// It runs on 1, 2 and 3 threads, which split the batch differently.
func TestConvForwardMatchesReference(t *testing.T) {
	for i, k := range convCases {
		for _, threads := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%v/t%d", k, threads), func(t *testing.T) {
				x := r(uint64(10+i), k.n, k.h, k.w, k.c)
				w := r(uint64(20+i), k.kh, k.kw, k.c, k.oc)
				want, oh, ow := refConv(k, x.Float32s(), w.Float32s())
				dy := r(uint64(30+i), k.n, oh, ow, k.oc)
				out := evalOpts(t, graph.Options{Threads: threads}, func(g *graph.Graph) []*graph.Node {
					xn, wn, dyn := g.Const(x), g.Const(w), g.Const(dy)
					return []*graph.Node{
						graph.Conv2D(xn, wn, k.opts()),
						graph.Conv2DBackpropInput(dyn, wn, xn, k.opts()),
						graph.Conv2DBackpropFilter(xn, dyn, wn, k.opts()),
					}
				})
				if s := out[0].Shape(); !s.Equal(tensor.Shape{k.n, oh, ow, k.oc}) {
					t.Fatalf("shape %v, want (%d, %d, %d, %d)", s, k.n, oh, ow, k.oc)
				}
				for j, v := range out[0].Float32s() {
					if math.Abs(float64(v)-want[j]) > 1e-4*math.Max(1, math.Abs(want[j])) {
						t.Fatalf("y[%d] = %v, want %v", j, v, want[j])
					}
				}
				wantDx := refConvInputGrad(k, dy.Float32s(), w.Float32s())
				for j, v := range out[1].Float32s() {
					if math.Abs(float64(v)-wantDx[j]) > 1e-4*math.Max(1, math.Abs(wantDx[j])) {
						t.Fatalf("dx[%d] = %v, want %v", j, v, wantDx[j])
					}
				}
				var lhs, mid, rhs float64
				for j, v := range want {
					lhs += v * float64(dy.Float32s()[j])
				}
				for j, v := range out[1].Float32s() {
					mid += float64(v) * float64(x.Float32s()[j])
				}
				for j, v := range out[2].Float32s() {
					rhs += float64(v) * float64(w.Float32s()[j])
				}
				tol := 1e-4 * math.Max(1, math.Abs(lhs))
				if math.Abs(lhs-mid) > tol || math.Abs(lhs-rhs) > tol {
					t.Fatalf("adjoints differ: <conv, dy> %v, <x, dx> %v, <w, dw> %v", lhs, mid, rhs)
				}
			})
		}
	}
}

func TestConvGradients(t *testing.T) {
	var cases []gcase
	for i, k := range convCases {
		if k.n*k.h*k.w*k.c > 2000 {
			continue
		}
		k := k
		cases = append(cases, gcase{k.String(), []*tensor.Tensor{r(uint64(40+i), k.n, k.h, k.w, k.c), r(uint64(50+i), k.kh, k.kw, k.c, k.oc)},
			func(g *graph.Graph, in []*graph.Node) *graph.Node { return graph.Conv2D(in[0], in[1], k.opts()) }})
	}
	k := convCases[0]
	cases = append(cases,
		gcase{"bias_tanh", []*tensor.Tensor{r(1, 2, 5, 5, 3), r(2, 3, 3, 3, 4), r(3, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv2DBiasAct(in[0], in[1], in[2], graph.TanhAct, k.opts())
		}},
		gcase{"bias_identity_stride2", []*tensor.Tensor{r(1, 1, 6, 5, 2), r(2, 3, 3, 2, 3), r(3, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv2DBiasAct(in[0], in[1], in[2], graph.Identity, graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same})
		}},
		gcase{"conv1d", []*tensor.Tensor{r(1, 2, 9, 3), r(2, 3, 3, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv1D(in[0], in[1], graph.Conv1DOpts{Padding: graph.Same})
		}},
		gcase{"conv1d_stride2_dil2", []*tensor.Tensor{r(1, 3, 11, 2), r(2, 3, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv1D(in[0], in[1], graph.Conv1DOpts{Stride: 2, Dilation: 2, Padding: graph.Same})
		}},
		gcase{"conv1d_bias_sigmoid", []*tensor.Tensor{r(1, 2, 7, 3), r(2, 2, 3, 2), r(3, 2)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv1DBiasAct(in[0], in[1], in[2], graph.SigmoidAct, graph.Conv1DOpts{Stride: 3})
		}},
		gcase{"transpose_same_s2", []*tensor.Tensor{r(1, 2, 3, 3, 4), r(2, 3, 3, 2, 4)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv2DTranspose(in[0], in[1], graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same})
		}},
		gcase{"transpose_valid_s2_odd", []*tensor.Tensor{r(1, 1, 3, 2, 3), r(2, 3, 2, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv2DTranspose(in[0], in[1], graph.Conv2DOpts{Strides: [2]int{2, 3}})
		}},
		gcase{"transpose1d", []*tensor.Tensor{r(1, 2, 5, 3), r(2, 4, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv1DTranspose(in[0], in[1], graph.Conv1DOpts{Stride: 2, Padding: graph.Same})
		}},
		// The backprop ops are differentiable too (second-order terms, and the
		// gradient of a transposed convolution's filter).
		gcase{"backprop_filter", []*tensor.Tensor{r(1, 2, 5, 5, 2), r(2, 2, 3, 3, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			w := g.Const(tensor.New(tensor.Float32, 3, 3, 2, 3))
			return graph.Conv2DBackpropFilter(in[0], in[1], w, graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same})
		}},
		gcase{"backprop_input", []*tensor.Tensor{r(1, 2, 3, 3, 3), r(2, 3, 3, 2, 3)}, func(g *graph.Graph, in []*graph.Node) *graph.Node {
			x := g.Const(tensor.New(tensor.Float32, 2, 5, 5, 2))
			return graph.Conv2DBackpropInput(in[0], in[1], x, graph.Conv2DOpts{Strides: [2]int{2, 2}, Padding: graph.Same})
		}},
	)
	runCases(t, cases)
}

// TestConvBiasReluGradient checks the fused ReLU away from its kink: inputs are
// chosen so that no pre-activation lies near zero.
func TestConvBiasReluGradient(t *testing.T) {
	x := r(1, 2, 4, 4, 2)
	w := r(2, 3, 3, 2, 3)
	b := r(3, 3)
	// Nudge the bias so every pre-activation is at least 0.1 away from 0.
	k := convCase{2, 4, 4, 2, 3, 3, 3, 1, 1, 1, 1, graph.Same}
	y, _, _ := refConv(k, x.Float32s(), w.Float32s())
	for tries := 0; tries < 100; tries++ {
		ok := true
		for j, v := range y {
			if math.Abs(v+float64(b.Float32s()[j%3])) < 0.1 {
				b.Float32s()[j%3] += 0.07
				ok = false
			}
		}
		if ok {
			break
		}
	}
	err := gradcheck.Check(gradcheck.Case{Inputs: []*tensor.Tensor{x, w, b}, Eps: 1e-3, Atol: 5e-3, Seed: 3,
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return graph.Conv2DBiasAct(in[0], in[1], in[2], graph.ReluAct, k.opts())
		}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConvShapeErrors(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 8, 8, 3)
	bad := []struct {
		name string
		node func() *graph.Node
		want []string
	}{
		{"channels", func() *graph.Node {
			return graph.Conv2D(x, g.Variable("w1", nil, 3, 3, 4, 8), graph.Conv2DOpts{})
		}, []string{"Conv2D", "(3, 3, 4, 8)", "3 input channels"}},
		{"rank", func() *graph.Node {
			return graph.Conv2D(x, g.Variable("w2", nil, 3, 3, 3), graph.Conv2DOpts{})
		}, []string{"filter", "(KH, KW, C, OC)"}},
		{"valid too small", func() *graph.Node {
			return graph.Conv2D(x, g.Variable("w3", nil, 9, 3, 3, 2), graph.Conv2DOpts{})
		}, []string{"does not fit"}},
		{"bias", func() *graph.Node {
			return graph.Conv2DBiasAct(x, g.Variable("w4", nil, 3, 3, 3, 2), g.Variable("b4", nil, 3), graph.ReluAct, graph.Conv2DOpts{})
		}, []string{"bias", "(2,)"}},
		{"negative stride", func() *graph.Node {
			return graph.Conv2D(x, g.Variable("w5", nil, 3, 3, 3, 2), graph.Conv2DOpts{Strides: [2]int{-1, 1}})
		}, []string{"positive"}},
		{"pool window", func() *graph.Node { return graph.MaxPool2D(x, graph.PoolOpts{Size: [2]int{9, 9}}) }, []string{"MaxPool2D", "does not fit"}},
		{"pool rank", func() *graph.Node {
			return graph.MaxPool1D(x, graph.Pool1DOpts{Size: 2})
		}, []string{"MaxPool1D", "(N, W, C)"}},
		{"transpose dy", func() *graph.Node {
			return graph.Conv2DBackpropInput(g.Placeholder("dy", tensor.Float32, -1, 5, 8, 2), g.Variable("w6", nil, 3, 3, 3, 2), x, graph.Conv2DOpts{Padding: graph.Same})
		}, []string{"dy", "(?, 8, 8, 2)"}},
	}
	for _, c := range bad {
		n := c.node()
		if n.Err() == nil {
			t.Errorf("%s: want an error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(n.Err().Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, n.Err(), w)
			}
		}
	}
}

// TestConvUnknownBatch builds on a placeholder with an unknown batch and runs two
// batch sizes through one executor, batch 1 included.
func TestConvUnknownBatch(t *testing.T) {
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 6, 6, 2)
	w := g.Variable("w", tensor.GlorotUniform(), 3, 3, 2, 4)
	y := graph.MaxPool2D(graph.Conv2D(x, w, graph.Conv2DOpts{Padding: graph.Same}), graph.PoolOpts{Size: [2]int{2, 2}})
	if s := y.Shape(); !s.Equal(tensor.Shape{-1, 3, 3, 4}) {
		t.Fatalf("inferred %v, want (?, 3, 3, 4)", s)
	}
	e, err := g.NewExecutor(graph.Options{}, y)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, n := range []int{1, 5} {
		out, err := e.Run(graph.Feed{Node: x, Value: r(uint64(n), n, 6, 6, 2)})
		if err != nil {
			t.Fatal(err)
		}
		if !out[0].Shape().Equal(tensor.Shape{n, 3, 3, 4}) {
			t.Fatalf("batch %d: output %v", n, out[0].Shape())
		}
	}
}

// TestFusedReluGradients compares the fused paths (bias and ReLU in the
// convolution's epilogue, the ReLU's gradient folded into the max pooling's or
// the LRN's gradient) with the same network built from separate ops.
func TestFusedReluGradients(t *testing.T) {
	x, w, b := r(1, 3, 8, 8, 4), r(2, 3, 3, 4, 16), r(3, 16)
	pool := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
	lrn := graph.LRNOpts{DepthRadius: 2, Bias: 1, Alpha: 0.1, Beta: 0.75}
	for _, head := range []string{"maxpool", "lrn"} {
		t.Run(head, func(t *testing.T) {
			build := func(fused bool) []*tensor.Tensor {
				return eval(t, true, func(g *graph.Graph) []*graph.Node {
					xn, wn, bn := g.Const(x), g.Const(w), g.Const(b)
					var h *graph.Node
					if fused {
						h = graph.Conv2DBiasAct(xn, wn, bn, graph.ReluAct, graph.Conv2DOpts{Padding: graph.Same})
					} else {
						h = graph.Relu(graph.BiasAdd(graph.Conv2D(xn, wn, graph.Conv2DOpts{Padding: graph.Same}), bn))
					}
					out := graph.MaxPool2D(h, pool)
					if head == "lrn" {
						out = graph.LocalResponseNorm(h, lrn)
					}
					wt := g.Const(r(4, out.Shape()...))
					loss := graph.ReduceSum(graph.Mul(out, wt))
					gs, err := graph.Gradients(loss, xn, wn, bn, h)
					if err != nil {
						t.Fatal(err)
					}
					return gs
				})
			}
			fused, plain := build(true), build(false)
			for i, name := range []string{"dx", "dw", "db", "d(relu output)"} {
				for j, v := range fused[i].Float32s() {
					if want := plain[i].Float32s()[j]; math.Abs(float64(v-want)) > 1e-5*math.Max(1, math.Abs(float64(want))) {
						t.Fatalf("%s[%d]: fused %v, separate ops %v", name, j, v, want)
					}
				}
			}
		})
	}
}

// FuzzConvShapes builds and, when building succeeds, compiles and runs the CNN
// ops on arbitrary shapes and options: bad ones must give errors, never panics.
func FuzzConvShapes(f *testing.F) {
	f.Add(2, 5, 5, 3, 3, 3, 4, 1, 1, 1, 1, true, uint8(0))
	f.Add(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, uint8(1))
	f.Add(3, 4, 0, 2, 5, 5, 2, 2, 3, 2, 1, true, uint8(2))
	f.Add(1, 7, 6, 2, -1, 2, 3, 0, 2, 1, -2, false, uint8(3))
	f.Fuzz(func(t *testing.T, n, h, w, c, kh, kw, oc, sh, sw, dh, dw int, same bool, which uint8) {
		clamp := func(v int) int { return max(-2, min(v, 9)) }
		n, h, w, c, kh, kw, oc = clamp(n), clamp(h), clamp(w), clamp(c), clamp(kh), clamp(kw), clamp(oc)
		sh, sw, dh, dw = clamp(sh), clamp(sw), clamp(dh), clamp(dw)
		pad := graph.Valid
		if same {
			pad = graph.Same
		}
		g := graph.New(1)
		x := g.Placeholder("x", tensor.Float32, n, h, w, c)
		wt := g.Placeholder("w", tensor.Float32, kh, kw, c, oc)
		opts := graph.Conv2DOpts{Strides: [2]int{sh, sw}, Dilations: [2]int{dh, dw}, Padding: pad}
		var y *graph.Node
		switch which % 6 {
		case 0:
			y = graph.Conv2D(x, wt, opts)
		case 1:
			y = graph.Conv2DTranspose(x, g.Placeholder("wt", tensor.Float32, kh, kw, oc, c), opts)
		case 2:
			y = graph.MaxPool2D(x, graph.PoolOpts{Size: [2]int{kh, kw}, Strides: [2]int{sh, sw}, Padding: pad})
		case 3:
			y = graph.AvgPool2D(x, graph.PoolOpts{Size: [2]int{kh, kw}, Strides: [2]int{sh, sw}, Padding: pad})
		case 4:
			y = graph.Conv1D(graph.Reshape(x, n, h*w, c), g.Placeholder("w1", tensor.Float32, kw, c, oc), graph.Conv1DOpts{Stride: sw, Dilation: dw, Padding: pad})
		case 5:
			y = graph.LocalResponseNorm(x, graph.LRNOpts{DepthRadius: kh, Bias: 1, Alpha: 0.1, Beta: 0.75})
		}
		if y.Err() != nil || g.Err() != nil {
			return
		}
		if y.Shape().Size() == 0 || !y.Shape().Known() {
			return
		}
		loss := graph.ReduceSum(y)
		gs, err := graph.Gradients(loss, x)
		if err != nil {
			return
		}
		targets := []*graph.Node{loss}
		if gs[0] != nil {
			targets = append(targets, gs[0])
		}
		feeds := map[*graph.Node]tensor.Shape{}
		for _, p := range g.Nodes() {
			if p.Op().Type() == "Placeholder" && p.Shape().Known() {
				feeds[p] = p.Shape()
			}
		}
		p, err := g.Compile(graph.Options{Training: true}, feeds, targets...)
		if err != nil {
			return
		}
		defer p.Close()
		if err := p.Run(); err != nil {
			t.Fatal(err)
		}
	})
}
