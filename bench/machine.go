package bench

import (
	"bufio"
	"os"
	"strings"

	"golang.org/x/sys/cpu"
)

// CPUName is the model name from /proc/cpuinfo, or "unknown CPU".
func CPUName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// EstimatePeakGFLOPS guesses the float32 peak: 2 FMA units of 16 (AVX-512) or 8
// (AVX2) lanes per core at about 2.1 GHz. It is a rough figure for the % of peak
// column; pass --peak-gflops when the real one is known.
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
