package tensor_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/tensor"
)

func TestViewsShareStorage(t *testing.T) {
	x := tensor.New(tensor.Float32, 4, 3)
	for i := range x.Float32s() {
		x.Float32s()[i] = float32(i)
	}
	r, err := x.Reshape(2, -1)
	if err != nil || !r.Shape().Equal(tensor.Shape{2, 6}) {
		t.Fatalf("Reshape(2, -1) = %v, %v", r.Shape(), err)
	}
	s, err := x.Slice(1, 3)
	if err != nil || !s.Shape().Equal(tensor.Shape{2, 3}) || s.At(0, 0) != 3 {
		t.Fatalf("Slice(1, 3) = %v, %v", s, err)
	}
	s.Float32s()[0] = 42
	if x.At(1, 0) != 42 || r.At(0, 3) != 42 {
		t.Fatal("a view's write is not seen through the tensor and its other views")
	}
	c := x.Clone()
	c.Float32s()[0] = -1
	if x.At(0, 0) == -1 {
		t.Fatal("Clone shares storage")
	}
}

func TestShapeErrors(t *testing.T) {
	x := tensor.New(tensor.Float32, 4, 3)
	for _, shape := range [][]int{{5, -1}, {2, 2}, {-1, -1}, {-2, 6}} {
		_, err := x.Reshape(shape...)
		var se *tensor.ShapeError
		if !errors.As(err, &se) || se.Op != "Reshape" || !strings.Contains(err.Error(), "(4, 3)") && !strings.Contains(err.Error(), "12") {
			t.Errorf("Reshape%v of (4, 3): %v", shape, err)
		}
	}
	if _, err := x.Slice(2, 5); err == nil {
		t.Error("Slice(2, 5) of 4 rows: want an error")
	}
	if _, err := tensor.FromFloat32(make([]float32, 5), 2, 3); err == nil {
		t.Error("FromFloat32 of 5 values as (2, 3): want an error")
	}
	if err := x.CopyFrom(tensor.New(tensor.Int32, 4, 3)); err == nil {
		t.Error("CopyFrom an int32 tensor into a float32 one: want an error")
	}
	if got := (tensor.Shape{-1, 3}).String(); got != "(?, 3)" {
		t.Errorf("Shape{-1, 3}.String() = %q", got)
	}
}

func TestInitializersAreSeededAndScaled(t *testing.T) {
	draw := func(init tensor.Initializer, seed uint64, shape ...int) []float32 {
		x := tensor.New(tensor.Float32, shape...)
		init.Init(x, tensor.NewRand(seed))
		return x.Float32s()
	}
	a, b, c := draw(tensor.HeNormal(), 1, 100, 50), draw(tensor.HeNormal(), 1, 100, 50), draw(tensor.HeNormal(), 2, 100, 50)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same || !differ {
		t.Fatal("the same seed must give the same values, another seed others")
	}
	stats := func(v []float32) (mean, std, maxAbs float64) {
		for _, x := range v {
			mean += float64(x)
			maxAbs = math.Max(maxAbs, math.Abs(float64(x)))
		}
		mean /= float64(len(v))
		for _, x := range v {
			std += (float64(x) - mean) * (float64(x) - mean)
		}
		return mean, math.Sqrt(std / float64(len(v))), maxAbs
	}
	// Glorot uniform on (200, 300): limit sqrt(6/500); He normal (truncated at 2σ)
	// on a 5×5×16×32 filter: σ = sqrt(2/400) before truncation.
	if _, _, m := stats(draw(tensor.GlorotUniform(), 3, 200, 300)); m > math.Sqrt(6.0/500) {
		t.Errorf("glorot_uniform drew %v beyond its limit %v", m, math.Sqrt(6.0/500))
	}
	mean, std, m := stats(draw(tensor.HeNormal(), 4, 5, 5, 16, 32))
	sigma := math.Sqrt(2.0 / 400)
	if math.Abs(mean) > 0.05*sigma*10 || std < 0.8*sigma || std > sigma || m > 2*sigma+1e-6 {
		t.Errorf("he_normal: mean %v, std %v, max |x| %v; want ≈0, within (0.8σ, σ], ≤ 2σ with σ = %v", mean, std, m, sigma)
	}
	if v := draw(tensor.Constant(0.5), 1, 3); v[0] != 0.5 || v[2] != 0.5 {
		t.Errorf("constant(0.5) = %v", v)
	}
	fi, fo := tensor.Fans(tensor.Shape{5, 5, 16, 32})
	if fi != 400 || fo != 800 {
		t.Errorf("Fans of a 5×5×16×32 filter = %d, %d; want 400, 800", fi, fo)
	}
}
