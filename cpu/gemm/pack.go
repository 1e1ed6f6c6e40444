package gemm

// Packing copies a block of op(A) or op(B) into the contiguous panel layout
// the micro-kernels read with unit stride. Panels at the right or bottom edge
// are padded with zeros to a full mr or nr, so the kernels never see a partial
// panel.

// packA packs the mc×kc block of op(A) starting at row i0, column p0 into dst,
// as ceil(mc/mr) panels of ks×mr floats (ks >= kc: the steps from kc on are
// left to the caller), each element multiplied by alpha.
// With tpose (AVX-512, mr <= 16) rows are transposed 16 steps at a time, and
// columns copied with masked vector moves.
func packA(dst []float32, a []float32, lda int, transA bool, i0, p0, mc, kc, ks, mr int, alpha float32, tpose bool) {
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		panel := dst[ip*ks : ip*ks+ks*mr]
		if !transA {
			// op(A)[i][p] = a[i*lda+p]: read each row sequentially.
			if tpose {
				for done := 0; done < kc; done += 16 {
					tpose16(&panel[done*mr], mr, &a[(i0+ip)*lda+p0+done], lda, rows, mr, min(16, kc-done), alpha)
				}
				continue
			}
			for r := 0; r < rows; r++ {
				src := a[(i0+ip+r)*lda+p0:]
				src = src[:kc]
				d := panel[r:]
				if alpha == 1 {
					for p, v := range src {
						d[p*mr] = v
					}
				} else {
					for p, v := range src {
						d[p*mr] = alpha * v
					}
				}
			}
			for r := rows; r < mr; r++ {
				for p := 0; p < kc; p++ {
					panel[p*mr+r] = 0
				}
			}
			continue
		}
		// op(A)[i][p] = a[p*lda+i]: each step p is a contiguous run of rows.
		if tpose {
			copyPanel(&panel[0], mr, &a[p0*lda+i0+ip], lda, kc, rows, mr, alpha)
			continue
		}
		for p := 0; p < kc; p++ {
			src := a[(p0+p)*lda+i0+ip:]
			src = src[:rows]
			d := panel[p*mr : p*mr+mr]
			for r, v := range src {
				d[r] = alpha * v
			}
			for r := rows; r < mr; r++ {
				d[r] = 0
			}
		}
	}
}

// packB packs the kc×nc block of op(B) starting at row p0, column j0 into dst,
// as ceil(nc/nr) panels of ks×nr floats (ks >= kc, as for packA), each element
// multiplied by alpha.
// With tpose (AVX-512, nr 16 or 32) the rows of a transposed B are
// transposed 16 steps at a time, and rows of B copied with masked moves.
// With half, a last panel of at most nr/2 columns is packed nr/2 wide, for
// the kernel of half the width (see edgeKernel).
func packB(dst []float32, b []float32, ldb int, transB bool, p0, j0, kc, ks, nc, nr int, alpha float32, tpose, half bool) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		nr := panelWidth(nr, cols, half)
		panel := dst[jp*ks : jp*ks+ks*nr]
		if !transB {
			// op(B)[p][j] = b[p*ldb+j]: each step is a contiguous run.
			if tpose && nr == 32 && nc-jp >= 4*32 && kc > 0 {
				// Four full panels at once: each row read in one run.
				_ = dst[(jp+4*32)*ks-1]
				copyPanels4(&panel[0], ks*32, &b[p0*ldb+j0+jp], ldb, kc, alpha)
				jp += 3 * 32
				continue
			}
			if tpose {
				copyPanel(&panel[0], nr, &b[p0*ldb+j0+jp], ldb, kc, cols, nr, alpha)
				continue
			}
			for p := 0; p < kc; p++ {
				src := b[(p0+p)*ldb+j0+jp:]
				d := panel[p*nr : p*nr+nr]
				if alpha == 1 {
					copy(d, src[:cols])
				} else {
					for j, v := range src[:cols] {
						d[j] = alpha * v
					}
				}
				for j := cols; j < nr; j++ {
					d[j] = 0
				}
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]: read each row of B sequentially.
		if tpose {
			for done := 0; done < kc; done += 16 {
				for h := 0; h < nr; h += 16 {
					rows := max(0, min(16, cols-h))
					src := &b[0]
					if rows > 0 {
						src = &b[(j0+jp+h)*ldb+p0+done]
					}
					tpose16(&panel[done*nr+h], nr, src, ldb, rows, 16, min(16, kc-done), alpha)
				}
			}
			continue
		}
		for j := 0; j < cols; j++ {
			src := b[(j0+jp+j)*ldb+p0:]
			src = src[:kc]
			d := panel[j:]
			for p, v := range src {
				d[p*nr] = alpha * v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				panel[p*nr+j] = 0
			}
		}
	}
}

// panelWidth is the width of a packed B panel of cols columns: nr, or nr/2
// for a narrow last panel when the kernel has a variant of half the width.
func panelWidth(nr, cols int, half bool) int {
	if half && cols <= nr/2 {
		return nr / 2
	}
	return nr
}

// packOnes writes step p of the ceil(mc/mr) panels of ks×mr floats that packA
// made: 1 for the mc rows, 0 for the padding. With packBias it adds a bias to
// the product: an extra inner step where A is 1 and B the bias.
func packOnes(dst []float32, p, mc, ks, mr int) {
	for ip := 0; ip < mc; ip += mr {
		d := dst[ip*ks+p*mr : ip*ks+p*mr+mr]
		rows := min(mr, mc-ip)
		for r := range d {
			d[r] = 0
			if r < rows {
				d[r] = 1
			}
		}
	}
}

// packBias writes step p of the ceil(nc/nr) panels of ks×nr floats that packB
// made (with the same half): bias[j0:j0+nc], 0 for the padding.
func packBias(dst []float32, bias []float32, j0, p, nc, ks, nr int, half bool) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		nr := panelWidth(nr, cols, half)
		d := dst[jp*ks+p*nr : jp*ks+p*nr+nr]
		copy(d, bias[j0+jp:j0+jp+cols])
		clear(d[cols:])
	}
}
