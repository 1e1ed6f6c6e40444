package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tlgo/tl/cpu/gemm"
)

// ConvImplicit and ConvFilterImplicit give the im2col products' results, on geometries with SAME
// and VALID padding, strides 1 and 2, odd and even windows, widths that tile
// into 14 and 12 rows and that leave packed edges (even those ImplicitOK
// leaves to im2col: rows of 3 and 7), narrow and wide outputs.
func TestConvImplicit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		h, w, c, k, oc, stride int
		same                   bool
	}{
		{12, 12, 64, 5, 64, 1, true},  // CIFAR's second layer
		{12, 12, 64, 5, 64, 1, false}, // VALID: read in place
		{14, 14, 64, 5, 128, 2, true}, // DCGAN's discriminator
		{9, 30, 32, 4, 40, 1, true},   // an even window: padding 1 before, 2 after
		{7, 50, 16, 5, 10, 2, false},  // narrow output, stride 2 in place
		{24, 24, 3, 5, 64, 1, true},   // CIFAR's first layer: window rows of 15
		{5, 5, 128, 3, 300, 1, true},
	}
	for _, e := range []*gemm.Engine{gemm.Default(), Gemm()} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%dx%dx%d_k%d_oc%d_s%d_same%v", c.h, c.w, c.c, c.k, c.oc, c.stride, c.same), func(t *testing.T) {
				oh, pt, err := OutSize(c.h, c.k, c.stride, 1, c.same)
				if err != nil {
					t.Fatal(err)
				}
				ow, pl, _ := OutSize(c.w, c.k, c.stride, 1, c.same)
				g := Conv{N: 1, H: c.h, W: c.w, C: c.c, KH: c.k, KW: c.k, OC: c.oc, SH: c.stride, SW: c.stride, DH: 1, DW: 1, PT: pt, PL: pl, OH: oh, OW: ow}
				x, w := randSlice(r, g.ImageSize()), randSlice(r, g.K()*g.OC)
				col := make([]float32, g.Rows()*g.K())
				Im2col(&g, x, col)
				want := make([]float32, g.OutImageSize())
				e.Sgemm(false, false, g.Rows(), g.OC, g.K(), 1, col, g.K(), w, g.OC, 0, want, g.OC)
				pad := make([]float32, g.ImplicitPad())
				var fpb gemm.PackedB
				PackFilter(e, &g, w, &fpb)
				y := randSlice(r, g.OutImageSize()) // overwritten
				for range 2 {                       // the padding stays zero from one image to the next
					ConvImplicit(e, &g, x, pad, &fpb, y)
				}
				for i := range y {
					if math.Abs(float64(y[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("output %d (pixel %d, channel %d): %v, im2col %v", i, i/g.OC, i%g.OC, y[i], want[i])
					}
				}
				// The filter gradient of two images, added (beta 1 the
				// second), against im2col's colᵀ·dz.
				dz := [2][]float32{randSlice(r, g.OutImageSize()), randSlice(r, g.OutImageSize())}
				x2 := randSlice(r, g.ImageSize())
				col2 := make([]float32, len(col))
				Im2col(&g, x2, col2)
				wantW := make([]float32, g.K()*g.OC)
				e.Sgemm(true, false, g.K(), g.OC, g.Rows(), 1, col, g.K(), dz[0], g.OC, 0, wantW, g.OC)
				e.Sgemm(true, false, g.K(), g.OC, g.Rows(), 1, col2, g.K(), dz[1], g.OC, 1, wantW, g.OC)
				fpad := make([]float32, g.ImplicitFilterPad())
				dw := randSlice(r, g.K()*g.OC) // beta 0: overwritten
				var pb gemm.PackedB
				ConvFilterImplicit(e, &g, x, dz[0], fpad, &pb, 0, dw)
				ConvFilterImplicit(e, &g, x2, dz[1], fpad, &pb, 1, dw)
				for i := range dw {
					if math.Abs(float64(dw[i]-wantW[i])) > 1e-4*(1+math.Abs(float64(wantW[i]))) {
						t.Fatalf("filter gradient %d (window float %d, channel %d): %v, im2col %v", i, i/g.OC, i%g.OC, dw[i], wantW[i])
					}
				}
			})
		}
	}
}

// ImplicitOK takes CIFAR's second layer and leaves to im2col a shallow window
// (5×5×1), dilated windows and narrow output rows, and every convolution
// where the CPU has no grouped kernels.
func TestImplicitOK(t *testing.T) {
	cifar2 := Conv{N: 128, H: 12, W: 12, C: 64, KH: 5, KW: 5, OC: 64, SH: 1, SW: 1, DH: 1, DW: 1, PT: 2, PL: 2, OH: 12, OW: 12}
	e := Gemm()
	if !e.Grouped() {
		// No grouped kernels (AVX-512) here: every convolution keeps im2col.
		if cifar2.ImplicitOK(e) || cifar2.ImplicitFilterOK(e) {
			t.Error("CIFAR's second layer implicit without grouped kernels")
		}
		return
	}
	if !cifar2.ImplicitOK(e) || !cifar2.ImplicitFilterOK(e) {
		t.Error("CIFAR's second layer: not implicit")
	}
	for name, edit := range map[string]func(g *Conv){
		"1 channel": func(g *Conv) { g.C = 1 },
		"dilated":   func(g *Conv) { g.DW = 2 },
		"7 wide":    func(g *Conv) { g.OW = 7 },
	} {
		g := cifar2
		edit(&g)
		if g.ImplicitOK(e) {
			t.Errorf("%s: implicit", name)
		}
	}
}
