package vmath

import (
	"math"
	"testing"
)

func TestExpSumMatchesMathExp(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1003} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7)*60 - 20) // from -80 to 40
		}
		for _, shift := range []float32{0, 3.5, -10} {
			d := make([]float32, n)
			got := ExpSum(d, x, shift)
			var want float64
			for i, v := range x {
				e := math.Exp(float64(v - shift))
				want += e
				if r := math.Abs(float64(d[i])-e) / e; r > 3e-7 && math.Abs(float64(d[i])-e) > 1e-37 {
					t.Fatalf("n %d shift %v: exp(%v) = %v, want %v (rel %.2g)", n, shift, v-shift, d[i], e, r)
				}
			}
			if math.Abs(float64(got)-want) > 1e-5*want+1e-30 {
				t.Fatalf("n %d: sum %v, want %v", n, got, want)
			}
			if only := ExpSum(nil, x, shift); only != got {
				t.Fatalf("n %d: sum without dst %v, with %v", n, only, got)
			}
		}
	}
	// In place, and the extremes.
	x := []float32{-1000, -88, 0, 1, 88, 50, -50, 2, 0.5, 1000}
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = math.Exp(math.Min(float64(v), 88)) // saturates at e^88
	}
	ExpSum(x, x, 0)
	for i, v := range x {
		if math.Abs(float64(v)-want[i]) > 3e-7*want[i]+1e-37 {
			t.Errorf("exp in place: element %d = %v, want %v", i, v, want[i])
		}
	}
}

func BenchmarkExpSum(b *testing.B) {
	x := make([]float32, 10000)
	for i := range x {
		x[i] = -float32(i%100) / 10
	}
	d := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		ExpSum(d, x, 0)
	}
}

func TestMaxAndScale(t *testing.T) { checkMaxAndScale(t) }

func checkMaxAndScale(t *testing.T) {
	for _, n := range []int{0, 1, 5, 8, 13, 64, 99} {
		x := make([]float32, n)
		want := float32(math.Inf(-1))
		for i := range x {
			x[i] = float32(math.Cos(float64(i)*2.3) * float64(i))
			want = max(want, x[i])
		}
		if got := Max(x); got != want {
			t.Errorf("n %d: Max = %v, want %v", n, got, want)
		}
		y := append([]float32(nil), x...)
		Scale(y, -0.5)
		for i := range y {
			if y[i] != x[i]*-0.5 {
				t.Fatalf("n %d: Scale element %d = %v, want %v", n, i, y[i], x[i]*-0.5)
			}
		}
	}
}

// The portable loops (used without AVX2, and for tails) agree with the vector ones.
func TestPortableMatchesVector(t *testing.T) {
	x := make([]float32, 203)
	for i := range x {
		x[i] = float32(math.Sin(float64(i))*30 - 5)
	}
	d1, d2 := make([]float32, len(x)), make([]float32, len(x))
	s1, s2 := ExpSum(d1, x, 2), expSumGo(d2, x, 2)
	if math.Abs(float64(s1-s2)) > 1e-5*float64(s2) {
		t.Fatalf("sums %v and %v", s1, s2)
	}
	for i := range d1 {
		if math.Abs(float64(d1[i]-d2[i])) > 2e-7*float64(d2[i])+1e-37 {
			t.Fatalf("element %d: %v and %v", i, d1[i], d2[i])
		}
	}
	if Max(x) != maxGo(x) {
		t.Fatalf("Max %v, maxGo %v", Max(x), maxGo(x))
	}
	if !math.IsInf(float64(Max(nil)), -1) {
		t.Fatalf("Max(nil) = %v", Max(nil))
	}
}

// Axpy, ScaleTo and Dot against float64 loops, on lengths around the vector
// width (the tails run in Go); elements past len(d) stay untouched.
func TestAxpyScaleToDot(t *testing.T) { checkAxpyScaleToDot(t) }

func checkAxpyScaleToDot(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 128, 203} {
		x, y := make([]float32, n+3), make([]float32, n+3)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7) * 3)
			y[i] = float32(math.Cos(float64(i)*0.9) - 0.25)
		}
		const a = -1.37
		d := append([]float32(nil), y...)
		Axpy(d[:n], x, a)
		s := append([]float32(nil), y...)
		ScaleTo(s[:n], x, a)
		var want float64
		for i := range x {
			if i < n {
				want += float64(x[i]) * float64(y[i])
				if w := float64(y[i]) + a*float64(x[i]); math.Abs(float64(d[i])-w) > 1e-6*math.Max(1, math.Abs(w)) {
					t.Fatalf("n %d: Axpy element %d = %v, want %v", n, i, d[i], w)
				}
				if w := float32(a) * x[i]; s[i] != w {
					t.Fatalf("n %d: ScaleTo element %d = %v, want %v", n, i, s[i], w)
				}
				continue
			}
			if d[i] != y[i] || s[i] != y[i] {
				t.Fatalf("n %d: element %d past the end changed: %v, %v, want %v", n, i, d[i], s[i], y[i])
			}
		}
		if got := Dot(x[:n], y); math.Abs(float64(got)-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("n %d: Dot = %v, want %v", n, got, want)
		}
	}
}

// SigmoidSoftplus against float64 σ and softplus, on lengths across the
// vector width and the 512-element blocks, with both signs, zero and large |z|.
func TestSigmoidSoftplus(t *testing.T) { checkSigmoidSoftplus(t) }

func checkSigmoidSoftplus(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 13, 64, 511, 512, 520, 1100} {
		z := make([]float32, n)
		for i := range z {
			z[i] = float32(math.Sin(float64(i)*0.77) * 12)
		}
		if n > 3 {
			z[1], z[2], z[3] = 0, 40, -40
		}
		e := make([]float32, n)
		for i, v := range z {
			e[i] = -float32(math.Abs(float64(v)))
		}
		ExpSum(e, e, 0)
		var want float64
		wantSg := make([]float64, n)
		for i, v := range z {
			zf := float64(v)
			want += math.Max(zf, 0) + math.Log1p(math.Exp(-math.Abs(zf)))
			wantSg[i] = 1 / (1 + math.Exp(-zf))
		}
		zGo := append([]float32(nil), z...)
		if g := sigmoidSoftplusGo(zGo, e); math.Abs(g-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("n %d: portable Σ softplus = %v, want %v", n, g, want)
		}
		got := SigmoidSoftplus(z, e)
		for i := range z {
			if math.Abs(float64(z[i]-zGo[i])) > 1e-7 {
				t.Fatalf("n %d: σ element %d = %v, portable %v", n, i, z[i], zGo[i])
			}
		}
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Fatalf("n %d: Σ softplus = %v, want %v", n, got, want)
		}
		for i, v := range z {
			if math.Abs(float64(v)-wantSg[i]) > 3e-7 {
				t.Fatalf("n %d: σ element %d = %v, want %v", n, i, v, wantSg[i])
			}
		}
	}
}
