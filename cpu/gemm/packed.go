package gemm

import "fmt"

// PackedB is op(B) packed once, in the panel layout of an engine's kernels,
// for products that share it: the steps of a recurrent layer multiply a new
// small A (a batch of states) by the same weights each step, and with a few
// rows of A, packing B again would cost more than the product. Pack it with
// Engine.PackB and multiply with Engine.SgemmPacked while B is unchanged. Its
// memory is reused by the next PackB of a product no larger, so a recurrent
// layer packs once per sequence and allocates nothing after its first.
type PackedB struct {
	kn      *microKernel
	k, n    int
	kcb     int // the inner dimension's block: slice pc of B starts at pc·width
	width   int // n rounded up to the kernel's panel width
	directA bool
	data    []float32
}

// K and N are the shape of op(B).
func (p *PackedB) K() int { return p.k }
func (p *PackedB) N() int { return p.n }

// PackB packs op(B) (k×n; b is n×k with ldb when transB) into dst, for
// SgemmPacked on this engine's kernels.
func (e *Engine) PackB(dst *PackedB, transB bool, k, n int, b []float32, ldb int) {
	// Packed once, B is never packed again per chunk of rows: A may be read
	// in place up to the wider bound.
	e.packB(dst, transB, k, n, b, ldb, n <= directAMaxNWide, false)
}

// packB is PackB for products that read A in place (directA) or not, with
// the whole inner dimension in one slice when deep (PackBDeep).
func (e *Engine) packB(dst *PackedB, transB bool, k, n int, b []float32, ldb int, directA, deep bool) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: PackB of a %d×%d B", k, n))
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("b", b, br, bc, ldb)
	kn := e.kernel.forWidth(n)
	layoutB(dst, kn, k, n, directA)
	if deep {
		dst.kcb = max(k, 1)
	}
	for pc := 0; pc < k; pc += dst.kcb {
		kc := min(dst.kcb, k-pc)
		if n > 0 {
			packB(dst.data[pc*dst.width:], b, ldb, transB, pc, 0, kc, kc, n, kn.nr, 1, kn.tpose, kn.narrow != nil)
		}
	}
}

// layoutB sets dst up for a k×n B packed for kn, for products that read A in
// place (directA) or packed, its memory included, without packing it.
func layoutB(dst *PackedB, kn *microKernel, k, n int, directA bool) {
	dst.kn, dst.k, dst.n = kn, k, n
	dst.directA = directA
	dst.kcb = kn.kc
	if dst.directA {
		dst.kcb = kn.kcDirect
	}
	dst.width = roundUp(n, kn.nr)
	size := dst.width * k
	if cap(dst.data) < size {
		dst.data = make([]float32, size)
	}
	dst.data = dst.data[:size]
}

// SgemmPacked computes C = alpha·op(A)·B + beta·C for B packed by PackB
// (m×k op(A), k×n B and C as PackB's). alpha must be 1 when n <= 256, where the
// kernels read A in place and would scale the packed B. It runs on the engine's
// kernels whatever its Backend.
func (e *Engine) SgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	if pb.kn == nil {
		panic("gemm: SgemmPacked with a PackedB that was never packed")
	}
	k, n := pb.k, pb.n
	if m < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d", m))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("a", a, ar, ac, lda)
	checkMatrix("c", c, m, n, ldc)
	if pb.directA && alpha != 1 && alpha != 0 {
		panic(fmt.Sprintf("gemm: SgemmPacked with alpha %v on a narrow B (n=%d <= %d): alpha must be 1", alpha, n, directAMaxNWide))
	}
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	e.run(transA, false, m, n, k, alpha, a, lda, nil, 0, beta, c, ldc, nil, pb)
}
