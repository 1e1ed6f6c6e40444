//go:build amd64

package peak

import "golang.org/x/sys/cpu"

//go:noescape
func fmaZMM(n int)

//go:noescape
func fmaYMM(n int)

//go:noescape
func addChain(n int)

// kernels lists the FMA loops this processor runs, widest first.
func kernels() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernel{name: "avx512", lanes: 16, flopsPerIter: 12 * 16 * 2, run: fmaZMM})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernel{name: "avx2", lanes: 8, flopsPerIter: 12 * 8 * 2, run: fmaYMM})
	}
	return ks
}

// clockLoop is the dependent add chain: 8 cycles per iteration.
func clockLoop() (func(int), int) { return addChain, 8 }
