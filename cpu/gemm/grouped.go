package gemm

import "fmt"

// Grouped reports whether the engine's kernels read the inner dimension in
// groups (SgemmGrouped, SgemmGroupedRows): elsewhere those products run a
// kernel call per group, correct but slower than an im2col product.
func (e *Engine) Grouped() bool { return e.kernel.grouped != nil && e.kernel.groupedRows != nil }

// PackBDeep is PackB (B not transposed) with the whole inner dimension in one
// slice, as SgemmGrouped reads it: keep k·min(n, 32) floats (a panel) small
// enough for the caches.
func (e *Engine) PackBDeep(dst *PackedB, k, n int, b []float32, ldb int) {
	e.packB(dst, false, k, n, b, ldb, true, true)
}

// SgemmGrouped computes C = A·B + beta·C (C m×n with row stride ldc) where
// B is packed by PackBDeep (k×n) and A is read in place by columns, the
// inner dimension in groups of glen steps: A(i, p) for p = g·glen + q is
// a[g·jump + q·as + i], k = groups·glen. That is a convolution's filter
// gradient for one filter row kh, with i the window row's floats (KW·C),
// p the output pixels (oh, ow), as the stride of a pixel's window (SW·C) and
// jump that of an output row's (SH·Wp·C): the image read in place, no im2col
// (see nn.ConvFilterImplicit). A must have 16 floats readable past the last
// window (the kernels read whole tiles of rows). It runs on the calling
// goroutine.
func (e *Engine) SgemmGrouped(m int, a []float32, as, groups, glen, jump int, pb *PackedB, beta float32, c []float32, ldc int) {
	if !groupedStart("SgemmGrouped", m, groups, glen, pb, beta, c, ldc) {
		return
	}
	n := pb.n
	kn0 := pb.kn
	if need := (groups-1)*jump + (glen-1)*as + roundUp(m, kn0.mr); as < 1 || jump < 0 || len(a) < need {
		panic(fmt.Sprintf("gemm: SgemmGrouped: len(a)=%d, need %d for %d groups of %d steps (as %d, jump %d) of %d rows read in tiles of %d", len(a), need, groups, glen, as, jump, m, kn0.mr))
	}
	cl, buf := e.soloBuf(0, kn0.mr*kn0.nr)
	defer e.putCall(cl)
	for jr := 0; jr < n; jr += kn0.nr {
		cols := min(kn0.nr, n-jr)
		kn := kn0.forWidth(cols)
		bp := &pb.data[jr*pb.k]
		for i0 := 0; i0 < m; i0 += kn.mr {
			rows := min(kn.mr, m-i0)
			kr, g := kn.mr, kn.grouped
			if rows == 12 && kn.grouped12 != nil {
				kr, g = 12, kn.grouped12
			}
			direct := kr == rows && (cols == kn.nr || kn.masked)
			dst, ld, bt, mode := c[i0*ldc+jr:], ldc, beta, 1
			if !direct {
				dst, ld, bt = buf.tile, kn.nr, 0
			}
			if bt == 0 {
				mode = 0
			}
			ap := &a[i0]
			if g != nil {
				g(glen, ap, as, bp, &dst[0], ld, bt, mode, cols, groups, jump*4)
			} else {
				// No grouped kernel here: a call per group, each adding
				// to the last, B's panel advancing glen steps a group.
				for gi := range groups {
					if gi > 0 {
						bt, mode = 1, 1
					}
					kn.colA(glen, &a[gi*jump+i0], as, &pb.data[jr*pb.k+gi*glen*kn.nr], &dst[0], ld, bt, mode, cols)
				}
			}
			if !direct {
				addTile(c[i0*ldc+jr:], ldc, buf.tile, kn.nr, rows, cols, beta)
			}
		}
	}
}

// SgemmGroupedRows computes C = A·B + beta·C (C m×n with row stride ldc)
// where B is packed by PackBDeep (k×n) and A is read in place by rows, the
// inner dimension in groups of glen steps: A(i, p) for p = g·glen + q is
// a[i·lda + g·jump + q], k = groups·glen. lda may be less than glen, rows
// then overlapping. That is an output row of a convolution without
// dilation: i its pixels (a window every SW·C floats of the padded image),
// g the filter's rows (jump: an image row), q a window row's KW·C floats
// (see nn.ConvImplicit). Rows tile into the kernels' 14 and 12 read in
// place; other bottom edges are copied into a packed panel. It runs on the
// calling goroutine.
func (e *Engine) SgemmGroupedRows(m int, a []float32, lda, groups, glen, jump int, pb *PackedB, beta float32, c []float32, ldc int) {
	if !groupedStart("SgemmGroupedRows", m, groups, glen, pb, beta, c, ldc) {
		return
	}
	n := pb.n
	if need := (m-1)*lda + (groups-1)*jump + glen; lda < 1 || jump < 0 || len(a) < need {
		panic(fmt.Sprintf("gemm: SgemmGroupedRows: len(a)=%d, need %d for %d rows (lda %d) of %d groups of %d steps %d apart", len(a), need, m, lda, groups, glen, jump))
	}
	k := pb.k
	kn0 := pb.kn
	cl, buf := e.soloBuf(kn0.mr*k, kn0.mr*kn0.nr)
	defer e.putCall(cl)
	packed := -1 // the first row of the edge panel in buf.a
	for jr := 0; jr < n; jr += kn0.nr {
		cols := min(kn0.nr, n-jr)
		kn := kn0.forWidth(cols)
		bp := pb.data[jr*k:]
		// Tiles of 12 rows where 14 would leave an edge and 12 do not (24
		// pixels: 12+12 rather than 14 and 10 packed).
		tile := kn.mr
		if r := m % kn.mr; r != 0 && r != 12 && m%12 == 0 && kn.groupedRows12 != nil {
			tile = 12
		}
		for i0 := 0; i0 < m; i0 += tile {
			rows := min(tile, m-i0)
			g, kr := kn.groupedRows, kn.mr
			if rows == 12 && kn.groupedRows12 != nil {
				g, kr = kn.groupedRows12, 12
			}
			var edge kernFn
			if rows < kr || g == nil && rows < kn.mr {
				// Copy the rows into a packed panel, zero below them.
				edge, kr = kn.edgeRows(rows)
				if packed != i0 {
					panel := buf.a[:kn.mr*k]
					clear(panel)
					for r := range rows {
						for gi := range groups {
							src := a[(i0+r)*lda+gi*jump:][:glen]
							for q, v := range src {
								panel[(gi*glen+q)*kn.mr+r] = v
							}
						}
					}
					packed = i0
				}
			}
			direct := kr == rows && (cols == kn.nr || kn.masked)
			dst, ld, bt, mode := c[i0*ldc+jr:], ldc, beta, 1
			if !direct {
				dst, ld, bt = buf.tile, kn.nr, 0
			}
			if bt == 0 {
				mode = 0
			}
			switch {
			case edge != nil:
				edge(k, &buf.a[0], 0, &bp[0], &dst[0], ld, bt, mode, cols)
			case g != nil:
				g(glen, &a[i0*lda], lda, &bp[0], &dst[0], ld, bt, mode, cols, groups, jump*4)
			default:
				// No grouped kernel here: a call per group, each adding
				// to the last.
				for gi := range groups {
					if gi > 0 {
						bt, mode = 1, 1
					}
					kn.rowA(glen, &a[i0*lda+gi*jump], lda, &bp[gi*glen*kn.nr], &dst[0], ld, bt, mode, cols)
				}
			}
			if !direct {
				addTile(c[i0*ldc+jr:], ldc, buf.tile, kn.nr, rows, cols, beta)
			}
		}
	}
}

// groupedStart checks a grouped product's arguments (op names it in a
// panic) and reports whether there is a product to run: false when C is
// empty, or when the inner dimension is and C has been scaled by beta.
func groupedStart(op string, m, groups, glen int, pb *PackedB, beta float32, c []float32, ldc int) bool {
	if pb.kn == nil || pb.k != groups*glen || pb.kcb < pb.k {
		panic(fmt.Sprintf("gemm: %s of %d groups of %d steps by a B packed %d deep in slices of %d (PackBDeep)", op, groups, glen, pb.k, pb.kcb))
	}
	checkMatrix("c", c, m, pb.n, ldc)
	if m == 0 || pb.n == 0 {
		return false
	}
	if groups < 1 || glen < 1 {
		scaleC(m, pb.n, beta, c, ldc)
		return false
	}
	return true
}

// soloBuf takes a product state from the engine's free list for a product
// run on the calling goroutine alone, with its buffer grown to na floats of
// packed A and a tile of ntile; give it back with putCall.
func (e *Engine) soloBuf(na, ntile int) (*call, *threadBuf) {
	cl := e.getCall()
	if len(cl.bufs) == 0 {
		cl.bufs = append(cl.bufs, new(threadBuf))
	}
	buf := cl.bufs[0]
	buf.grow(na, 0, ntile)
	return cl, buf
}

// addTile sets the rows×cols corner of C (row stride ldc) to tile's (row
// stride nr) plus beta·C, C not read when beta is 0: an edge tile computed
// aside.
func addTile(c []float32, ldc int, tile []float32, nr, rows, cols int, beta float32) {
	for i := range rows {
		row := c[i*ldc:][:cols]
		for j, v := range tile[i*nr:][:cols] {
			if beta == 0 {
				row[j] = v
			} else {
				row[j] = beta*row[j] + v
			}
		}
	}
}
