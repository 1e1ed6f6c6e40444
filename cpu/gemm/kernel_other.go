//go:build !amd64 || purego

package gemm

// simdKernels is empty where no assembly kernel exists: the scalar kernel runs.
var simdKernels []microKernel

func tpose16(dst *float32, ds int, src *float32, ss int, rows, width, n int, alpha float32) {
	panic("gemm: tpose16 needs AVX-512")
}

func copyPanel(dst *float32, ds int, src *float32, ss int, n, cols, width int, alpha float32) {
	panic("gemm: copyPanel needs AVX-512")
}

func copyPanels4(dst *float32, ps int, src *float32, ss int, n int, alpha float32) {
	panic("gemm: copyPanels4 needs AVX-512")
}
