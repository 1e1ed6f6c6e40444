package gemm

import "fmt"

// SgemmShifted computes C = Σ_s A_s·B_s + beta·C (C m×n with row stride ldc)
// where A_s is the m×k_s matrix whose row i starts at a[offs[s]+i·lda] and
// B_s is bs[s], packed by PackB, every one n columns wide. lda may be less
// than k_s: the rows of A_s then overlap, which is what a stride-1
// convolution's windows do. Its output row (OW pixels) is
//
//	Σ_kh  rows (oh+kh) of the padded image, pixel ow at a stride of C floats
//	      · the filter's rows for kh (KW·C × OC)
//
// so with lda = C and offs[kh] the start of image row oh+kh, the product
// reads the image in place: an im2col that writes nothing. A is never
// copied when m is a multiple of the kernel's rows or 12 (rows of a 12-wide
// image); other bottom edges are packed. It runs on the calling goroutine,
// on the kernels B was packed for.
func (e *Engine) SgemmShifted(m int, a []float32, lda int, offs []int, bs []PackedB, beta float32, c []float32, ldc int) {
	if len(bs) == 0 || len(offs) != len(bs) {
		panic(fmt.Sprintf("gemm: SgemmShifted with %d offsets for %d packed Bs", len(offs), len(bs)))
	}
	n := bs[0].n
	if m < 0 || lda < 1 {
		panic(fmt.Sprintf("gemm: SgemmShifted of %d rows with lda=%d", m, lda))
	}
	kn := bs[0].kn
	for s := range bs {
		b := &bs[s]
		if b.kn == nil || b.n != n || b.kn != kn {
			panic(fmt.Sprintf("gemm: SgemmShifted term %d: a B of %d columns packed for %v, want %d columns on the first term's kernel", s, b.n, b.kn != nil, n))
		}
		if m > 0 && b.k > 0 {
			if need := offs[s] + (m-1)*lda + b.k; offs[s] < 0 || len(a) < need {
				panic(fmt.Sprintf("gemm: SgemmShifted term %d: len(a)=%d, need %d for %d rows of %d at offset %d, lda %d", s, len(a), need, m, b.k, offs[s], lda))
			}
		}
	}
	checkMatrix("c", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	cl := e.getCall()
	defer e.putCall(cl)
	if len(cl.bufs) == 0 {
		cl.bufs = append(cl.bufs, new(threadBuf))
	}
	buf := cl.bufs[0]
	buf.grow(kn.mr*maxKcb(bs), 0, kn.mr*kn.nr)
	for jr := 0; jr < n; jr += kn.nr {
		cols := min(kn.nr, n-jr)
		kn := kn
		if kn.narrow != nil && cols <= kn.narrow.nr {
			kn = kn.narrow // the last panel, packed half as wide
		}
		for i0 := 0; i0 < m; {
			rows := min(kn.mr, m-i0)
			fn, kr, packed := kn.rowA, kn.mr, false
			switch {
			case rows == kn.mr:
			case rows == 12 && kn.rows12 != nil:
				fn, kr = kn.rows12, 12
			default:
				fn, kr = kn.edgeRows(rows)
				packed = true
			}
			direct := kr == rows && (cols == kn.nr || kn.masked)
			dst, ld := c[i0*ldc+jr:], ldc
			if !direct {
				dst, ld = buf.tile, kn.nr
			}
			first := true
			for s := range bs {
				b := &bs[s]
				for pc := 0; pc < b.k; pc += b.kcb {
					kc := min(b.kcb, b.k-pc)
					ap, as := &a[offs[s]+i0*lda+pc], lda
					if packed {
						packA(buf.a, a[offs[s]:], lda, false, i0, pc, rows, kc, kc, kn.mr, 1, kn.tpose)
						ap, as = &buf.a[0], 0
					}
					bt, mode := beta, 1
					switch {
					case !first:
						bt = 1
					case !direct || beta == 0:
						mode = 0
					}
					fn(kc, ap, as, &b.data[pc*b.width+jr*kc], &dst[0], ld, bt, mode, cols)
					first = false
				}
			}
			if first {
				scaleC(rows, cols, beta, c[i0*ldc+jr:], ldc) // every k_s is 0
			} else if !direct {
				for i := range rows {
					row := c[(i0+i)*ldc+jr:][:cols]
					for j, v := range buf.tile[i*kn.nr:][:cols] {
						if beta == 0 {
							row[j] = v
						} else {
							row[j] = beta*row[j] + v
						}
					}
				}
			}
			i0 += rows
		}
	}
}

// maxKcb is the deepest slice of the inner dimension among bs.
func maxKcb(bs []PackedB) int {
	k := 1
	for i := range bs {
		k = max(k, min(bs[i].kcb, bs[i].k))
	}
	return k
}

// PackBDeep is PackB (B not transposed) with the whole inner dimension in one
// slice, as SgemmGrouped reads it: keep k·min(n, 32) floats (a panel) small
// enough for the caches.
func (e *Engine) PackBDeep(dst *PackedB, k, n int, b []float32, ldb int) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: PackBDeep of a %d×%d B", k, n))
	}
	checkMatrix("b", b, k, n, ldb)
	kn := e.kernel
	if kn.narrow != nil && n <= kn.narrow.nr {
		kn = kn.narrow
	}
	layoutB(dst, kn, k, n, true)
	dst.kcb = max(k, 1)
	if k > 0 && n > 0 {
		packB(dst.data, b, ldb, false, 0, 0, k, k, n, kn.nr, 1, kn.tpose, kn.narrow != nil)
	}
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
	if pb.kn == nil || pb.k != groups*glen || pb.kcb < pb.k {
		panic(fmt.Sprintf("gemm: SgemmGrouped of %d groups of %d steps by a B packed %d deep in slices of %d (PackBDeep)", groups, glen, pb.k, pb.kcb))
	}
	n := pb.n
	checkMatrix("c", c, m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	if groups < 1 || glen < 1 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kn0 := pb.kn
	if need := (groups-1)*jump + (glen-1)*as + roundUp(m, kn0.mr); as < 1 || jump < 0 || len(a) < need {
		panic(fmt.Sprintf("gemm: SgemmGrouped: len(a)=%d, need %d for %d groups of %d steps (as %d, jump %d) of %d rows read in tiles of %d", len(a), need, groups, glen, as, jump, m, kn0.mr))
	}
	cl := e.getCall()
	defer e.putCall(cl)
	if len(cl.bufs) == 0 {
		cl.bufs = append(cl.bufs, new(threadBuf))
	}
	buf := cl.bufs[0]
	buf.grow(0, 0, kn0.mr*kn0.nr)
	for jr := 0; jr < n; jr += kn0.nr {
		cols := min(kn0.nr, n-jr)
		kn := kn0
		if kn.narrow != nil && cols <= kn.narrow.nr {
			kn = kn.narrow
		}
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
			if direct {
				continue
			}
			for i := range rows {
				row := c[(i0+i)*ldc+jr:][:cols]
				for j, v := range buf.tile[i*kn.nr:][:cols] {
					if beta == 0 {
						row[j] = v
					} else {
						row[j] = beta*row[j] + v
					}
				}
			}
		}
	}
}
