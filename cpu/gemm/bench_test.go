package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/tlgo/tl/internal/testenv"
)

// benchShapes are 1024³, the GEMMs of one training step of the CIFAR-10
// CNN at batch 128: the convolutions as im2col products (forward, weight
// gradient, input gradient) and the three dense layers; and those of the PTB
// language models (batch 20; small: 20 steps, 200 units; medium: 35 steps,
// 650 units; 10,000 words): an LSTM layer's input projection of all steps
// (fwd), its input and weight gradients (dX, dW), one recurrent step (step:
// the engine runs it on B packed once per sequence, here it is packed per
// call like OpenBLAS's) and the softmax layer's three products.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"1024", false, false, 1024, 1024, 1024},
	{"conv1.fwd", false, false, 73728, 64, 75},
	{"conv1.dW", true, false, 75, 64, 73728},
	{"conv1.dX", false, true, 73728, 75, 64},
	{"conv2.fwd", false, false, 18432, 64, 1600},
	{"conv2.dW", true, false, 1600, 64, 18432},
	{"conv2.dX", false, true, 18432, 1600, 64},
	{"dense1.fwd", false, false, 128, 384, 2304},
	{"dense1.dW", true, false, 2304, 384, 128},
	{"dense1.dX", false, true, 128, 2304, 384},
	{"dense2.fwd", false, false, 128, 192, 384},
	{"dense2.dW", true, false, 384, 192, 128},
	{"dense2.dX", false, true, 128, 384, 192},
	{"dense3.fwd", false, false, 128, 10, 192},
	{"dense3.dW", true, false, 192, 10, 128},
	{"dense3.dX", false, true, 128, 192, 10},
	{"ptbs.lstm.fwd", false, false, 400, 800, 200},
	{"ptbs.lstm.step", false, false, 20, 800, 200},
	{"ptbs.lstm.dX", false, true, 400, 200, 800},
	{"ptbs.lstm.dW", true, false, 200, 800, 400},
	{"ptbs.softmax.fwd", false, false, 400, 10000, 200},
	{"ptbs.softmax.dX", false, true, 400, 200, 10000},
	{"ptbs.softmax.dW", true, false, 200, 10000, 400},
	{"ptbm.lstm.fwd", false, false, 700, 2600, 650},
	{"ptbm.lstm.step", false, false, 20, 2600, 650},
	{"ptbm.lstm.dX", false, true, 700, 650, 2600},
	{"ptbm.lstm.dW", true, false, 650, 2600, 700},
	{"ptbm.softmax.fwd", false, false, 700, 10000, 650},
	{"ptbm.softmax.dX", false, true, 700, 650, 10000},
	{"ptbm.softmax.dW", true, false, 650, 10000, 700},
}

// BenchmarkSgemm compares, shape by shape and in one run, the native kernel,
// OpenBLAS (when installed; run with OPENBLAS_CORETYPE unset or SkylakeX) and
// gonum's pure-Go sgemm, on 1 and 2 threads. The metric GFLOP/s is
// 2·m·n·k per call.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchShape(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}

// waitQuiet returns when the process's threads are idle: OpenBLAS's threads
// spin for about 80-110 ms after a call (2^28 TSC cycles), long enough to
// take a core from a native batch that starts 100 ms later. It sleeps at
// least 100 ms, then until a 10 ms sleep costs the process under 1 ms of CPU
// time (at most 400 ms in all).
func waitQuiet() {
	time.Sleep(100 * time.Millisecond)
	for range 30 {
		c0 := cpuTime()
		time.Sleep(10 * time.Millisecond)
		if cpuTime()-c0 < time.Millisecond {
			return
		}
	}
}

// benchShape makes the operands only when a benchmark of the shape runs.
func benchShape(b *testing.B, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
	flops := 2 * float64(m) * float64(n) * float64(k)
	var cpu0 time.Duration
	start := func(b *testing.B) { b.ResetTimer(); cpu0 = cpuTime() }
	report := func(b *testing.B) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		// The same per CPU-second of the process: on a shared machine it
		// is less disturbed by other processes than wall time.
		if d := cpuTime() - cpu0; d > 0 {
			b.ReportMetric(flops*float64(b.N)/d.Seconds()/1e9, "GFLOP/cpu-s")
		}
	}
	for _, threads := range []int{1, 2} {
		for _, backend := range []Backend{Native, OpenBLAS} {
			b.Run(fmt.Sprintf("%s/t%d", backend, threads), func(b *testing.B) {
				if backend == OpenBLAS {
					// Loaded only when asked for: its idle threads spin a
					// while after each call and would slow the others.
					info := OpenBLASInfo()
					if !info.Loaded {
						testenv.Require(b, "OpenBLAS", fmt.Errorf("not loaded: %v", info.Err))
					}
					b.Logf("OpenBLAS core %s (%s)", info.CoreName, info.Path)
				}
				// TL_GEMM_KERNEL picks the native kernel, as for Default.
				e, err := NewEngine(Options{Backend: backend, Threads: threads, Kernel: os.Getenv("TL_GEMM_KERNEL")})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				e.Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
				start(b)
				for b.Loop() {
					e.Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
				}
				report(b)
			})
		}
		b.Run(fmt.Sprintf("gonum/t%d", threads), func(b *testing.B) {
			// gonum parallelises over GOMAXPROCS.
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
			tA, tB := blas.NoTrans, blas.NoTrans
			if transA {
				tA = blas.Trans
			}
			if transB {
				tB = blas.Trans
			}
			var impl gonum.Implementation
			start(b)
			for b.Loop() {
				impl.Sgemm(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
			}
			report(b)
		})
	}
}

// BenchmarkCompare runs native and OpenBLAS alternately on each shape, in
// batches of about 20 ms, so that both see the same machine: on a shared,
// noisy machine this is the fair way to compare them. Each timed batch comes
// after about 100 ms of the same calls, untimed, so that both are measured
// warm, as a training loop runs them. After each OpenBLAS
// batch it waits (not timed) until OpenBLAS's idle threads, which spin about
// 100 ms after a call, have stopped (waitQuiet), so that they do not take
// the cores from the next native batch. Metrics: GFLOP/s of each (wall clock over all batches) and the
// median over rounds of the ratio native/OpenBLAS; GFLOP/s per second of CPU
// time (on one thread the calling thread's, on two the process's: a thread
// that waits spinning counts, one that sleeps does not) and the median of
// the per-round ratio by CPU time (native/openblas-cpu). Run it with
// -benchtime 20x or so (one iteration is one round).
//
// The shapes ending in ".packed" are the LSTM's recurrent products as the
// engine runs them: native on B packed once beforehand (Engine.SgemmPacked,
// as a layer packs its recurrent weights once per sequence), OpenBLAS as
// usual.
func BenchmarkCompare(b *testing.B) {
	info := OpenBLASInfo()
	shapes := append(benchShapes[:len(benchShapes):len(benchShapes)], packedShapes...)
	for _, s := range shapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", s.name, threads), func(b *testing.B) {
				if !info.Loaded {
					testenv.Require(b, "OpenBLAS", fmt.Errorf("not loaded: %v", info.Err))
				}
				packed := strings.HasSuffix(s.name, ".packed")
				compareShape(b, threads, packed, s.transA, s.transB, s.m, s.n, s.k)
			})
		}
	}
}

// packedShapes are the recurrent products of the PTB LSTMs (forward: h·W_h;
// backward: dg·W_hᵀ) for BenchmarkCompare's SgemmPacked comparison.
var packedShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"ptbs.lstm.step.packed", false, false, 20, 800, 200},
	{"ptbs.lstm.dH.packed", false, true, 20, 200, 800},
	{"ptbm.lstm.step.packed", false, false, 20, 2600, 650},
	{"ptbm.lstm.dH.packed", false, true, 20, 650, 2600},
}

func compareShape(b *testing.B, threads int, packed, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
	var es [2]*Engine
	for i, be := range []Backend{Native, OpenBLAS} {
		e, err := NewEngine(Options{Backend: be, Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		es[i] = e
	}
	var pb PackedB
	es[0].PackB(&pb, transB, k, n, bb, ldb)
	call := func(e *Engine) {
		if packed && e == es[0] {
			e.SgemmPacked(transA, m, 1, a, lda, &pb, 0, c, n)
			return
		}
		e.Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	// Batch size: about 20 ms of native work.
	call(es[0])
	call(es[1])
	t0 := time.Now()
	call(es[0])
	reps := max(1, int(20*time.Millisecond/max(time.Since(t0), time.Microsecond)))
	var total, cpu [2]time.Duration
	var ratios, cpuRatios []float64
	// On one thread both run entirely on the calling OS thread, so its CPU
	// time is the time on the core, whatever else the machine runs; on two,
	// the process's CPU time counts both threads.
	cpuNow := threadCPUTime
	if threads > 1 {
		cpuNow = cpuTime
	}
	for b.Loop() {
		var d, dc [2]time.Duration
		for i, e := range es {
			// OpenBLAS keeps per-thread state, and a goroutine that moves
			// between OS threads (after each sleep) makes it slower than it
			// is: its batches run locked to one. Native's run locked on one
			// thread, where the thread's CPU time is the measure, but not on
			// two: a locked caller that waits for its worker is woken
			// through a hand-off between OS threads, which cost native
			// 15-35% at 400×800×200 on Zen 4 (a plan's Run is not locked).
			lock := e == es[1] || threads == 1
			if lock {
				runtime.LockOSThread()
			}
			// About 100 ms of the same calls, untimed, before the batch:
			// after waitQuiet's idle pause, native's two threads take
			// 20-100 ms to come back to full speed on these virtual
			// machines (Zen 4: 85-100 GFLOP/s over the first 20 ms at
			// 400×800×200, 150-180 once warm), and a training loop, which
			// calls without pause, never sees that.
			for range 5 * reps {
				call(e)
			}
			t, c0 := time.Now(), cpuNow()
			for range reps {
				call(e)
			}
			d[i] = time.Since(t)
			dc[i] = cpuNow() - c0
			if lock {
				runtime.UnlockOSThread()
			}
			total[i] += d[i]
			cpu[i] += dc[i]
		}
		ratios = append(ratios, d[1].Seconds()/d[0].Seconds())
		if dc[0] > 0 && dc[1] > 0 {
			cpuRatios = append(cpuRatios, dc[1].Seconds()/dc[0].Seconds())
		}
		b.StopTimer()
		waitQuiet()
		b.StartTimer()
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(reps*b.N)
	b.ReportMetric(flops/total[0].Seconds()/1e9, "native-GFLOP/s")
	b.ReportMetric(flops/total[1].Seconds()/1e9, "openblas-GFLOP/s")
	if cpu[0] > 0 && cpu[1] > 0 {
		b.ReportMetric(flops/cpu[0].Seconds()/1e9, "native-GFLOP/cpu-s")
		b.ReportMetric(flops/cpu[1].Seconds()/1e9, "openblas-GFLOP/cpu-s")
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "native/openblas")
	if len(cpuRatios) > 0 {
		sort.Float64s(cpuRatios)
		b.ReportMetric(cpuRatios[len(cpuRatios)/2], "native/openblas-cpu")
	}
	b.ReportMetric(0, "ns/op")
}
