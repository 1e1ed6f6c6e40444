package emu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/kernels"
)

// commonHeader is kernels/common.cuh, cut from the front of kernels.Source, so
// that the test kernels are written with the project's own helpers.
func commonHeader(t *testing.T) string {
	src := kernels.Source()
	i := strings.Index(src, "\n// ---- ")
	if i < 0 {
		t.Fatal("kernels.Source has no file marker after common.cuh")
	}
	return src[:i] + "\n"
}

const testKernels = `
extern "C" __global__ void t_add(const float* __restrict__ a, const float* __restrict__ b, float* out, long long n) {
  TL_FOR(i, n) out[i] = a[i] + b[i];
}

// t_rowsum: one block per row; tl_block_sum uses shared memory, __syncthreads
// and warp shuffles.
extern "C" __global__ void t_rowsum(const float* x, float* out, int cols) {
  __shared__ float scratch[32];
  const float* row = x + (long long)blockIdx.x * cols;
  float s = 0.0f;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) s += row[j];
  s = tl_block_sum(s, scratch);
  float m = tl_block_max(s, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = m;
}

extern "C" __global__ void t_atomics(float* f, int* i, unsigned long long* u, int* mx, int* mn, int* cas) {
  int id = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(f, 1.0f);
  atomicAdd(i, 2);
  atomicAdd(u, 3ull);
  atomicMax(mx, id);
  atomicMin(mn, -id);
  int old = *cas, assumed;
  do {
    assumed = old;
    old = atomicCAS(cas, assumed, assumed + 1);
  } while (old != assumed);
}

// t_reverse reverses each block's slice through dynamic shared memory.
extern "C" __global__ void t_reverse(const float* in, float* out) {
  TL_DYN_SHARED(float, buf);
  int base = blockIdx.x * blockDim.x;
  buf[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}

extern "C" __global__ void t_shfl(int* out) {
  int lane = threadIdx.x % 32;
  int* o = out + 4 * threadIdx.x;
  o[0] = __shfl_down_sync(0xffffffffu, lane, 3);
  o[1] = __shfl_up_sync(0xffffffffu, lane, 5);
  o[2] = __shfl_sync(0xffffffffu, lane * 10, 7);
  o[3] = __shfl_xor_sync(0xffffffffu, lane, 1, 16);
}

extern "C" __global__ void t_oob(float* out, int n) {
  if (threadIdx.x == 0) out[n] = 1.0f;
}

extern "C" __global__ void t_even(float* out, int n) {
  TL_FOR(i, n) if (i % 2 == 0) out[i] = (float)i;
}

extern "C" __global__ void t_scale(float* x, float s, int n) {
  TL_FOR(i, n) x[i] *= s;
}

extern "C" __global__ void t_math(const float* x, float* out, int n) {
  TL_FOR(i, n) {
    float v = x[i], a = fabsf(v) + 0.5f;
    float* o = out + 16 * i;
    o[0] = expf(v); o[1] = logf(a); o[2] = log1pf(a); o[3] = tanhf(v);
    o[4] = sqrtf(a); o[5] = rsqrtf(a); o[6] = powf(a, 1.5f); o[7] = fmaxf(v, 0.25f);
    o[8] = fminf(v, 0.25f); o[9] = floorf(v) + ceilf(v); o[10] = erff(v); o[11] = fmaf(v, 2.0f, 1.0f);
    o[12] = __expf(v) + __logf(a); o[13] = __fdividef(v, a);
    o[14] = (float)(min((int)i, 3) + max((int)i, 3)) + __int_as_float(__float_as_int(v)) - __uint_as_float(__float_as_uint(v));
    o[15] = v > 100.0f ? INFINITY : __ldg(x + i);
  }
}

extern "C" __global__ void t_wild(float* out) {
  if (threadIdx.x == 7) ((float*)16)[0] = 1.0f;
  out[threadIdx.x] = 2.0f;
}

static __device__ float t_deep(int d) {
  volatile float buf[1024];
  buf[d % 1024] = (float)d;
  return d == 0 ? buf[0] : t_deep(d - 1) + buf[d % 1024];
}

extern "C" __global__ void t_overflow(float* out, int depth) { out[threadIdx.x] = t_deep(depth); }

extern "C" __global__ void t_order(int* counter, int* out) {
  out[threadIdx.x] = atomicAdd(counter, 1);
  __syncthreads();
  out[blockDim.x + threadIdx.x] = atomicAdd(counter, 1);
}

extern "C" __global__ void t_deadlock(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1.0f;
}

extern "C" __global__ void t_warp_deadlock(float* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}
`

func loadTestKernels(t *testing.T, a *api) uintptr {
	t.Helper()
	return a.module(t, commonHeader(t)+testKernels, "test_kernels.cu")
}

func TestBuildIsCached(t *testing.T) {
	if _, err := loadAPI(); err != nil {
		if strings.Contains(err.Error(), "no C++ compiler") {
			testenv.Require(t, "the CUDA emulator (a C++ compiler)", err)
		}
		t.Fatal(err)
	}
	start := time.Now()
	p1, err := Build("")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Build("")
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Fatalf("two builds gave %s and %s", p1, p2)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cached Build took %v", d)
	}
	if _, err := os.Stat(p1); err != nil {
		t.Fatal(err)
	}
}

func TestBuildConcurrentFreshDir(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the emulator (seconds)")
	}
	if _, err := loadAPI(); err != nil {
		testenv.Require(t, "the CUDA emulator (a C++ compiler)", err)
	}
	dir := t.TempDir()
	paths := make([]string, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { paths[i], errs[i] = Build(dir) })
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("build %d: %s, %v (first: %s)", i, paths[i], errs[i], paths[0])
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "build-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

func TestBuildWithoutCompiler(t *testing.T) {
	t.Setenv(EnvCXX, "/nonexistent/g++")
	if _, err := Build(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no C++ compiler") {
		t.Fatalf("Build with a missing compiler: %v", err)
	}
}

func TestDevice(t *testing.T) {
	a := open(t)
	name := make([]byte, 64)
	a.check(t, "cuDeviceGetName", a.cuDeviceGetName(&name[0], 64, 0))
	if got := strings.TrimRight(string(name), "\x00"); got != "tl CPU emulator" {
		t.Errorf("name %q", got)
	}
	want := map[int32]int32{16: 132, 75: 9, 76: 0, 8: 48 << 10, 10: 32, 1: 1024}
	for attr, w := range want {
		var v int32
		a.check(t, "cuDeviceGetAttribute", a.cuDeviceGetAttribute(&v, attr, 0))
		if v != w {
			t.Errorf("attribute %d = %d, want %d", attr, v, w)
		}
	}
	if rc := a.cuMemFree(12345); rc != 1 {
		t.Errorf("free of an unknown pointer: %d, want 1 (CUDA_ERROR_INVALID_VALUE)", rc)
	}
}

func TestNoContextOnOtherThread(t *testing.T) {
	a := open(t)
	done := make(chan int32)
	go func() {
		// Another OS thread, its context cleared: the test's thread keeps its own.
		runtimeLockAndRun(func() {
			a.cuCtxSetCurrent(0)
			var p uintptr
			done <- a.cuMemAlloc(&p, 16)
		})
	}()
	if rc := <-done; rc != 201 {
		t.Errorf("cuMemAlloc without a current context: %d, want 201", rc)
	}
	a.alloc(t, 16) // the test's own thread still has its context
}

func TestGridStrideAdd(t *testing.T) {
	a := open(t)
	mod := loadTestKernels(t, a)
	f := a.function(t, mod, "t_add")
	n := 10000
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(i), float32(2*i)+0.5
	}
	dx, dy, dout := a.upload(t, x), a.upload(t, y), a.alloc(t, 4*n)
	nn := int64(n)
	a.check(t, "launch", a.launch(f, 7, 256, 0, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dy), unsafe.Pointer(&dout), unsafe.Pointer(&nn)))
	got := a.download(t, dout, n)
	for i := range got {
		if got[i] != x[i]+y[i] {
			t.Fatalf("out[%d] = %v, want %v", i, got[i], x[i]+y[i])
		}
	}
}

func TestBlockReduction(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_rowsum")
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ rows, cols, block int }{{5, 1000, 256}, {3, 77, 96}, {4, 33, 32}, {2, 5000, 1024}} {
		x := make([]float32, c.rows*c.cols)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		dx, dout := a.upload(t, x), a.alloc(t, 4*c.rows)
		cols := int32(c.cols)
		a.check(t, "launch", a.launch(f, uint32(c.rows), uint32(c.block), 0, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dout), unsafe.Pointer(&cols)))
		got := a.download(t, dout, c.rows)
		for r := range c.rows {
			var want float64
			for _, v := range x[r*c.cols : (r+1)*c.cols] {
				want += float64(v)
			}
			if math.Abs(float64(got[r])-want) > 1e-3 {
				t.Errorf("%+v: row %d sum %v, want %v", c, r, got[r], want)
			}
		}
	}
}

func TestAtomicsAcrossBlocks(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_atomics")
	const blocks, threads = 64, 128
	buf := a.alloc(t, 6*8)
	a.check(t, "memset", a.cuMemsetD32Async(buf, 0, 12, 0))
	pf, pi, pu, pmx, pmn, pcas := buf, buf+8, buf+16, buf+24, buf+32, buf+40
	a.check(t, "launch", a.launch(f, blocks, threads, 0, 0, unsafe.Pointer(&pf), unsafe.Pointer(&pi), unsafe.Pointer(&pu),
		unsafe.Pointer(&pmx), unsafe.Pointer(&pmn), unsafe.Pointer(&pcas)))
	var out [12]uint32
	a.check(t, "copy", a.cuMemcpyDtoH(unsafe.Pointer(&out[0]), buf, 48))
	n := blocks * threads
	if got := math.Float32frombits(out[0]); got != float32(n) {
		t.Errorf("float atomicAdd: %v, want %d", got, n)
	}
	if got := int32(out[2]); got != int32(2*n) {
		t.Errorf("int atomicAdd: %d, want %d", got, 2*n)
	}
	if got := uint64(out[4]) | uint64(out[5])<<32; got != uint64(3*n) {
		t.Errorf("unsigned long long atomicAdd: %d, want %d", got, 3*n)
	}
	if got := int32(out[6]); got != int32(n-1) {
		t.Errorf("atomicMax: %d, want %d", got, n-1)
	}
	if got := int32(out[8]); got != int32(-(n - 1)) {
		t.Errorf("atomicMin: %d, want %d", got, -(n - 1))
	}
	if got := int32(out[10]); got != int32(n) {
		t.Errorf("atomicCAS loop: %d, want %d", got, n)
	}
}

func TestDynamicSharedMemory(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_reverse")
	const blocks, block = 3, 128
	x := make([]float32, blocks*block)
	for i := range x {
		x[i] = float32(i)
	}
	dx, dout := a.upload(t, x), a.alloc(t, 4*len(x))
	a.check(t, "launch", a.launch(f, blocks, block, 4*block, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dout)))
	got := a.download(t, dout, len(x))
	for b := range blocks {
		for i := range block {
			if want := x[b*block+block-1-i]; got[b*block+i] != want {
				t.Fatalf("out[%d] = %v, want %v", b*block+i, got[b*block+i], want)
			}
		}
	}
	// Past the default 48 KiB without the attribute: refused, like the driver.
	if rc := a.launch(f, 1, block, 64<<10, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dout)); rc != 1 {
		t.Errorf("64 KiB of dynamic shared memory without the attribute: %d, want 1", rc)
	}
	a.check(t, "cuFuncSetAttribute", a.cuFuncSetAttribute(f, 8, 64<<10))
	a.check(t, "launch with 64 KiB", a.launch(f, 1, block, 64<<10, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dout)))
}

func TestShuffleSemantics(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_shfl")
	const block = 64
	d := a.alloc(t, 4*4*block)
	a.check(t, "launch", a.launch(f, 1, block, 0, 0, unsafe.Pointer(&d)))
	raw := a.download(t, d, 4*block)
	for tid := range block {
		lane := int32(tid % 32)
		got := [4]int32{}
		for k := range 4 {
			got[k] = int32(math.Float32bits(raw[4*tid+k]))
		}
		down := lane + 3
		if down >= 32 {
			down = lane // out of range: the caller's own value
		}
		up := lane - 5
		if up < 0 {
			up = lane
		}
		want := [4]int32{down, up, 70, lane ^ 1}
		if got != want {
			t.Fatalf("thread %d: down/up/idx/xor = %v, want %v", tid, got, want)
		}
	}
}

func TestMath(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_math")
	x := []float32{-2.5, -1, -0.1, 0, 0.3, 1, 2.7}
	n := int32(len(x))
	dx, dout := a.upload(t, x), a.alloc(t, 4*16*len(x))
	a.check(t, "launch", a.launch(f, 1, 32, 0, 0, unsafe.Pointer(&dx), unsafe.Pointer(&dout), unsafe.Pointer(&n)))
	got := a.download(t, dout, 16*len(x))
	for i, v32 := range x {
		v := float64(v32)
		ab := math.Abs(v) + 0.5
		want := []float64{math.Exp(v), math.Log(ab), math.Log1p(ab), math.Tanh(v), math.Sqrt(ab), 1 / math.Sqrt(ab),
			math.Pow(ab, 1.5), math.Max(v, 0.25), math.Min(v, 0.25), math.Floor(v) + math.Ceil(v), math.Erf(v), v*2 + 1,
			math.Exp(v) + math.Log(ab), v / ab, float64(min(i, 3) + max(i, 3)), v}
		for k, w := range want {
			if d := math.Abs(float64(got[16*i+k]) - w); d > 1e-5*math.Max(1, math.Abs(w)) {
				t.Errorf("x=%v: result %d = %v, want %v", v, k, got[16*i+k], w)
			}
		}
	}
}

func TestOutOfBoundsWrite(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_oob")
	d := a.alloc(t, 4*10)
	n := int32(10)
	rc := a.launch(f, 1, 32, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&n))
	if rc != 700 {
		t.Fatalf("write past the end: %d, want 700", rc)
	}
	if msg := a.errorString(700); !strings.Contains(msg, "t_oob") || !strings.Contains(msg, "past the end") {
		t.Errorf("error string %q does not name the kernel and the overrun", msg)
	}
	n = -1
	if rc := a.launch(f, 1, 32, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&n)); rc != 700 {
		t.Fatalf("write before the start: %d, want 700", rc)
	}
	if msg := a.tlLastError(); !strings.Contains(msg, "before the start") {
		t.Errorf("message %q does not say before the start", msg)
	}
	// The canaries were repaired: the next launch is clean.
	n = 9
	a.check(t, "in-bounds launch", a.launch(f, 1, 32, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&n)))
}

func TestFaultFailsTheLaunch(t *testing.T) {
	a := open(t)
	mod := loadTestKernels(t, a)
	d := a.alloc(t, 4*64)
	if rc := a.launch(a.function(t, mod, "t_wild"), 4, 64, 0, 0, unsafe.Pointer(&d)); rc != 700 {
		t.Fatalf("write to address 16: %d, want 700", rc)
	}
	if msg := a.tlLastError(); !strings.Contains(msg, "t_wild") || !strings.Contains(msg, "0x10") || !strings.Contains(msg, "thread (7,0,0)") {
		t.Errorf("message %q does not name the kernel, thread and address", msg)
	}
	depth := int32(200)
	if rc := a.launch(a.function(t, mod, "t_overflow"), 2, 64, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&depth)); rc != 700 {
		t.Fatalf("stack overflow: %d, want 700", rc)
	}
	if msg := a.tlLastError(); !strings.Contains(msg, "stack overflowed") {
		t.Errorf("message %q does not say the stack overflowed", msg)
	}
	depth = 3
	a.check(t, "shallow recursion", a.launch(a.function(t, mod, "t_overflow"), 2, 64, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&depth)))
	// Go's own faults still reach Go's handler: a nil dereference panics.
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "nil pointer") {
			t.Errorf("recovered %v, want a nil pointer panic", r)
		}
	}()
	var p *int
	_ = *p
}

// TestScheduleAlternates: consecutive launches run a block's threads in
// opposite orders between barriers, so that a missing barrier shows.
func TestScheduleAlternates(t *testing.T) {
	if os.Getenv("TL_EMU_SCHEDULE") != "" {
		t.Skip("TL_EMU_SCHEDULE pins the order")
	}
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_order")
	const n = 64
	d := a.alloc(t, 4*(1+2*n))
	counter, out := d, d+4
	orders := map[string]bool{}
	for range 2 {
		a.check(t, "memset", a.cuMemsetD32Async(counter, 0, 1, 0))
		a.check(t, "launch", a.launch(f, 1, n, 0, 0, unsafe.Pointer(&counter), unsafe.Pointer(&out)))
		var got [2 * n]int32
		a.check(t, "copy", a.cuMemcpyDtoH(unsafe.Pointer(&got[0]), out, 4*2*n))
		forward, reverse := true, true
		for i := range n {
			forward = forward && got[i] == int32(i)
			reverse = reverse && got[i] == int32(n-1-i)
		}
		switch {
		case forward:
			orders["forward"] = true
		case reverse:
			orders["reverse"] = true
		default:
			t.Fatalf("order %v is neither forward nor reverse", got)
		}
	}
	if len(orders) != 2 { // (after the barrier, the last to arrive goes on first)
		t.Errorf("two launches ran in the orders %v, want both", orders)
	}
}

func TestUnwrittenOutputIsNaN(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_even")
	const n = 100
	d := a.alloc(t, 4*n)
	nn := int32(n)
	a.check(t, "launch", a.launch(f, 1, 64, 0, 0, unsafe.Pointer(&d), unsafe.Pointer(&nn)))
	got := a.download(t, d, n)
	for i, v := range got {
		if i%2 == 0 && v != float32(i) {
			t.Fatalf("out[%d] = %v, want %d", i, v, i)
		}
		if i%2 == 1 && !math.IsNaN(float64(v)) {
			t.Fatalf("unwritten out[%d] = %v, want NaN", i, v)
		}
	}
}

func TestCaptureReplayUsesCapturedValues(t *testing.T) {
	a := open(t)
	f := a.function(t, loadTestKernels(t, a), "t_scale")
	const n = 1000
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	src := a.upload(t, x)
	d := a.alloc(t, 4*n)
	var stream uintptr
	a.check(t, "cuStreamCreate", a.cuStreamCreate(&stream, 0))
	defer a.cuStreamDestroy(stream)
	a.check(t, "begin", a.cuStreamBeginCapture(stream, 2))
	a.check(t, "captured copy", a.cuMemcpyDtoDAsync(d, src, 4*n, stream))
	s, nn := float32(2), int32(n)
	a.check(t, "captured launch", a.launch(f, 4, 256, 0, stream, unsafe.Pointer(&d), unsafe.Pointer(&s), unsafe.Pointer(&nn)))
	a.check(t, "captured launch", a.launch(f, 4, 256, 0, stream, unsafe.Pointer(&d), unsafe.Pointer(&s), unsafe.Pointer(&nn)))
	var graph uintptr
	a.check(t, "end", a.cuStreamEndCapture(stream, &graph))
	defer a.cuGraphDestroy(graph)
	// Nothing ran during capture: d is still poisoned.
	if v := a.download(t, d, 1)[0]; !math.IsNaN(float64(v)) {
		t.Fatalf("d[0] = %v after capture, want NaN (captured work must not run)", v)
	}
	s, nn = 100, 1 // the replay must use the values captured, not these
	var exec uintptr
	a.check(t, "instantiate", a.cuGraphInstantiate(&exec, graph, 0))
	defer a.cuGraphExecDestroy(exec)
	for range 2 {
		a.check(t, "graph launch", a.cuGraphLaunch(exec, stream))
		a.check(t, "sync", a.cuStreamSynchronize(stream))
		got := a.download(t, d, n)
		for i := range got {
			if got[i] != 4*x[i] {
				t.Fatalf("after replay: d[%d] = %v, want %v", i, got[i], 4*x[i])
			}
		}
	}
}

func TestSyncDuringCaptureInvalidates(t *testing.T) {
	a := open(t)
	var stream uintptr
	a.check(t, "cuStreamCreate", a.cuStreamCreate(&stream, 0))
	defer a.cuStreamDestroy(stream)
	d := a.alloc(t, 16)
	a.check(t, "begin", a.cuStreamBeginCapture(stream, 2))
	a.check(t, "memset", a.cuMemsetD32Async(d, 7, 4, stream))
	if rc := a.cuStreamSynchronize(stream); rc != 900 {
		t.Errorf("cuStreamSynchronize during capture: %d, want 900", rc)
	}
	var p uintptr
	if rc := a.cuMemAlloc(&p, 16); rc != 900 {
		t.Errorf("cuMemAlloc during capture: %d, want 900", rc)
	}
	if rc := a.cuMemsetD32Async(d, 7, 4, stream); rc != 901 {
		t.Errorf("memset after invalidation: %d, want 901", rc)
	}
	var graph uintptr
	if rc := a.cuStreamEndCapture(stream, &graph); rc != 901 || graph != 0 {
		t.Errorf("end of an invalidated capture: %d, graph %#x; want 901 and none", rc, graph)
	}
	// The stream works normally afterwards.
	a.check(t, "memset", a.cuMemsetD32Async(d, 7, 4, stream))
	a.check(t, "sync", a.cuStreamSynchronize(stream))
}

func TestDeadlockFailsInsteadOfHanging(t *testing.T) {
	a := open(t)
	mod := loadTestKernels(t, a)
	d := a.alloc(t, 4*64)
	for _, name := range []string{"t_deadlock", "t_warp_deadlock"} {
		f := a.function(t, mod, name)
		done := make(chan int32, 1)
		go func() {
			runtimeLockAndRun(func() {
				a.cuCtxSetCurrent(a.primaryContext)
				done <- a.launch(f, 2, 64, 0, 0, unsafe.Pointer(&d))
			})
		}()
		select {
		case rc := <-done:
			if rc != 719 {
				t.Errorf("%s: %d, want 719", name, rc)
			}
			if msg := a.tlLastError(); !strings.Contains(msg, "deadlock") || !strings.Contains(msg, name) {
				t.Errorf("%s: message %q", name, msg)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the launch hangs", name)
		}
	}
}

func TestCompileErrorNamesLine(t *testing.T) {
	a := open(t)
	src := "extern \"C\" __global__ void bad(float* x) {\n  x[0] = 1.0f;\n  x[1] = undefined_name;\n}\n"
	_, log, rc := a.compile(src, "bad.cu")
	if rc != 6 {
		t.Fatalf("nvrtcCompileProgram: %d, want 6 (NVRTC_ERROR_COMPILATION)", rc)
	}
	if !strings.Contains(log, "bad.cu:3") || !strings.Contains(log, "undefined_name") {
		t.Errorf("log does not name bad.cu:3:\n%s", log)
	}
}

func TestImageRebuildsMissingModule(t *testing.T) {
	a := open(t)
	dir := t.TempDir()
	t.Setenv("TL_EMU_KERNEL_CACHE", dir) // read by the library at each compile
	src := "extern \"C\" __global__ void one(float* x) { x[threadIdx.x] = 1.0f; }\n"
	img, log, rc := a.compile(src, "one.cu")
	if rc != 0 {
		t.Fatalf("compile: %d\n%s", rc, log)
	}
	sos, _ := filepath.Glob(filepath.Join(dir, "k-*.so"))
	if len(sos) != 1 {
		t.Fatalf("kernel cache %s holds %v, want one module", dir, sos)
	}
	if err := os.Remove(sos[0]); err != nil {
		t.Fatal(err)
	}
	var mod uintptr
	a.check(t, "cuModuleLoadData after the module left the cache", a.cuModuleLoadData(&mod, unsafe.Pointer(&img[0])))
	f := a.function(t, mod, "one")
	d := a.alloc(t, 4*32)
	a.check(t, "launch", a.launch(f, 1, 32, 0, 0, unsafe.Pointer(&d)))
	if v := a.download(t, d, 32)[31]; v != 1 {
		t.Errorf("x[31] = %v, want 1", v)
	}
}

func TestSystemIncludeRefused(t *testing.T) {
	a := open(t)
	src := "// #include <vector> in a comment is fine\n#line 10 \"x.cu\"\n\n  #  include <cstdio>\nextern \"C\" __global__ void k(float* x) {}\n"
	_, log, rc := a.compile(src, "inc.cu")
	if rc != 6 {
		t.Fatalf("#include <cstdio>: %d, want 6", rc)
	}
	if !strings.Contains(log, "x.cu:11: error: #include <cstdio>") || strings.Contains(log, "vector") {
		t.Errorf("log %q does not name x.cu:11 and cstdio alone", log)
	}
}

func TestUnknownFunction(t *testing.T) {
	a := open(t)
	mod := loadTestKernels(t, a)
	var f uintptr
	if rc := a.cuModuleGetFunction(&f, mod, "no_such_kernel"); rc != 500 {
		t.Errorf("unknown kernel: %d, want 500", rc)
	}
	if rc := a.cuModuleLoadData(&f, unsafe.Pointer(&[]byte("//\n.version 8.0\n\x00")[0])); rc != 200 {
		t.Errorf("loading PTX: %d, want 200", rc)
	}
}

func TestEvents(t *testing.T) {
	a := open(t)
	var e1, e2 uintptr
	a.check(t, "event", a.cuEventCreate(&e1, 0))
	a.check(t, "event", a.cuEventCreate(&e2, 0))
	a.check(t, "record", a.cuEventRecord(e1, 0))
	time.Sleep(5 * time.Millisecond)
	a.check(t, "record", a.cuEventRecord(e2, 0))
	var ms float32
	a.check(t, "elapsed", a.cuEventElapsedTime(&ms, e1, e2))
	if ms < 4 || ms > 5000 {
		t.Errorf("elapsed %v ms, want about 5", ms)
	}
}

// gemmRef is C = alpha·op(A)·op(B) + beta·C in column-major order.
func gemmRef(ta, tb bool, m, n, k int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	for j := range n {
		for i := range m {
			var s float64
			for l := range k {
				ai, bi := i+l*lda, l+j*ldb
				if ta {
					ai = l + i*lda
				}
				if tb {
					bi = j + l*ldb
				}
				av, bv := A[ai], B[bi]
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(C[i+j*ldc])
			}
			C[i+j*ldc] = float32(v)
		}
	}
}

func TestSgemm(t *testing.T) {
	a := open(t)
	var h uintptr
	a.check(t, "cublasCreate", a.cublasCreate(&h))
	rng := rand.New(rand.NewPCG(3, 4))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = rng.Float32()*2 - 1
		}
		return v
	}
	for trial := range 16 {
		ta, tb := trial%2 == 1, trial/2%2 == 1
		m, n, k := 1+rng.IntN(40), 1+rng.IntN(40), 1+rng.IntN(40)
		if trial >= 12 { // large enough to be split over threads, by rows or by columns
			m, n, k = 300+rng.IntN(200), 20+rng.IntN(20), 400+rng.IntN(100)
			if trial%2 == 0 {
				m, n = n, m
			}
		}
		rowsA, colsA := m, k
		if ta {
			rowsA, colsA = k, m
		}
		rowsB, colsB := k, n
		if tb {
			rowsB, colsB = n, k
		}
		lda, ldb, ldc := rowsA+rng.IntN(3), rowsB+rng.IntN(3), m+rng.IntN(3)
		A, B, C := randv(lda*colsA), randv(ldb*colsB), randv(ldc*n)
		alpha, beta := float32(1.5), float32(0)
		if trial >= 6 {
			beta = 0.5
		}
		dA, dB, dC := a.upload(t, A), a.upload(t, B), a.alloc(t, 4*len(C))
		if beta != 0 {
			a.check(t, "copy C", a.cuMemcpyHtoD(dC, unsafe.Pointer(&C[0]), uintptr(4*len(C))))
		} // else dC is NaN-poisoned, which beta = 0 must ignore
		b2i := func(b bool) int32 {
			if b {
				return 1
			}
			return 0
		}
		a.check(t, "sgemm", a.cublasSgemm(h, b2i(ta), b2i(tb), int32(m), int32(n), int32(k), &alpha, dA, int32(lda), dB, int32(ldb), &beta, dC, int32(ldc)))
		gemmRef(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
		got := a.download(t, dC, len(C))
		for j := range n {
			for i := range m {
				if d := math.Abs(float64(got[i+j*ldc] - C[i+j*ldc])); d > 1e-4*math.Max(1, math.Abs(float64(C[i+j*ldc]))) || math.IsNaN(float64(got[i+j*ldc])) {
					t.Fatalf("trial %d (ta=%v tb=%v m=%d n=%d k=%d): C[%d,%d] = %v, want %v", trial, ta, tb, m, n, k, i, j, got[i+j*ldc], C[i+j*ldc])
				}
			}
		}
	}
	// A matrix that does not fit its allocation is an error, not a wild read.
	small := a.alloc(t, 16)
	one := float32(1)
	if rc := a.cublasSgemm(h, 0, 0, 8, 8, 8, &one, small, 8, small, 8, &one, small, 8); rc != 13 {
		t.Errorf("sgemm out of bounds: %d, want 13 (CUBLAS_STATUS_EXECUTION_FAILED)", rc)
	}
	if rc := a.cublasSgemm(h, 0, 0, 8, 8, 8, &one, small, 4, small, 8, &one, small, 8); rc != 7 {
		t.Errorf("sgemm with lda < m: %d, want 7 (CUBLAS_STATUS_INVALID_VALUE)", rc)
	}
}

func TestSgemmCapturedAndBatched(t *testing.T) {
	a := open(t)
	var h, stream uintptr
	a.check(t, "cublasCreate", a.cublasCreate(&h))
	a.check(t, "cuStreamCreate", a.cuStreamCreate(&stream, 0))
	defer a.cuStreamDestroy(stream)
	a.check(t, "cublasSetStream", a.cublasSetStream(h, stream))
	// Two 2×2 products, C_i = A_i·B_i, through device arrays of pointers.
	A := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	B := []float32{1, 0, 0, 1, 2, 0, 0, 2}
	dA, dB, dC := a.upload(t, A), a.upload(t, B), a.alloc(t, 32)
	ptrs := []uintptr{dA, dA + 16, dB, dB + 16, dC, dC + 16}
	dp := a.alloc(t, 8*len(ptrs))
	a.check(t, "copy", a.cuMemcpyHtoD(dp, unsafe.Pointer(&ptrs[0]), uintptr(8*len(ptrs))))
	alpha, beta := float32(1), float32(0)
	a.check(t, "begin", a.cuStreamBeginCapture(stream, 2))
	a.check(t, "batched", a.cublasSgemmBatched(h, 0, 0, 2, 2, 2, &alpha, dp, 2, dp+16, 2, &beta, dp+32, 2, 2))
	alpha = 10 // captured by value: the replay uses 1
	var graph, exec uintptr
	a.check(t, "end", a.cuStreamEndCapture(stream, &graph))
	a.check(t, "instantiate", a.cuGraphInstantiate(&exec, graph, 0))
	a.check(t, "graph launch", a.cuGraphLaunch(exec, stream))
	got := a.download(t, dC, 8)
	want := []float32{1, 2, 3, 4, 10, 12, 14, 16}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("C = %v, want %v", got, want)
		}
	}
	a.cuGraphExecDestroy(exec)
	a.cuGraphDestroy(graph)
}

func TestKernelSetCompilesAndSteps(t *testing.T) {
	a := open(t)
	mod := a.module(t, kernels.Source(), "kernels.cu")
	f := a.function(t, mod, "tl_step")
	counter := a.alloc(t, 8)
	slots := a.alloc(t, 4*10)
	a.check(t, "memset", a.cuMemsetD32Async(counter, 0, 2, 0))
	a.check(t, "memset", a.cuMemsetD32Async(slots, 9, 10, 0))
	nslots := int32(10)
	for range 3 {
		a.check(t, "tl_step", a.launch(f, 2, 256, 0, 0, unsafe.Pointer(&counter), unsafe.Pointer(&slots), unsafe.Pointer(&nslots)))
	}
	var c uint64
	a.check(t, "copy", a.cuMemcpyDtoH(unsafe.Pointer(&c), counter, 8))
	if c != 3 {
		t.Errorf("counter %d after 3 steps, want 3", c)
	}
	got := a.download(t, slots, 10)
	for i, v := range got {
		if math.Float32bits(v) != 0 {
			t.Errorf("slot %d = %#x, want 0", i, math.Float32bits(v))
		}
	}
}
