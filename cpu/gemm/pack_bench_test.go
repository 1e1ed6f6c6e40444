package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPackB packs the weights of the PTB models' softmax and LSTM
// products as a product does (PackB: every panel, every slice of the inner
// dimension). The metric GB/s counts the bytes read and written.
func BenchmarkPackB(b *testing.B) {
	e := Default()
	for _, s := range []struct{ k, n int }{{200, 10000}, {650, 10000}, {200, 800}, {650, 2600}} {
		b.Run(fmt.Sprintf("%dx%d", s.k, s.n), func(b *testing.B) {
			src := randSlice(rand.New(rand.NewPCG(1, 2)), s.k*s.n)
			var pb PackedB
			for b.Loop() {
				e.PackB(&pb, false, s.k, s.n, src, s.n)
			}
			b.ReportMetric(float64(8*s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
