package main

import (
	"math"
)

// downscale shrinks an h×w image r times by averaging r×r blocks (the
// low-resolution input, as a box filter).
func downscale(img []float32, h, w, r int) []float32 {
	out := make([]float32, (h/r)*(w/r))
	for y := range h / r {
		for x := range w / r {
			s := float32(0)
			for dy := range r {
				for dx := range r {
					s += img[(y*r+dy)*w+x*r+dx]
				}
			}
			out[y*(w/r)+x] = s / float32(r*r)
		}
	}
	return out
}

// cubic is Keys' cubic convolution kernel with a = -0.5 (bicubic resizing).
func cubic(t float64) float64 {
	t = math.Abs(t)
	switch {
	case t <= 1:
		return (1.5*t-2.5)*t*t + 1
	case t < 2:
		return ((-0.5*t+2.5)*t-4)*t + 2
	}
	return 0
}

// bicubic enlarges an h×w image r times with half-pixel centres and edge
// pixels repeated (TensorFlow 2's and PIL's bicubic).
func bicubic(img []float32, h, w, r int) []float32 {
	H, W := h*r, w*r
	out := make([]float32, H*W)
	at := func(y, x int) float64 {
		return float64(img[min(max(y, 0), h-1)*w+min(max(x, 0), w-1)])
	}
	for Y := range H {
		sy := (float64(Y)+0.5)/float64(r) - 0.5
		y0 := int(math.Floor(sy))
		for X := range W {
			sx := (float64(X)+0.5)/float64(r) - 0.5
			x0 := int(math.Floor(sx))
			v := 0.0
			for j := -1; j <= 2; j++ {
				wy := cubic(sy - float64(y0+j))
				for i := -1; i <= 2; i++ {
					v += wy * cubic(sx-float64(x0+i)) * at(y0+j, x0+i)
				}
			}
			out[Y*W+X] = float32(v)
		}
	}
	return out
}

// psnr is the peak signal-to-noise ratio in dB of two images in [0, 1]
// (values are clipped to it first, as a saved image would be); +Inf when equal.
func psnr(a, b []float32) float64 {
	mse := 0.0
	for i := range a {
		d := clip01(a[i]) - clip01(b[i])
		mse += d * d
	}
	mse /= float64(len(a))
	return 10 * math.Log10(1/mse)
}

func clip01(v float32) float64 { return math.Min(math.Max(float64(v), 0), 1) }

// ssim is the mean structural similarity (Wang et al. 2004) of two h×w
// images in [0, 1]: an 11×11 Gaussian window (σ 1.5) over the valid
// positions, C1 = 0.01², C2 = 0.03².
func ssim(a, b []float32, h, w int) float64 {
	const k, sigma, c1, c2 = 11, 1.5, 0.01 * 0.01, 0.03 * 0.03
	var g [k * k]float64
	sum := 0.0
	for y := range k {
		for x := range k {
			dy, dx := float64(y-k/2), float64(x-k/2)
			g[y*k+x] = math.Exp(-(dy*dy + dx*dx) / (2 * sigma * sigma))
			sum += g[y*k+x]
		}
	}
	total, count := 0.0, 0
	for y0 := 0; y0+k <= h; y0++ {
		for x0 := 0; x0+k <= w; x0++ {
			var ma, mb, saa, sbb, sab float64
			for y := range k {
				for x := range k {
					wt := g[y*k+x] / sum
					va, vb := clip01(a[(y0+y)*w+x0+x]), clip01(b[(y0+y)*w+x0+x])
					ma += wt * va
					mb += wt * vb
					saa += wt * va * va
					sbb += wt * vb * vb
					sab += wt * va * vb
				}
			}
			va, vb, cov := saa-ma*ma, sbb-mb*mb, sab-ma*mb
			total += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			count++
		}
	}
	return total / float64(count)
}
