package gemm

import (
	"math/rand/v2"
	"testing"
)

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
			for _, n := range []int{16, 7, 1} {
				if rows > width {
					continue
				}
				dst := make([]float32, 16*17)
				for i := range dst {
					dst[i] = -1
				}
				tpose16(&dst[0], 17, &src[0], 20, rows, width, n, 2)
				for c := 0; c < 16; c++ {
					for r := 0; r < 17; r++ {
						want := float32(-1)
						if c >= n {
						} else if r < rows {
							want = 2 * src[r*20+c]
						} else if r < width {
							want = 0
						}
						if got := dst[c*17+r]; got != want {
							t.Fatalf("rows=%d width=%d n=%d: dst[%d][%d]=%v want %v", rows, width, n, c, r, got, want)
						}
					}
				}
			}
		}
	}
}

// TestCopyPanel checks the AVX-512 panel copy the packers use.
func TestCopyPanel(t *testing.T) {
	if kn, ok := findKernel(KernelAVX512); !ok || !kn.tpose {
		t.Skip("no AVX-512 on this CPU")
	}
	src := make([]float32, 40*7)
	for i := range src {
		src[i] = float32(i)
	}
	for _, c := range []struct{ cols, width int }{{32, 32}, {17, 32}, {3, 32}, {14, 14}, {9, 14}, {0, 16}} {
		dst := make([]float32, 7*40)
		for i := range dst {
			dst[i] = -1
		}
		copyPanel(&dst[0], 40, &src[0], 40, 6, c.cols, c.width, 0.5)
		for r := 0; r < 7; r++ {
			for j := 0; j < 40; j++ {
				want := float32(-1)
				if r < 6 && j < c.cols {
					want = 0.5 * src[r*40+j]
				} else if r < 6 && j < c.width {
					want = 0
				}
				if got := dst[r*40+j]; got != want {
					t.Fatalf("cols=%d width=%d: dst[%d][%d]=%v want %v", c.cols, c.width, r, j, got, want)
				}
			}
		}
	}
}

// TestPackBPanels checks that packB's AVX-512 paths (copyPanels4 for four
// full panels at once, copyPanel for the rest) pack as the plain loops do:
// panel counts around multiples of four, edge panels, half-width last
// panels, alpha, and a slice shorter than its panel step (kc < ks).
func TestPackBPanels(t *testing.T) {
	if kn, ok := findKernel(KernelAVX512); !ok || !kn.tpose {
		t.Skip("no AVX-512 on this CPU: packB takes the plain loops only")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, nc := range []int{1, 31, 32, 100, 127, 128, 129, 144, 160, 250, 256, 300, 513} {
		for _, c := range []struct {
			kc, ks int
			alpha  float32
			half   bool
		}{{1, 1, 1, false}, {5, 7, 0.5, true}, {37, 37, 1, true}, {64, 65, -2, false}} {
			ldb := nc + 3
			b := randSlice(r, (c.kc+2)*ldb)
			size := roundUp(nc, 32) * c.ks
			got, want := make([]float32, size), make([]float32, size)
			for i := range got {
				got[i], want[i] = -7, -7
			}
			packB(got, b, ldb, false, 1, 2, c.kc, c.ks, nc, 32, c.alpha, true, c.half)
			packB(want, b, ldb, false, 1, 2, c.kc, c.ks, nc, 32, c.alpha, false, c.half)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("nc=%d kc=%d ks=%d alpha=%v half=%v: packed[%d] = %v, want %v", nc, c.kc, c.ks, c.alpha, c.half, i, got[i], want[i])
				}
			}
		}
	}
}
