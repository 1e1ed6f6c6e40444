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

	// PackBFor's source while it runs, and its piece function, made once so
	// that packing again allocates nothing.
	src    []float32
	ldb    int
	transB bool
	piece  func(lo, hi int)
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

// PackBFor is PackB with the packing split into pieces that forEach runs,
// in parallel if it likes: forEach(n, body) must call body over [0, n) in
// ranges, and return when all have run (par.Pool.For with a grain of 1
// does). A recurrent layer split across cores packs its weights so, rather
// than on one core while the others wait. The result is PackB's.
func (e *Engine) PackBFor(dst *PackedB, transB bool, k, n int, b []float32, ldb int, forEach func(n int, body func(lo, hi int))) {
	e.layoutPackB(dst, transB, k, n, b, ldb, n <= directAMaxNWide, false)
	if k == 0 || n == 0 {
		return
	}
	dst.src, dst.ldb, dst.transB = b, ldb, transB
	if dst.piece == nil {
		dst.piece = dst.packPieces
	}
	forEach((k+dst.kcb-1)/dst.kcb*dst.groups(), dst.piece)
	dst.src = nil
}

// groups is the number of pieces of a slice of the inner dimension:
// copyPanels4's four panels each.
func (p *PackedB) groups() int {
	step := 4 * p.kn.nr
	return (p.n + step - 1) / step
}

// packPieces packs pieces [lo, hi) of PackBFor: piece u is four panels of
// one slice of the inner dimension.
func (p *PackedB) packPieces(lo, hi int) {
	step, groups := 4*p.kn.nr, p.groups()
	for u := lo; u < hi; u++ {
		pc, j0 := u/groups*p.kcb, u%groups*step
		kc := min(p.kcb, p.k-pc)
		packB(p.data[pc*p.width+j0*kc:], p.src, p.ldb, p.transB, pc, j0, kc, kc, min(step, p.n-j0), p.kn.nr, 1, p.kn.tpose, p.kn.narrow != nil)
	}
}

// packB is PackB for products that read A in place (directA) or not, with
// the whole inner dimension in one slice when deep (PackBDeep).
func (e *Engine) packB(dst *PackedB, transB bool, k, n int, b []float32, ldb int, directA, deep bool) {
	e.layoutPackB(dst, transB, k, n, b, ldb, directA, deep)
	for pc := 0; pc < k; pc += dst.kcb {
		kc := min(dst.kcb, k-pc)
		if n > 0 {
			packB(dst.data[pc*dst.width:], b, ldb, transB, pc, 0, kc, kc, n, dst.kn.nr, 1, dst.kn.tpose, dst.kn.narrow != nil)
		}
	}
}

// layoutPackB checks b and lays dst out for packB.
func (e *Engine) layoutPackB(dst *PackedB, transB bool, k, n int, b []float32, ldb int, directA, deep bool) {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("gemm: PackB of a %d×%d B", k, n))
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("b", b, br, bc, ldb)
	layoutB(dst, e.kernel.forWidth(n), k, n, directA)
	if deep {
		dst.kcb = max(k, 1)
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
