package bench

import (
	"golang.org/x/sys/cpu"

	"github.com/tlgo/tl/cpu/peak"
)

// CPUName names the processor for a table's caption: its name, vendor, family
// and model (and its core design where known), as package peak reads them.
func CPUName() string { return peak.ReadProcessor().String() }

// PeakGFLOPS is the float32 peak of threads threads, measured (package peak:
// the widest FMA loop this processor runs, best of short windows) for the
// "% of peak" column; measured says whether it was. Where no FMA loop exists
// here it falls back to EstimatePeakGFLOPS.
func PeakGFLOPS(threads int) (gflops float64, measured bool) {
	res, err := peak.Measure(threads, peak.Options{})
	if err != nil || len(res) == 0 {
		return EstimatePeakGFLOPS(threads), false
	}
	best := res[0].GFLOPS
	for _, r := range res[1:] {
		best = max(best, r.GFLOPS)
	}
	return best, true
}

// EstimatePeakGFLOPS guesses the float32 peak: 2 FMA units of 16 (AVX-512) or 8
// (AVX2) lanes per core at about 2.1 GHz. It is wrong by 2x on Zen 4 (whose
// 512-bit FMAs are split in two): use PeakGFLOPS, which measures.
func EstimatePeakGFLOPS(cores int) float64 {
	lanes := 4.0
	switch {
	case cpu.X86.HasAVX512F:
		lanes = 16
	case cpu.X86.HasAVX2:
		lanes = 8
	}
	return float64(cores) * 2 * lanes * 2 * 2.1
}
