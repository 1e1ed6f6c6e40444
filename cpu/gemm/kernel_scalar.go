package gemm

import "unsafe"

func kernScalarPacked(kc int, a *float32, _ int, b, c *float32, ldc int, beta float32, mode, _ int) {
	kernScalar(kc, a, 1, 4, b, c, ldc, beta, mode)
}

func kernScalarRows(kc int, a *float32, as int, b, c *float32, ldc int, beta float32, mode, _ int) {
	kernScalar(kc, a, as, 1, b, c, ldc, beta, mode)
}

func kernScalarCols(kc int, a *float32, as int, b, c *float32, ldc int, beta float32, mode, _ int) {
	kernScalar(kc, a, 1, as, b, c, ldc, beta, mode)
}

// kernScalar is the portable 4×4 micro-kernel; A(i,p) is a[i*rs+p*cs].
func kernScalar(kc int, a *float32, rs, cs int, b, c *float32, ldc int, beta float32, mode int) {
	ap := unsafe.Slice(a, 3*rs+(kc-1)*cs+1)
	bp := unsafe.Slice(b, kc*4)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		bv := bp[p*4 : p*4+4 : p*4+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		o := p * cs
		a0 := ap[o]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[o+rs]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[o+2*rs]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[o+3*rs]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cc := unsafe.Slice(c, 3*ldc+4)
	store := func(r []float32, x0, x1, x2, x3 float32) {
		r = r[:4:4]
		if mode == 0 {
			r[0], r[1], r[2], r[3] = x0, x1, x2, x3
			return
		}
		r[0] = beta*r[0] + x0
		r[1] = beta*r[1] + x1
		r[2] = beta*r[2] + x2
		r[3] = beta*r[3] + x3
	}
	store(cc[0:], c00, c01, c02, c03)
	store(cc[ldc:], c10, c11, c12, c13)
	store(cc[2*ldc:], c20, c21, c22, c23)
	store(cc[3*ldc:], c30, c31, c32, c33)
}
