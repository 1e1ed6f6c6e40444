package vmath

import "testing"

// TestWithoutAVX2 runs the kernels' checks as on an amd64 CPU without AVX2
// and FMA, where the Go loops must take every element, not only the tails.
func TestWithoutAVX2(t *testing.T) {
	saved := hasAVX2
	hasAVX2 = false
	t.Cleanup(func() { hasAVX2 = saved })
	checkMaxAndScale(t)
	checkAxpyScaleToDot(t)
	checkSigmoidSoftplus(t)
}
