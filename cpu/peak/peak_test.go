package peak

import (
	"bufio"
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"
)

const zen4 = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 17
model name	: AMD EPYC 9R14 96-Core Processor
flags		: fpu avx2 avx512f

processor	: 1
vendor_id	: GenuineIntel
cpu family	: 6
`

func TestParseCPUInfo(t *testing.T) {
	p := parseCPUInfo(bufio.NewScanner(strings.NewReader(zen4)), Processor{Family: -1, Model: -1})
	want := Processor{Vendor: "AuthenticAMD", Family: 25, Model: 17, Name: "AMD EPYC 9R14 96-Core Processor"}
	if p != want {
		t.Fatalf("parsed %+v; want %+v", p, want)
	}
	if s := p.String(); s != "AMD EPYC 9R14 96-Core Processor (AuthenticAMD family 25 model 17, Zen 4)" {
		t.Fatalf("String() = %q", s)
	}
}

func TestFlopsPerCycle(t *testing.T) {
	for _, c := range []struct {
		p    Processor
		isa  string
		want float64
		ok   bool
	}{
		{Processor{Vendor: "AuthenticAMD", Family: 25, Model: 17}, "avx512", 32, true},
		{Processor{Vendor: "AuthenticAMD", Family: 26, Model: 2}, "avx512", 64, true},
		{Processor{Vendor: "GenuineIntel", Family: 6, Model: 0xcf}, "avx512", 64, true},
		{Processor{Vendor: "GenuineIntel", Family: 6, Model: 0xcf}, "avx2", 32, true},
		{Processor{Vendor: "AuthenticAMD", Family: 25, Model: 1}, "avx512", 0, false},
		{Processor{Vendor: "SomeVendor", Family: 1, Model: 1}, "avx2", 0, false},
	} {
		got, ok := c.p.FlopsPerCycle(c.isa)
		if got != c.want || ok != c.ok {
			t.Errorf("%+v %s: FlopsPerCycle = %v, %v; want %v, %v", c.p, c.isa, got, ok, c.want, c.ok)
		}
	}
}

// The measured flops per cycle of one thread are within 10% of the
// processor's FMA pipes x lanes x 2, where this package knows the processor.
// A busy machine only lowers a measurement: the best of three counts.
func TestMeasureMatchesTheProcessor(t *testing.T) {
	// The median of five measurements, per loop: on a shared machine one
	// of them may catch the clock and the loops at different speeds.
	var runs [][]Result
	for range 5 {
		r, err := Measure(1, Options{})
		if errors.Is(err, ErrNoFMA) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	res := make([]Result, len(runs[0]))
	for i := range res {
		col := make([]Result, len(runs))
		for j, r := range runs {
			col[j] = r[i]
		}
		slices.SortFunc(col, func(a, b Result) int { return cmp.Compare(a.FlopsPerCycle(), b.FlopsPerCycle()) })
		res[i] = col[len(col)/2]
	}
	p := ReadProcessor()
	for _, r := range res {
		t.Logf("%s: %s, 1 thread: %.1f GFLOP/s at %.2f GHz = %.1f flops/cycle", p, r.ISA, r.GFLOPS, r.GHz, r.FlopsPerCycle())
		if r.GFLOPS <= 0 || r.GHz < 0.5 || r.GHz > 7 {
			t.Errorf("%s: %.1f GFLOP/s at %.2f GHz: not a plausible measurement", r.ISA, r.GFLOPS, r.GHz)
		}
		want, ok := p.FlopsPerCycle(r.ISA)
		if !ok {
			continue
		}
		if got := r.FlopsPerCycle(); got < 0.9*want || got > 1.1*want {
			t.Errorf("%s on %s: %.1f flops/cycle; want %v within 10%%", r.ISA, p, got, want)
		}
	}
	if _, err := Measure(0, Options{}); err == nil {
		t.Error("Measure(0 threads) succeeded")
	}
}
