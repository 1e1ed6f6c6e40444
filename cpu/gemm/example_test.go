package gemm_test

import (
	"fmt"

	"github.com/tlgo/tl/cpu/gemm"
)

func ExampleSgemm() {
	// C = A·Bᵀ for A 2×3 and B 2×3 (so Bᵀ is 3×2), all row-major.
	a := []float32{
		1, 2, 3,
		4, 5, 6,
	}
	b := []float32{
		1, 0, 1,
		0, 1, 0,
	}
	c := make([]float32, 2*2)
	gemm.Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 3, 0, c, 2)
	fmt.Println(c[0:2])
	fmt.Println(c[2:4])
	// Output:
	// [4 2]
	// [10 5]
}

func ExampleEngine() {
	// An engine of its own: one thread, the native kernels only.
	e, err := gemm.NewEngine(gemm.Options{Threads: 1, Backend: gemm.Native})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	a := []float32{1, 2, 3, 4} // 2×2
	c := []float32{1, 1, 1, 1}
	// C = 2·AᵀA + C
	e.Sgemm(true, false, 2, 2, 2, 2, a, 2, a, 2, 1, c, 2)
	fmt.Println(c)
	// Output: [21 29 29 41]
}
