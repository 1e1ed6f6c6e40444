package peak

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoFMA is returned by Measure on a processor without an FMA loop here
// (not amd64, or no AVX2+FMA).
var ErrNoFMA = errors.New("peak: no FMA loop for this processor (amd64 with AVX2 and FMA, or AVX-512, is needed)")

// Processor names the processor, as the operating system reports it.
type Processor struct {
	Vendor string // "AuthenticAMD", "GenuineIntel"; "" when unknown
	Family int    // the display family (base plus extended), -1 when unknown
	Model  int    // the display model (with the extended model), -1 when unknown
	Name   string // the marketing name, "AMD EPYC 9R14 ..."
}

// String is the processor as tables print it: name, vendor, family and model.
func (p Processor) String() string {
	if p.Vendor == "" {
		return p.Name
	}
	s := fmt.Sprintf("%s (%s family %d model %d", p.Name, p.Vendor, p.Family, p.Model)
	if a := p.Microarch(); a != "" {
		s += ", " + a
	}
	return s + ")"
}

// Microarch is the core's design where this package knows it ("Zen 4"), or "".
func (p Processor) Microarch() string {
	switch {
	case p.Vendor == "AuthenticAMD" && p.Family == 0x17:
		return "Zen 2"
	case p.Vendor == "AuthenticAMD" && p.Family == 0x19 && (p.Model <= 0x0f || (p.Model >= 0x20 && p.Model <= 0x5f)):
		return "Zen 3"
	case p.Vendor == "AuthenticAMD" && p.Family == 0x19:
		return "Zen 4"
	case p.Vendor == "AuthenticAMD" && p.Family == 0x1a:
		return "Zen 5"
	case p.Vendor == "GenuineIntel" && p.Family == 6:
		switch p.Model {
		case 0x55:
			return "Skylake/Cascade Lake server"
		case 0x6a, 0x6c:
			return "Ice Lake server"
		case 0x8f:
			return "Sapphire Rapids"
		case 0xcf:
			return "Emerald Rapids"
		case 0xad, 0xae:
			return "Granite Rapids"
		}
	}
	return ""
}

// FlopsPerCycle is what one core of this processor should reach per cycle in
// float32 with the given FMA loop ("avx512" or "avx2"): FMA pipes x lanes x 2.
// ok is false where the processor is not known here.
func (p Processor) FlopsPerCycle(isa string) (flops float64, ok bool) {
	arch := p.Microarch()
	switch {
	case arch == "":
		return 0, false
	case isa == "avx2":
		return 2 * 8 * 2, true // two 256-bit FMA pipes on every core known here
	case isa != "avx512":
		return 0, false
	case arch == "Zen 4":
		return 2 * 8 * 2, true // 512-bit FMAs issue as two 256-bit halves
	case arch == "Zen 2", arch == "Zen 3":
		return 0, false // no AVX-512
	}
	return 2 * 16 * 2, true // Zen 5, server Xeons: two 512-bit FMA pipes
}

// ReadProcessor reads /proc/cpuinfo; elsewhere, or when it cannot be read,
// the name is the architecture and the rest unknown.
func ReadProcessor() Processor {
	p := Processor{Family: -1, Model: -1, Name: runtime.GOARCH + " processor"}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return p
	}
	defer f.Close()
	return parseCPUInfo(bufio.NewScanner(f), p)
}

// parseCPUInfo reads the first processor's block of /proc/cpuinfo.
func parseCPUInfo(s *bufio.Scanner, p Processor) Processor {
	for s.Scan() {
		line := s.Text()
		if strings.TrimSpace(line) == "" && p.Vendor != "" {
			break // end of the first processor
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "vendor_id":
			p.Vendor = v
		case "cpu family":
			if n, err := strconv.Atoi(v); err == nil {
				p.Family = n
			}
		case "model":
			if n, err := strconv.Atoi(v); err == nil {
				p.Model = n
			}
		case "model name":
			p.Name = v
		}
	}
	return p
}

// Result is one measured peak.
type Result struct {
	ISA     string  // the FMA loop: "avx512" or "avx2"
	Threads int     // threads that ran it at once
	GFLOPS  float64 // float32 GFLOP/s of all threads together
	GHz     float64 // the clock of one thread, measured beside it
}

// PerThread is the GFLOP/s of one thread.
func (r Result) PerThread() float64 { return r.GFLOPS / float64(r.Threads) }

// FlopsPerCycle is what one thread reached per cycle of the measured clock.
func (r Result) FlopsPerCycle() float64 { return r.PerThread() / r.GHz }

// Options tune Measure; the zero value is a sensible default (about 0.1 s per
// loop and thread count). Short windows are more often left alone by the
// other processes of a shared machine.
type Options struct {
	Window  time.Duration // one timed run; default 2 ms
	Windows int           // runs, of which the best counts; default 50
}

// Measure times the FMA loops this processor runs (widest first) on threads
// threads at once, and the clock on one. Results come widest loop first.
func Measure(threads int, o Options) ([]Result, error) {
	ks := kernels()
	if len(ks) == 0 {
		return nil, ErrNoFMA
	}
	if threads < 1 {
		return nil, fmt.Errorf("peak: %d threads; expected at least 1", threads)
	}
	if o.Window <= 0 {
		o.Window = 2 * time.Millisecond
	}
	if o.Windows <= 0 {
		o.Windows = 50
	}
	ghz := measureClock(o)
	out := make([]Result, 0, len(ks))
	for _, k := range ks {
		n := calibrate(k.run, o.Window)
		best := time.Duration(1<<63 - 1)
		for range o.Windows {
			if d := runParallel(k.run, n, threads); d < best {
				best = d
			}
		}
		flops := float64(n) * float64(k.flopsPerIter) * float64(threads)
		out = append(out, Result{ISA: k.name, Threads: threads, GFLOPS: flops / best.Seconds() / 1e9, GHz: ghz})
	}
	// The clock again, after: on a shared machine one measurement can fall in
	// a moment when the core ran slower than during the FMA loops' best
	// window (which would put flops per cycle above the hardware's); the
	// faster of the two is the clock those loops ran at.
	if after := measureClock(o); after > ghz {
		for i := range out {
			out[i].GHz = after
		}
	}
	return out, nil
}

// kernel is one FMA loop: run(n) does n iterations of flopsPerIter flops.
type kernel struct {
	name         string
	lanes        int
	flopsPerIter int
	run          func(n int)
}

// measureClock returns the clock in GHz from the fastest of o.Windows runs of
// the dependent add chain.
func measureClock(o Options) float64 {
	loop, cyclesPerIter := clockLoop()
	if loop == nil {
		return 0
	}
	n := calibrate(loop, o.Window)
	best := time.Duration(1<<63 - 1)
	for range o.Windows {
		if d := runParallel(loop, n, 1); d < best {
			best = d
		}
	}
	return float64(n) * float64(cyclesPerIter) / best.Seconds() / 1e9
}

// calibrate finds an iteration count that takes about d on one thread.
func calibrate(run func(int), d time.Duration) int {
	n := 1 << 10
	for {
		t0 := time.Now()
		run(n)
		el := time.Since(t0)
		if el >= d/4 || n >= 1<<40 {
			if el <= 0 {
				return n
			}
			return max(1, int(float64(n)*float64(d)/float64(el)))
		}
		n *= 4
	}
}

// runParallel runs run(n) on threads locked OS threads started together and
// returns the wall time from the start signal to the last one's end.
func runParallel(run func(int), n, threads int) time.Duration {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(threads)
	done.Add(threads)
	for range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			run(16) // warm the unit up (some processors wake wide units on first use)
			ready.Done()
			<-start
			run(n)
			done.Done()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0)
}
