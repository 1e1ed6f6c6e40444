package nn

// The slice kernels below run in AVX2 assembly on amd64 CPUs that have it and
// in plain Go elsewhere; they are the inner loops of the graph's non-GEMM ops.
// Each works on len(d) elements; the other slices must be at least as long.

// Add sets d[i] += s[i].
func Add(d, s []float32) {
	s = s[:len(d)]
	i := 0
	if hasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		addAVX2(&d[0], &s[0], i)
	}
	for ; i < len(d); i++ {
		d[i] += s[i]
	}
}

// AddRelu sets d[i] = max(d[i] + s[i], 0): a bias and a ReLU in one pass.
func AddRelu(d, s []float32) {
	s = s[:len(d)]
	i := 0
	if hasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		addReluAVX2(&d[0], &s[0], i)
	}
	for ; i < len(d); i++ {
		d[i] = max(d[i]+s[i], 0)
	}
}

// MaxInto sets d[i] = max(d[i], s[i]).
func MaxInto(d, s []float32) {
	s = s[:len(d)]
	i := 0
	if hasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		maxAVX2(&d[0], &s[0], i)
	}
	for ; i < len(d); i++ {
		d[i] = max(d[i], s[i])
	}
}

// ReluGrad sets d[i] = dy[i] where y[i] > 0 and 0 elsewhere: the gradient of a
// ReLU from its output y. d may be dy.
func ReluGrad(d, dy, y []float32) {
	dy, y = dy[:len(d)], y[:len(d)]
	i := 0
	if hasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		reluGradAVX2(&d[0], &dy[0], &y[0], i)
	}
	for ; i < len(d); i++ {
		if y[i] > 0 {
			d[i] = dy[i]
		} else {
			d[i] = 0
		}
	}
}

// argmax sets best[i], arg[i] = x[i], base+i where x[i] > best[i].
func argmax(best []float32, arg []int32, x []float32, base int32) {
	arg, x = arg[:len(best)], x[:len(best)]
	i := 0
	if hasAVX2 && len(best) >= 8 {
		i = len(best) &^ 7
		argmaxAVX2(&best[0], &arg[0], &x[0], i, base)
	}
	for ; i < len(best); i++ {
		if x[i] > best[i] {
			best[i], arg[i] = x[i], base+int32(i)
		}
	}
}

// Mul sets d[i] = a[i]·b[i]; d may be a or b.
func Mul(d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	i := 0
	if hasAVX2 && len(d) >= 8 {
		i = len(d) &^ 7
		mulAVX2(&d[0], &a[0], &b[0], i)
	}
	for ; i < len(d); i++ {
		d[i] = a[i] * b[i]
	}
}

// CopyRuns copies n runs of run floats, run i from src[i·ss:] to dst[i·ds:]:
// the rows of an im2col matrix that come from one image row. It panics if a
// run does not fit either slice.
func CopyRuns(dst []float32, ds int, src []float32, ss int, n, run int) {
	if n <= 0 || run <= 0 {
		return
	}
	if ds < 0 || ss < 0 {
		panic("nn: CopyRuns with a negative stride")
	}
	_ = dst[(n-1)*ds+run-1]
	_ = src[(n-1)*ss+run-1]
	if hasAVX2 && run >= 8 {
		copyRunsAVX2(&dst[0], ds, &src[0], ss, n, run)
		return
	}
	for i := 0; i < n; i++ {
		copy(dst[i*ds:][:run], src[i*ss:][:run])
	}
}

// maxRows sets d[r·ds+i] = max(d[r·ds+i], s[r·ss+i]) for r < rows, i < n.
func maxRows(d []float32, ds int, s []float32, ss int, rows, n int) {
	if rows <= 0 || n <= 0 {
		return
	}
	_ = d[(rows-1)*ds+n-1]
	_ = s[(rows-1)*ss+n-1]
	v := 0
	if hasAVX2 && n >= 8 {
		v = n &^ 7
		maxRowsAVX2(&d[0], ds, &s[0], ss, rows, v)
	}
	for r := 0; v < n && r < rows; r++ {
		dr, sr := d[r*ds:][:n], s[r*ss:][:n]
		for i := v; i < n; i++ {
			dr[i] = max(dr[i], sr[i])
		}
	}
}

// argmaxRows runs argmax on rows of best and arg (row stride bs) against rows
// of x (stride xs): for r < rows, i < n, where x[r·xs+i] > best[r·bs+i], best
// takes it and arg the index base + r·step + i.
func argmaxRows(best []float32, arg []int32, bs int, x []float32, xs int, rows, n int, base, step int32) {
	if rows <= 0 || n <= 0 {
		return
	}
	_ = best[(rows-1)*bs+n-1]
	_ = arg[(rows-1)*bs+n-1]
	_ = x[(rows-1)*xs+n-1]
	v := 0
	if hasAVX2 && n >= 8 {
		v = n &^ 7
		argmaxRowsAVX2(&best[0], &arg[0], bs, &x[0], xs, rows, v, base, step)
	}
	for r := 0; v < n && r < rows; r++ {
		b, a, xr := best[r*bs:][:n], arg[r*bs:][:n], x[r*xs:][:n]
		for i := v; i < n; i++ {
			if xr[i] > b[i] {
				b[i], a[i] = xr[i], base+int32(r)*step+int32(i)
			}
		}
	}
}
