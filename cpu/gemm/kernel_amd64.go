//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run ./asm/gen.go

//go:noescape
func kernAVX512(kc int, a, b, c *float32, ldc int, beta float32, mode int)

//go:noescape
func kernAVX2(kc int, a, b, c *float32, ldc int, beta float32, mode int)

var avx512Kernel = microKernel{
	name: KernelAVX512, mr: 14, nr: 32, fn: kernAVX512,
	mc: 14 * 12, kc: 256, nc: 2048,
}

var avx2Kernel = microKernel{
	name: KernelAVX2, mr: 6, nr: 16, fn: kernAVX2,
	mc: 6 * 24, kc: 256, nc: 2048,
}

// simdKernels lists the SIMD kernels this CPU supports, best first. It is
// decided once, at package initialisation, from CPUID and never changes.
var simdKernels = detect()

func detect() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return ks
}
