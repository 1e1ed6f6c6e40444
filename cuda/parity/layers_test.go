package parity

import (
	"math"
	"slices"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// Parity of layers/ops.go: ResizeBilinear and ResizeBilinearGrad (through the
// DownSampling2D and UpSampling2D layers), SequenceMask, GaussianNoise (random:
// checked statistically) and BatchZeros (the zero state of the LSTM layer, in
// lstm_test.go, and below).

func resize(up bool, sh, sw int) func(g *graph.Graph, in []*graph.Node) *graph.Node {
	return func(g *graph.Graph, in []*graph.Node) *graph.Node {
		x := layers.InputNode("x", in[0])
		if up {
			return layers.UpSampling2D(x, "up", sh, sw, layers.Bilinear).Output()
		}
		return layers.DownSampling2D(x, "down", sh, sw, layers.Bilinear).Output()
	}
}

func TestLayersResizeBilinear(t *testing.T) {
	Run(t,
		Case{Name: "Up2", In: []In{{Shape: []int{2, 5, 7, 3}}}, Build: resize(true, 2, 2)},
		// Unequal factors, one channel, rows and columns clamped at both edges.
		Case{Name: "Up3x1", In: []In{{Shape: []int{3, 4, 9, 1}}}, Build: resize(true, 3, 1)},
		Case{Name: "Up4Wide", In: []In{{Shape: []int{1, 6, 5, 70}}}, Build: resize(true, 4, 4)},
		Case{Name: "Down2", In: []In{{Shape: []int{2, 10, 14, 3}}}, Build: resize(false, 2, 2)},
		Case{Name: "Down3x2", In: []In{{Shape: []int{3, 9, 8, 5}}}, Build: resize(false, 3, 2)},
		Case{Name: "Down5", In: []In{{Shape: []int{1, 25, 35, 33}}}, Build: resize(false, 5, 5)},
	)
}

func TestLayersSequenceMask(t *testing.T) {
	mask := func(steps int) func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return func(g *graph.Graph, in []*graph.Node) *graph.Node {
			return layers.SequenceMask(layers.InputNode("len", in[0]), "mask", steps).Output()
		}
	}
	Run(t,
		Case{Name: "Short", NoGrad: true, In: []In{{Shape: []int{5}, Int: 8}}, Build: mask(6)},
		Case{Name: "Long", NoGrad: true, In: []In{{Shape: []int{37}, Int: 400}}, Build: mask(333)},
	)
}

// The LSTM layer's zero state is BatchZeros, here with a second layer on the
// first one's output.
func TestLayersBatchZeros(t *testing.T) {
	Run(t, Case{Name: "TwoLSTMs", In: []In{{Shape: []int{3, 4, 7}}}, Tol: lstmTol,
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			h := layers.LSTM(layers.InputNode("x", in[0]), "l1", 9)
			return layers.LSTM(h, "l2", 5).Output()
		}})
}

// GaussianNoise adds N(0, σ²) in training: the noise (the layer's output less
// its input) must have mean 0 and deviation σ, change at every run, and be zero
// in inference.
func TestLayersGaussianNoise(t *testing.T) {
	const n, sigma = 40000, 0.5
	noise := func(g *graph.Graph, in []*graph.Node) *graph.Node {
		x := layers.InputNode("x", in[0])
		return graph.Sub(layers.GaussianNoise(x, "noise", sigma).Output(), in[0])
	}
	var prev []float32
	train := func(t *testing.T, _, dev []*tensor.Tensor) {
		d := dev[0].Float32s()
		var sum, sq float64
		for _, v := range d {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		if math.Abs(mean) > 5*sigma/math.Sqrt(n) {
			t.Errorf("noise mean %.4f, want 0 ± %.4f", mean, 5*sigma/math.Sqrt(n))
		}
		if math.Abs(sd-sigma) > 0.02*sigma {
			t.Errorf("noise deviation %.4f, want %.4f ± 2%%", sd, sigma)
		}
		if prev != nil && slices.Equal(prev, d) {
			t.Errorf("two runs drew the same noise")
		}
		prev = slices.Clone(d)
	}
	infer := func(t *testing.T, _, dev []*tensor.Tensor) {
		for i, v := range dev[0].Float32s() {
			if v != 0 {
				t.Fatalf("inference noise element %d = %g, want 0", i, v)
			}
		}
	}
	Run(t,
		Case{Name: "Training", Training: true, NoGrad: true, In: []In{{Shape: []int{40, n / 40}}}, Build: noise, Check: train},
		Case{Name: "Inference", NoGrad: true, In: []In{{Shape: []int{3, 77}}}, Build: noise, Check: infer},
	)
}
