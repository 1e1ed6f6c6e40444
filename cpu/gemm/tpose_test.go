package gemm

import "testing"

// TestTpose checks the AVX-512 transposition the packers use.
func TestTpose(t *testing.T) {
	if kn, ok := findKernel(KernelAVX512); !ok || !kn.tpose {
		t.Skip("no AVX-512 on this CPU")
	}
	src := make([]float32, 16*20)
	for i := range src {
		src[i] = float32(i)
	}
	for _, rows := range []int{16, 14, 5, 0} {
		for _, width := range []int{16, 14} {
			if rows > width {
				continue
			}
			dst := make([]float32, 16*17)
			for i := range dst {
				dst[i] = -1
			}
			tpose16(&dst[0], 17, &src[0], 20, rows, width, 2)
			for c := 0; c < 16; c++ {
				for r := 0; r < 17; r++ {
					want := float32(-1)
					if r < rows {
						want = 2 * src[r*20+c]
					} else if r < width {
						want = 0
					}
					if got := dst[c*17+r]; got != want {
						t.Fatalf("rows=%d width=%d: dst[%d][%d]=%v want %v", rows, width, c, r, got, want)
					}
				}
			}
		}
	}
}
