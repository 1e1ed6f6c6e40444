package graph

import (
	"fmt"
	"math"
	"testing"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/tensor"
)

// sumRows against a float64 reference on both of its paths (column blocks for
// wide rows, partial rows for narrow ones) and one and two workers; the
// column-block path gives the same bits whatever the worker count.
func TestSumRows(t *testing.T) {
	for _, shape := range [][2]int{{400, 10000}, {3, 5000}, {1000, 64}, {7, 3}, {1, 4097}, {0, 5}} {
		rows, cols := shape[0], shape[1]
		src := make([]float32, rows*cols)
		x := tensor.New(tensor.Float32, max(1, len(src)))
		tensor.Uniform(-1, 1).Init(x, tensor.NewRand(uint64(rows*cols+1)))
		copy(src, x.Float32s())
		var first []float32
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("%dx%d/w%d", rows, cols, workers), func(t *testing.T) {
				pool := par.NewPool(workers)
				defer pool.Close()
				d := make([]float32, cols)
				for i := range d {
					d[i] = 99 // overwritten, not added to
				}
				sumRows(&KernelCtx{Pool: pool}, rows, cols)(src, d)
				for j := range cols {
					var want float64
					for r := range rows {
						want += float64(src[r*cols+j])
					}
					if math.Abs(float64(d[j])-want) > 1e-4*math.Sqrt(float64(rows)+1) {
						t.Fatalf("column %d: %v, want %v", j, d[j], want)
					}
				}
				if cols >= 4096 {
					if first == nil {
						first = d
					} else {
						for j := range d {
							if d[j] != first[j] {
								t.Fatalf("column %d: %v with 2 workers, %v with 1", j, d[j], first[j])
							}
						}
					}
				}
			})
		}
	}
}
