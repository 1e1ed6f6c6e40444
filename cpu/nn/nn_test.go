package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// TestSliceKernels compares every slice kernel with its definition on all
// lengths up to 70 (whole vectors, unrolled blocks and tails) and on offset
// slices.
func TestSliceKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	paths(func(path string) {
		for n := 0; n <= 70; n++ {
			for _, off := range []int{0, 1, 3} {
				a, b, c := randSlice(r, n+off)[off:], randSlice(r, n+off)[off:], randSlice(r, n+off)[off:]
				d := append([]float32(nil), a...)
				Add(d, b)
				for i := range d {
					if d[i] != a[i]+b[i] {
						t.Fatalf("%s: Add n=%d: d[%d] = %v, want %v", path, n, i, d[i], a[i]+b[i])
					}
				}
				d = append(d[:0], a...)
				AddRelu(d, b)
				for i := range d {
					if want := max(a[i]+b[i], 0); d[i] != want {
						t.Fatalf("%s: AddRelu n=%d: d[%d] = %v, want %v", path, n, i, d[i], want)
					}
				}
				d = append(d[:0], a...)
				MaxInto(d, b)
				for i := range d {
					if want := max(a[i], b[i]); d[i] != want {
						t.Fatalf("%s: MaxInto n=%d: d[%d] = %v, want %v", path, n, i, d[i], want)
					}
				}
				d = make([]float32, n)
				ReluGrad(d, b, c)
				for i := range d {
					want := float32(0)
					if c[i] > 0 {
						want = b[i]
					}
					if d[i] != want {
						t.Fatalf("%s: ReluGrad n=%d: d[%d] = %v, want %v", path, n, i, d[i], want)
					}
				}
				best := append([]float32(nil), a...)
				arg := make([]int32, n)
				for i := range arg {
					arg[i] = -1
				}
				argmax(best, arg, b, 1000)
				for i := range best {
					wb, wa := a[i], int32(-1)
					if b[i] > a[i] {
						wb, wa = b[i], 1000+int32(i)
					}
					if best[i] != wb || arg[i] != wa {
						t.Fatalf("%s: argmax n=%d: (%v, %d) at %d, want (%v, %d)", path, n, best[i], arg[i], i, wb, wa)
					}
				}
			}
		}
	})
}

// TestIm2colAdjoint checks <Im2col(x), c> = <x, Col2im(c)> on geometries with
// padding, strides and dilations.
func TestIm2colAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range []Conv{
		{N: 1, H: 5, W: 6, C: 3, KH: 3, KW: 3, OC: 1, SH: 1, SW: 1, DH: 1, DW: 1},
		{N: 1, H: 7, W: 5, C: 2, KH: 3, KW: 2, OC: 1, SH: 2, SW: 3, DH: 2, DW: 1},
		{N: 1, H: 4, W: 9, C: 4, KH: 2, KW: 3, OC: 1, SH: 1, SW: 2, DH: 1, DW: 3},
	} {
		for _, same := range []bool{false, true} {
			var err error
			if g.OH, g.PT, err = OutSize(g.H, g.KH, g.SH, g.DH, same); err != nil {
				t.Fatal(err)
			}
			if g.OW, g.PL, err = OutSize(g.W, g.KW, g.SW, g.DW, same); err != nil {
				t.Fatal(err)
			}
			x := randSlice(r, g.ImageSize())
			c := randSlice(r, g.Rows()*g.K())
			col := make([]float32, len(c))
			Im2col(&g, x, col)
			dx := make([]float32, len(x))
			Col2im(&g, c, dx)
			var lhs, rhs float64
			for i := range c {
				lhs += float64(col[i]) * float64(c[i])
			}
			for i := range x {
				rhs += float64(x[i]) * float64(dx[i])
			}
			if d := lhs - rhs; d > 1e-4 || d < -1e-4 {
				t.Fatalf("%+v: <im2col x, c> = %v, <x, col2im c> = %v", g, lhs, rhs)
			}
		}
	}
}

func TestOutSize(t *testing.T) {
	for _, c := range []struct {
		in, k, s, d int
		same        bool
		out, pad    int
		fails       bool
	}{
		{4, 3, 2, 1, true, 2, 0, false}, // pad_total 1, all after
		{4, 3, 1, 1, true, 4, 1, false},
		{5, 3, 2, 1, true, 3, 1, false},
		{24, 3, 2, 1, true, 12, 0, false},
		{7, 3, 1, 2, true, 7, 2, false},
		{4, 3, 1, 1, false, 2, 0, false},
		{7, 3, 2, 2, false, 2, 0, false},
		{4, 3, 1, 2, false, 0, 0, true}, // dilated window of 5 > 4
		{6, 2, 3, 1, true, 2, 0, false}, // stride > window: no padding needed
	} {
		out, pad, err := OutSize(c.in, c.k, c.s, c.d, c.same)
		if (err != nil) != c.fails || out != c.out || pad != c.pad {
			t.Errorf("OutSize(%d, %d, %d, %d, %v) = %d, %d, %v; want %d, %d, fails %v", c.in, c.k, c.s, c.d, c.same, out, pad, err, c.out, c.pad, c.fails)
		}
	}
}

// TestLRNPaths compares the LRN kernels, on every code path, with the definition
// (forward) and with the sliding-window form validated by the graph's gradient
// checks (backward).
func TestLRNPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	paths(func(path string) {
		for _, C := range []int{1, 3, 8, 13, 64} {
			for _, radius := range []int{0, 1, 4, 20} {
				for _, beta := range []float32{0.75, 0.6, 0.5} {
					l := LRN{Radius: radius, Bias: 1.5, Alpha: 0.3, Beta: beta}
					const rows = 3
					x, dy := randSlice(r, rows*C), randSlice(r, rows*C)
					for i := range x {
						x[i] *= 3
					}
					y, dx, dxs := make([]float32, rows*C), make([]float32, rows*C), make([]float32, rows*C)
					l.Forward(x, y, C, make([]float32, l.ScratchSize(C)))
					l.Backward(x, dy, dx, C, make([]float32, l.ScratchSize(C)))
					l.backwardSlide(x, dy, dxs, C, make([]float32, 2*C))
					for row := 0; row < rows; row++ {
						for c := 0; c < C; c++ {
							var s float64
							for k := max(0, c-radius); k <= min(C-1, c+radius); k++ {
								v := float64(x[row*C+k])
								s += v * v
							}
							want := float64(x[row*C+c]) / math.Pow(1.5+0.3*s, float64(beta))
							i := row*C + c
							if math.Abs(float64(y[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
								t.Fatalf("%s C=%d r=%d beta=%v: y[%d] = %v, want %v", path, C, radius, beta, i, y[i], want)
							}
							if math.Abs(float64(dx[i]-dxs[i])) > 1e-5*math.Max(1, math.Abs(float64(dxs[i]))) {
								t.Fatalf("%s C=%d r=%d beta=%v: dx[%d] = %v, sliding form %v", path, C, radius, beta, i, dx[i], dxs[i])
							}
						}
					}
				}
			}
		}
	})
}

// TestCopyRuns compares CopyRuns with copy, run by run, on run lengths around
// the 8-float blocks of its assembly and on strides wider and narrower than
// the runs; the floats between runs must stay untouched.
func TestCopyRuns(t *testing.T) {
	for run := 1; run <= 41; run++ {
		for _, n := range []int{1, 2, 5} {
			for _, ss := range []int{1, 3, run, run + 7} {
				ds := run + 5
				src := make([]float32, (n-1)*ss+run)
				for i := range src {
					src[i] = float32(i + 1)
				}
				got := make([]float32, (n-1)*ds+run+3)
				want := make([]float32, len(got))
				for i := range got {
					got[i], want[i] = -1, -1
				}
				for i := 0; i < n; i++ {
					copy(want[i*ds:][:run], src[i*ss:][:run])
				}
				CopyRuns(got, ds, src, ss, n, run)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("run %d, n %d, src stride %d: dst[%d] = %v, want %v", run, n, ss, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMaxPoolGradOverwritesDx: MaxPoolGrad writes every element of dx, also
// the rows no window reaches (a stride longer than the window, a VALID
// remainder), whatever dx held before.
func TestMaxPoolGradOverwritesDx(t *testing.T) {
	for _, g := range []Conv{
		{N: 1, H: 9, W: 7, C: 9, KH: 2, KW: 2, OC: 9, SH: 3, SW: 3, DH: 1, DW: 1, OH: 3, OW: 2},
		{N: 1, H: 9, W: 9, C: 16, KH: 3, KW: 3, OC: 16, SH: 2, SW: 2, DH: 1, DW: 1, OH: 4, OW: 4},
		{N: 1, H: 6, W: 6, C: 8, KH: 3, KW: 3, OC: 8, SH: 2, SW: 2, DH: 1, DW: 1, PT: 0, PL: 0, OH: 3, OW: 3},
	} {
		x := make([]float32, g.ImageSize())
		dy := make([]float32, g.OutImageSize())
		for i := range x {
			x[i] = float32((i*7919)%23) - 11
		}
		for i := range dy {
			dy[i] = float32(i%5) + 1
		}
		nf, ni := MaxPoolGradScratch(&g)
		want, got := make([]float32, len(x)), make([]float32, len(x))
		for i := range got {
			got[i] = float32(math.NaN())
		}
		MaxPoolGrad(&g, x, dy, want, make([]float32, nf), make([]int32, ni), false)
		MaxPoolGrad(&g, x, dy, got, make([]float32, nf), make([]int32, ni), false)
		var sum, sumDy float32
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%+v: dx[%d] = %v after garbage, %v after zeros", g, i, got[i], want[i])
			}
			sum += got[i]
		}
		for _, v := range dy {
			sumDy += v
		}
		if sum != sumDy {
			t.Fatalf("%+v: dx sums to %v, dy to %v: every dy goes to exactly one element", g, sum, sumDy)
		}
	}
}

// MaxPoolArg pools as MaxPool does, and MaxPoolGradArg, from its pooled output
// and offsets alone, gives MaxPoolGrad's gradient bit for bit, with and
// without the ReLU, over strides, paddings (the windows the border cuts),
// dilation, channel counts below, at and above the vector width, tied windows
// (small integers) and a dx full of garbage before.
func TestMaxPoolArgMatchesMaxPoolGrad(t *testing.T) {
	for _, g := range []Conv{
		{N: 1, H: 24, W: 24, C: 16, KH: 3, KW: 3, OC: 16, SH: 2, SW: 2, DH: 1, DW: 1, PT: 0, PL: 0, OH: 12, OW: 12},
		{N: 1, H: 9, W: 9, C: 12, KH: 3, KW: 3, OC: 12, SH: 2, SW: 2, DH: 1, DW: 1, PT: 1, PL: 1, OH: 5, OW: 5},
		{N: 1, H: 9, W: 7, C: 9, KH: 2, KW: 2, OC: 9, SH: 3, SW: 3, DH: 1, DW: 1, OH: 3, OW: 2},
		{N: 1, H: 10, W: 11, C: 3, KH: 3, KW: 2, OC: 3, SH: 1, SW: 2, DH: 2, DW: 1, PT: 1, PL: 0, OH: 10, OW: 6},
		{N: 1, H: 8, W: 8, C: 24, KH: 3, KW: 3, OC: 24, SH: 2, SW: 2, DH: 1, DW: 1, PT: 1, PL: 1, OH: 4, OW: 4},
	} {
		for _, relu := range []bool{false, true} {
			x := make([]float32, g.ImageSize())
			dy := make([]float32, g.OutImageSize())
			for i := range x {
				x[i] = float32((i*7919)%13) - 6 // ties and non-positive windows
			}
			for i := range dy {
				dy[i] = float32(i%7) - 3
			}
			want, wantDx := make([]float32, len(dy)), make([]float32, len(x))
			MaxPool(&g, x, want)
			nf, ni := MaxPoolGradScratch(&g)
			MaxPoolGrad(&g, x, dy, wantDx, make([]float32, nf), make([]int32, ni), relu)

			y, arg := make([]float32, len(dy)), make([]int32, len(dy))
			MaxPoolArg(&g, x, y, arg)
			for i := range y {
				if y[i] != want[i] {
					t.Fatalf("%+v: y[%d] = %v, MaxPool %v", g, i, y[i], want[i])
				}
			}
			dx := make([]float32, len(x))
			for i := range dx {
				dx[i] = float32(math.NaN())
			}
			MaxPoolGradArg(&g, y, dy, arg, dx, make([]float32, g.C), relu)
			for i := range dx {
				if dx[i] != wantDx[i] {
					t.Fatalf("%+v relu %v: dx[%d] = %v, MaxPoolGrad %v", g, relu, i, dx[i], wantDx[i])
				}
			}
		}
	}
}
