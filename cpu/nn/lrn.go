package nn

import "math"

// LRN is local response normalisation across channels with TensorFlow's
// semantics: for each element of a row of C channels,
//
//	sqr_sum[c] = Σ x[k]²,  k in [c-Radius, c+Radius] ∩ [0, C)
//	y[c]       = x[c] / (Bias + Alpha·sqr_sum[c])^Beta
type LRN struct {
	Radius            int
	Bias, Alpha, Beta float32
}

// pow returns n^-Beta, with the common exponents done without exp and log.
func (l *LRN) pow(n float32) float32 {
	switch l.Beta {
	case 0.75:
		r := 1 / float32(math.Sqrt(float64(n)))
		return r * float32(math.Sqrt(float64(r)))
	case 0.5:
		return 1 / float32(math.Sqrt(float64(n)))
	case 1:
		return 1 / n
	case 0:
		return 1
	}
	return float32(math.Exp(-float64(l.Beta) * math.Log(float64(n))))
}

// norms writes n[c] = Bias + Alpha·sqr_sum[c] for one row, with a window sum slid
// along the channels. The squares of float32 values are exact in float64 and the
// window is short, so adding and removing them does not drift.
func (l *LRN) norms(x, n []float32) {
	C, r := len(x), l.Radius
	n = n[:C]
	var s float64
	for k := 0; k < min(r, C); k++ {
		s += float64(x[k]) * float64(x[k])
	}
	bias, alpha := float64(l.Bias), float64(l.Alpha)
	for c := range n {
		if k := c + r; k < C {
			s += float64(x[k]) * float64(x[k])
		}
		if k := c - r - 1; k >= 0 {
			s -= float64(x[k]) * float64(x[k])
		}
		n[c] = float32(bias + alpha*s)
	}
}

// maxWindowAdds is the widest window summed as shifted vector adds; wider ones
// slide a running sum along the channels instead.
const maxWindowAdds = 33

func (l *LRN) vector() bool { return 2*l.Radius+1 <= maxWindowAdds }

// ScratchSize is the scratch Forward and Backward need for rows of C channels.
func (l *LRN) ScratchSize(C int) int {
	if !l.vector() {
		return 2 * C
	}
	return 5*C + 4*l.Radius
}

// window sets s[c] = Σ pad[c : c+2r+1]: the window sums of a row stored with r
// zeros on each side.
func (l *LRN) window(s, pad []float32) {
	C := len(s)
	copy(s, pad[:C])
	for k := 1; k <= 2*l.Radius; k++ {
		Add(s, pad[k:k+C])
	}
}

// Forward normalises rows of C channels: x and y hold whole rows (len a multiple
// of C); y may be x. scratch needs ScratchSize(C) elements.
func (l *LRN) Forward(x, y []float32, C int, scratch []float32) {
	if !l.vector() {
		l.forwardSlide(x, y, C, scratch)
		return
	}
	r := l.Radius
	pad, s := scratch[:C+2*r], scratch[C+2*r:][:C]
	clear(pad)
	fast := l.Beta == 0.75 && hasAVX2 && C >= 8
	for o := 0; o+C <= len(x); o += C {
		xr, yr := x[o:o+C:o+C], y[o:o+C:o+C]
		Mul(pad[r:r+C], xr, xr)
		l.window(s, pad)
		c := 0
		if fast {
			c = C &^ 7
			lrnFwd075AVX2(&yr[0], &xr[0], &s[0], c, l.Bias, l.Alpha)
		}
		for ; c < C; c++ {
			yr[c] = xr[c] * l.pow(l.Bias+l.Alpha*s[c])
		}
	}
}

// Backward writes dx for rows of C channels given x and dy, with TensorFlow's
// LRNGrad formula:
//
//	dx[j] = dy[j]·n[j]^-β - 2αβ·x[j]·Σ_{i: j in window(i)} dy[i]·x[i]·n[i]^(-β-1)
//
// where n = Bias + Alpha·sqr_sum. The window is symmetric, so the sum runs over
// the window of j. scratch needs ScratchSize(C) elements.
func (l *LRN) Backward(x, dy, dx []float32, C int, scratch []float32) {
	if !l.vector() {
		l.backwardSlide(x, dy, dx, C, scratch)
		return
	}
	r := l.Radius
	w := C + 2*r
	pad, tpad := scratch[:w], scratch[w:2*w]
	s, p, ts := scratch[2*w:][:C], scratch[2*w+C:][:C], scratch[2*w+2*C:][:C]
	clear(pad)
	clear(tpad)
	t := tpad[r : r+C]
	k2 := -2 * l.Alpha * l.Beta
	fast := l.Beta == 0.75 && hasAVX2 && C >= 8
	for o := 0; o+C <= len(x); o += C {
		xr, dr, gr := x[o:o+C:o+C], dy[o:o+C:o+C], dx[o:o+C:o+C]
		Mul(pad[r:r+C], xr, xr)
		l.window(s, pad)
		c := 0
		if fast {
			c = C &^ 7
			lrnBwdT075AVX2(&p[0], &t[0], &xr[0], &dr[0], &s[0], c, l.Bias, l.Alpha)
		}
		for ; c < C; c++ {
			n := l.Bias + l.Alpha*s[c]
			p[c] = l.pow(n)
			t[c] = dr[c] * xr[c] * p[c] / n
		}
		l.window(ts, tpad)
		c = 0
		if hasAVX2 && C >= 8 {
			c = C &^ 7
			lrnBwdOutAVX2(&gr[0], &dr[0], &p[0], &xr[0], &ts[0], c, k2)
		}
		for ; c < C; c++ {
			gr[c] = dr[c]*p[c] + k2*xr[c]*ts[c]
		}
	}
}

// forwardSlide is Forward for wide windows: a running window sum.
func (l *LRN) forwardSlide(x, y []float32, C int, scratch []float32) {
	n := scratch[:C]
	for o := 0; o+C <= len(x); o += C {
		xr, yr := x[o:o+C:o+C], y[o:o+C:o+C]
		l.norms(xr, n)
		for c, v := range xr {
			yr[c] = v * l.pow(n[c])
		}
	}
}

// backwardSlide is Backward for wide windows.
func (l *LRN) backwardSlide(x, dy, dx []float32, C int, scratch []float32) {
	n, t := scratch[:C], scratch[C:2*C]
	r := l.Radius
	k2 := -2 * float64(l.Alpha) * float64(l.Beta)
	for o := 0; o+C <= len(x); o += C {
		xr, dr, gr := x[o:o+C:o+C], dy[o:o+C:o+C], dx[o:o+C:o+C]
		l.norms(xr, n)
		for c, v := range xr {
			p := l.pow(n[c])
			t[c] = dr[c] * v * p / n[c]
			n[c] = p // n now holds n^-β
		}
		var s float64
		for k := 0; k < min(r, C); k++ {
			s += float64(t[k])
		}
		for c := range gr {
			if k := c + r; k < C {
				s += float64(t[k])
			}
			if k := c - r - 1; k >= 0 {
				s -= float64(t[k])
			}
			gr[c] = dr[c]*n[c] + float32(k2*float64(xr[c])*s)
		}
	}
}
