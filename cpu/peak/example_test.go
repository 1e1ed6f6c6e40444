package peak_test

import (
	"fmt"

	"github.com/tlgo/tl/cpu/peak"
)

// The peak of this machine on two threads, and the processor it comes from.
func ExampleMeasure() {
	p := peak.ReadProcessor()
	res, err := peak.Measure(2, peak.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res {
		fmt.Printf("%s, %s: %.0f GFLOP/s on %d threads (%.0f flops/cycle per thread at %.2f GHz)\n",
			p, r.ISA, r.GFLOPS, r.Threads, r.FlopsPerCycle(), r.GHz)
	}
}
