//go:build !(linux && (amd64 || arm64))

package gemm

import "errors"

func openOpenBLAS() (*openBLAS, error) {
	return nil, errors.New("gemm: OpenBLAS loading is only implemented on linux/amd64 and linux/arm64")
}

func (l *openBLAS) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("gemm: OpenBLAS not available")
}
