package cuda_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
)

// The accuracy Config.TF32 costs a product: the relative (Frobenius) error of a
// 256×512 by 512×256 product of uniform values against a float64 reference, in
// float32 and in TF32. TF32 keeps 10 of float32's 23 mantissa bits, so each
// input is off by up to 2^-11 relative. On the emulator, which rounds the inputs
// as tensor cores do, the TF32 error must also be visibly above float32's.
func TestGemmTF32Accuracy(t *testing.T) {
	const m, k, n = 256, 512, 256
	r := rand.New(rand.NewPCG(3, 4))
	a, b := randoms(r, m*k), randoms(r, k*n)
	want := make([]float64, m*n)
	for i := range m {
		for l := range k {
			av := float64(a[i*k+l])
			for j := range n {
				want[i*n+j] += av * float64(b[l*n+j])
			}
		}
	}
	relErr := func(cfg cuda.Config) (float64, *cuda.Device) {
		d := cudatest.OpenConfig(t, cfg)
		pa, pb, pc := upload(t, d, a), upload(t, d, b), alloc(t, d, 4*m*n)
		if err := d.Gemm(graph.GemmArgs{M: m, N: n, K: k, Alpha: 1, A: pa, B: pb, C: pc, LDA: k, LDB: n, LDC: n}); err != nil {
			t.Fatal(err)
		}
		got := download[float32](t, d, pc, m*n)
		var num, den float64
		for i, w := range want {
			e := float64(got[i]) - w
			num, den = num+e*e, den+w*w
		}
		return math.Sqrt(num / den), d
	}
	f32, d := relErr(cuda.Config{})
	tf32, _ := relErr(cuda.Config{TF32: true})
	t.Logf("%s: relative error float32 %.2g, TF32 %.2g", d.Name(), f32, tf32)
	if f32 > 1e-5 {
		t.Errorf("float32 product: relative error %.2g, want below 1e-5", f32)
	}
	if tf32 > 2e-3 {
		t.Errorf("TF32 product: relative error %.2g, want below 2e-3", tf32)
	}
	if d.Emulated() && tf32 < 1e-5 {
		t.Errorf("TF32 product on the emulator: relative error %.2g, as float32's: the inputs were not rounded", tf32)
	}
}
