package gemm

// A kernFn computes one mr×nr tile of C:
//
//	acc[i][j] = Σ_p A(i,p) * b[p*nr+j],  p < kc
//	mode == 0: c[i*ldc+j] = acc[i][j]                 (C is not read)
//	mode != 0: c[i*ldc+j] = beta*c[i*ldc+j] + acc[i][j]
//
// b points at a packed B micro-panel (kc*nr floats), c at an mr×nr window of
// C with row stride ldc; kc is at least 1. Where A(i,p) is depends on the
// variant: packed a[p*mr+i] (as is unused), rows a[i*as+p], or columns
// a[p*as+i].
//
// Kernels with masked set store only the first cols columns of the tile;
// the others are called with cols == nr only.
type kernFn func(kc int, a *float32, as int, b, c *float32, ldc int, beta float32, mode, cols int)

// A groupedFn is a kernFn whose inner dimension runs in groups of kc steps:
// A(i, p) for step q of group g is a[g·jump/4 + q·as + i] (jump in bytes), b
// contiguous throughout.
type groupedFn func(kc int, a *float32, as int, b, c *float32, ldc int, beta float32, mode, cols, groups, jump int)

// A microKernel is one register-tile size with its three A layouts.
type microKernel struct {
	name               string
	mr, nr             int
	packed, rowA, colA kernFn
	// tpose: the packing routines may use tpose16 and copyPanel (AVX-512).
	tpose bool
	// masked: the kernels handle cols < nr themselves.
	masked bool
	// half and ten, if set, run on the first halfRows or tenRows rows of a
	// packed panel only: the bottom edge tile when at most that many rows
	// are left (see edgeRows).
	half, ten         kernFn
	halfRows, tenRows int
	// grouped and grouped12, if set, are colA on mr and 12 rows with the
	// inner dimension in groups (SgemmGrouped).
	grouped, grouped12 groupedFn
	// groupedRows and groupedRows12 are the same on rowA (SgemmGroupedRows).
	groupedRows, groupedRows12 groupedFn
	// narrow, if set, is the same kernel with half the width, for C of at
	// most its nr columns (a 32-wide tile would be mostly padding).
	narrow *microKernel
	// blocking tuned for the kernel (multiples of mr and nr); kcDirect is
	// the kc used when A is read in place (B then has at most
	// directAMaxNWide columns).
	mc, kc, nc int
	kcDirect   int
}

// Kernel names accepted by Options.Kernel and TL_GEMM_KERNEL.
const (
	KernelAVX512 = "avx512"
	KernelAVX2   = "avx2"
	KernelScalar = "scalar"
)

var scalarKernel = microKernel{
	name: KernelScalar, mr: 4, nr: 4,
	packed: kernScalarPacked, rowA: kernScalarRows, colA: kernScalarCols,
	mc: 128, kc: 256, kcDirect: 256, nc: 1024,
}

// Kernels returns the names of the micro-kernels this CPU can run, best first.
func Kernels() []string {
	out := make([]string, 0, 3)
	for _, k := range simdKernels {
		out = append(out, k.name)
	}
	return append(out, KernelScalar)
}

func findKernel(name string) (*microKernel, bool) {
	if name == "" {
		if len(simdKernels) > 0 {
			return &simdKernels[0], true
		}
		return &scalarKernel, true
	}
	for i := range simdKernels {
		if simdKernels[i].name == name {
			return &simdKernels[i], true
		}
	}
	if name == KernelScalar {
		return &scalarKernel, true
	}
	return nil, false
}

// edgeRows returns the kernel for a tile of rows (at most mr) rows of a
// packed panel, and the rows it computes: the narrowest variant that covers
// them, so that a bottom edge of 6 rows, or a product of 10 (half an LSTM's
// batch of 20), does not pay for 14.
func (kn *microKernel) edgeRows(rows int) (kernFn, int) {
	switch {
	case rows >= kn.mr:
	case kn.half != nil && rows <= kn.halfRows:
		return kn.half, kn.halfRows
	case kn.ten != nil && rows <= kn.tenRows:
		return kn.ten, kn.tenRows
	}
	return kn.packed, kn.mr
}

// forWidth is the kernel for a C (or a last panel) of n columns: the narrow
// one when n fits it, so that a 32-wide tile is not mostly padding.
func (kn *microKernel) forWidth(n int) *microKernel {
	if kn.narrow != nil && n <= kn.narrow.nr {
		return kn.narrow
	}
	return kn
}
