//go:build !amd64 || purego

package gemm

// simdKernels is empty where no assembly kernel exists: the scalar kernel runs.
var simdKernels []microKernel
