package nn

// window returns the valid kernel rows [k0, k1) of output position o along one
// axis: those whose input index o·stride - pad + k·dilation lies in [0, in).
func window(o, stride, pad, dil, k, in int) (k0, k1, i0 int) {
	i0 = o*stride - pad
	k0 = 0
	if i0 < 0 {
		k0 = (-i0 + dil - 1) / dil
	}
	k1 = k
	if last := i0 + (k-1)*dil; last >= in {
		k1 = k - (last-in+dil)/dil
	}
	return min(k0, k1), k1, i0
}

// MaxPool writes the max pooling of one image x (H·W·C) into y (OH·OW·C).
// Padding is ignored: each output is the maximum of the window's elements that
// lie inside the image, as in TensorFlow.
func MaxPool(g *Conv, x, y []float32) {
	C := g.C
	lo, hi := g.insideCols()
	for oh := 0; oh < g.OH; oh++ {
		h0, h1, ih0 := window(oh, g.SH, g.PT, g.DH, g.KH, g.H)
		if hi > lo && h0 < h1 {
			yr := y[(oh*g.OW+lo)*C:]
			first := true
			for kh := h0; kh < h1; kh++ {
				row := (ih0 + kh*g.DH) * g.W
				for kw := 0; kw < g.KW; kw++ {
					src := x[(row+lo*g.SW-g.PL+kw*g.DW)*C:]
					if first {
						CopyRuns(yr, C, src, g.SW*C, hi-lo, C)
						first = false
						continue
					}
					maxRows(yr, C, src, g.SW*C, hi-lo, C)
				}
			}
		}
		for ow := 0; ow < g.OW; ow++ {
			if ow >= lo && ow < hi && h0 < h1 {
				continue // done above
			}
			maxPoolPixel(g, x, y, oh, ow, h0, h1, ih0)
		}
	}
}

// maxPoolPixel is MaxPool at one output pixel, tap by tap.
func maxPoolPixel(g *Conv, x, y []float32, oh, ow, h0, h1, ih0 int) {
	C := g.C
	w0, w1, iw0 := window(ow, g.SW, g.PL, g.DW, g.KW, g.W)
	yr := y[(oh*g.OW+ow)*C:][:C]
	first := true
	for kh := h0; kh < h1; kh++ {
		ih := ih0 + kh*g.DH
		for kw := w0; kw < w1; kw++ {
			iw := iw0 + kw*g.DW
			xr := x[(ih*g.W+iw)*C:][:C]
			if first {
				copy(yr, xr)
				first = false
				continue
			}
			MaxInto(yr, xr)
		}
	}
	if first { // an empty window (impossible with SAME or VALID)
		clear(yr)
	}
}

// MaxPoolArg is MaxPool that also records, for each output (OH·OW·C), the
// offset in x of the element it took: the first in row-major window order
// that holds the window's maximum, as MaxPoolGrad chooses. MaxPoolGradArg
// then routes a gradient without x.
func MaxPoolArg(g *Conv, x, y []float32, arg []int32) {
	C := g.C
	lo, hi := g.insideCols()
	for oh := 0; oh < g.OH; oh++ {
		h0, h1, ih0 := window(oh, g.SH, g.PT, g.DH, g.KH, g.H)
		if hi > lo && h0 < h1 {
			n := hi - lo
			argmaxRun(g, x, y[(oh*g.OW+lo)*C:][:n*C], arg[(oh*g.OW+lo)*C:][:n*C], lo, n, h0, h1, ih0)
		}
		for ow := 0; ow < g.OW; ow++ {
			if ow >= lo && ow < hi && h0 < h1 {
				continue // done above
			}
			best, a := y[(oh*g.OW+ow)*C:][:C], arg[(oh*g.OW+ow)*C:][:C]
			if !argmaxPixel(g, x, best, a, ow, h0, h1, ih0) {
				// An empty window (impossible with SAME or VALID).
				clear(best)
				for c := range a {
					a[c] = -1
				}
			}
		}
	}
}

// argmaxRun sets best and args (n·C each) to the maximum and its offset in x
// of the windows of output row (its valid kernel rows h0..h1 from input row
// ih0) at the n output columns from lo, all inside the image: tap by tap over
// runs of columns, the first maximum in window order kept.
func argmaxRun(g *Conv, x, best []float32, args []int32, lo, n, h0, h1, ih0 int) {
	C := g.C
	step := g.SW * C
	first := true
	for kh := h0; kh < h1; kh++ {
		row := (ih0 + kh*g.DH) * g.W
		for kw := 0; kw < g.KW; kw++ {
			off := (row + lo*g.SW - g.PL + kw*g.DW) * C
			if first {
				CopyRuns(best, C, x[off:], step, n, C)
				for r := 0; r < n; r++ {
					a := args[r*C:][:C]
					for c := range a {
						a[c] = int32(off + r*step + c)
					}
				}
				first = false
				continue
			}
			argmaxRows(best, args, C, x[off:], step, n, C, int32(off), int32(step))
		}
	}
}

// argmaxPixel sets best and arg (C each) to the maximum and its offset in x
// of the window of output pixel (the row's valid kernel rows h0..h1 from
// input row ih0, column ow), tap by tap. It reports false for a window with
// no element inside the image.
func argmaxPixel(g *Conv, x, best []float32, arg []int32, ow, h0, h1, ih0 int) bool {
	C := g.C
	w0, w1, iw0 := window(ow, g.SW, g.PL, g.DW, g.KW, g.W)
	first := true
	for kh := h0; kh < h1; kh++ {
		ih := ih0 + kh*g.DH
		for kw := w0; kw < w1; kw++ {
			off := (ih*g.W + iw0 + kw*g.DW) * C
			if first {
				copy(best, x[off:][:C])
				for c := range arg {
					arg[c] = int32(off + c)
				}
				first = false
				continue
			}
			argmax(best, arg, x[off:][:C], int32(off))
		}
	}
	return !first
}

// MaxPoolGradArg is MaxPoolGrad from the pooled output y and the offsets
// MaxPoolArg recorded, without x: dx (H·W·C) is cleared and each dy added at
// its offset; with relu, outputs that are not positive pass nothing. t is a
// scratch of C floats.
func MaxPoolGradArg(g *Conv, y, dy []float32, arg []int32, dx, t []float32, relu bool) {
	C := g.C
	clear(dx[:g.ImageSize()])
	for o := 0; o < g.OH*g.OW; o++ {
		dr, a := dy[o*C:][:C], arg[o*C:][:C]
		if relu {
			ReluGrad(t[:C], dr, y[o*C:][:C])
			dr = t[:C]
		}
		for c, off := range a {
			if off >= 0 {
				dx[off] += dr[c]
			}
		}
	}
}

// MaxPoolGradScratch returns the float32 and int32 scratch lengths that
// MaxPoolGrad needs for g: a best value and an argmax per channel of an
// output row, and a row of channels for the ReLU's gradient.
func MaxPoolGradScratch(g *Conv) (floats, ints int) {
	return (g.OW + 1) * g.C, g.OW * g.C
}

// MaxPoolGrad writes into dx (H·W·C) the gradient of one image's max pooling given
// dy (OH·OW·C): each dy goes to the first element of its window (in row-major
// window order) that holds the window's maximum, as in TensorFlow. The argmax is
// found again from x, so the pooled output need not be kept. With relu, x is the
// output of a ReLU and the gradient is also taken through it: windows whose
// maximum is not positive pass nothing. scratch and arg are at least as long
// as MaxPoolGradScratch says.
func MaxPoolGrad(g *Conv, x, dy, dx, scratch []float32, arg []int32, relu bool) {
	C := g.C
	lo, hi := g.insideCols()
	best, t, args := scratch[:g.OW*C], scratch[g.OW*C:][:C], arg[:g.OW*C]
	rowW := g.W * C
	// dx is cleared row by row just before the first window that reaches a
	// row (windows move down with oh), so that the rows are in cache when
	// the gradient is added to them: one pass over dx instead of two.
	cleared := 0
	for oh := 0; oh < g.OH; oh++ {
		h0, h1, ih0 := window(oh, g.SH, g.PT, g.DH, g.KH, g.H)
		if h0 < h1 {
			if top := ih0 + (h1-1)*g.DH + 1; top > cleared {
				clear(dx[cleared*rowW : top*rowW])
				cleared = top
			}
		}
		if hi > lo && h0 < h1 {
			n := hi - lo
			argmaxRun(g, x, best, args, lo, n, h0, h1, ih0)
			for r := 0; r < n; r++ {
				dr := dy[(oh*g.OW+lo+r)*C:][:C]
				if relu {
					ReluGrad(t, dr, best[r*C:][:C])
					dr = t
				}
				for c, a := range args[r*C:][:C] {
					dx[a] += dr[c]
				}
			}
		}
		for ow := 0; ow < g.OW; ow++ {
			if ow >= lo && ow < hi && h0 < h1 {
				continue // done above
			}
			maxPoolGradPixel(g, x, dy, dx, best[:C], t, args[:C], relu, oh, ow, h0, h1, ih0)
		}
	}
	clear(dx[cleared*rowW : g.H*rowW])
}

// maxPoolGradPixel is MaxPoolGrad at one output pixel, tap by tap.
func maxPoolGradPixel(g *Conv, x, dy, dx, best, t []float32, arg []int32, relu bool, oh, ow, h0, h1, ih0 int) {
	C := g.C
	if !argmaxPixel(g, x, best, arg, ow, h0, h1, ih0) {
		return
	}
	dr := dy[(oh*g.OW+ow)*C:][:C]
	if relu {
		ReluGrad(t, dr, best)
		dr = t
	}
	for c, a := range arg {
		dx[a] += dr[c]
	}
}

// AvgPool writes the average pooling of one image x (H·W·C) into y (OH·OW·C).
// Each output is the mean of the window's elements inside the image: with SAME
// padding, windows at the border divide by the number of valid elements, as in
// TensorFlow.
func AvgPool(g *Conv, x, y []float32) {
	C := g.C
	for oh := 0; oh < g.OH; oh++ {
		h0, h1, ih0 := window(oh, g.SH, g.PT, g.DH, g.KH, g.H)
		for ow := 0; ow < g.OW; ow++ {
			w0, w1, iw0 := window(ow, g.SW, g.PL, g.DW, g.KW, g.W)
			yr := y[(oh*g.OW+ow)*C:][:C]
			clear(yr)
			for kh := h0; kh < h1; kh++ {
				ih := ih0 + kh*g.DH
				for kw := w0; kw < w1; kw++ {
					iw := iw0 + kw*g.DW
					Add(yr, x[(ih*g.W+iw)*C:][:C])
				}
			}
			if n := (h1 - h0) * (w1 - w0); n > 1 {
				Scale(yr, 1/float32(n))
			}
		}
	}
}

// AvgPoolGrad writes into dx (H·W·C) the gradient of one image's average pooling
// given dy (OH·OW·C): each dy, divided by its window's count, goes to every
// element of the window.
func AvgPoolGrad(g *Conv, dy, dx, scratch []float32) {
	C := g.C
	clear(dx[:g.ImageSize()])
	t := scratch[:C]
	for oh := 0; oh < g.OH; oh++ {
		h0, h1, ih0 := window(oh, g.SH, g.PT, g.DH, g.KH, g.H)
		for ow := 0; ow < g.OW; ow++ {
			w0, w1, iw0 := window(ow, g.SW, g.PL, g.DW, g.KW, g.W)
			n := (h1 - h0) * (w1 - w0)
			if n == 0 {
				continue
			}
			dr := dy[(oh*g.OW+ow)*C:][:C]
			inv := 1 / float32(n)
			for c, v := range dr {
				t[c] = v * inv
			}
			for kh := h0; kh < h1; kh++ {
				ih := ih0 + kh*g.DH
				for kw := w0; kw < w1; kw++ {
					iw := iw0 + kw*g.DW
					Add(dx[(ih*g.W+iw)*C:][:C], t)
				}
			}
		}
	}
}

// Scale sets d[i] *= s.
func Scale(d []float32, s float32) {
	for i := range d {
		d[i] *= s
	}
}
