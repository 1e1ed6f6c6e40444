package gemm

// A microKernel computes one mr×nr tile of C from packed panels:
//
//	acc[i][j] = Σ_p a[p*mr+i] * b[p*nr+j],  p < kc
//	mode == 0: c[i*ldc+j] = acc[i][j]                 (C is not read)
//	mode != 0: c[i*ldc+j] = beta*c[i*ldc+j] + acc[i][j]
//
// a points at kc*mr packed floats, b at kc*nr, c at an mr×nr window of C
// with row stride ldc. kc is at least 1.
type microKernel struct {
	name   string
	mr, nr int
	fn     func(kc int, a, b, c *float32, ldc int, beta float32, mode int)
	// blocking tuned for the kernel (multiples of mr and nr).
	mc, kc, nc int
}

// Kernel names accepted by Options.Kernel and TL_GEMM_KERNEL.
const (
	KernelAVX512 = "avx512"
	KernelAVX2   = "avx2"
	KernelScalar = "scalar"
)

var scalarKernel = microKernel{
	name: KernelScalar, mr: 4, nr: 4, fn: kernScalar,
	mc: 128, kc: 256, nc: 1024,
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
