package cuda_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
)

func alloc(t *testing.T, d *cuda.Device, bytes int) graph.DevicePtr {
	t.Helper()
	p, err := d.Alloc(bytes)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func upload(t *testing.T, d *cuda.Device, x []float32) graph.DevicePtr {
	t.Helper()
	p := alloc(t, d, 4*len(x))
	if err := d.CopyToDevice(p, unsafe.Pointer(&x[0]), 4*len(x)); err != nil {
		t.Fatal(err)
	}
	return p
}

func download[T any](t *testing.T, d *cuda.Device, p graph.DevicePtr, n int) []T {
	t.Helper()
	out := make([]T, n)
	if err := d.CopyFromDevice(unsafe.Pointer(&out[0]), p, n*int(unsafe.Sizeof(out[0]))); err != nil {
		t.Fatal(err)
	}
	return out
}

func randoms(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

func TestDeviceInfo(t *testing.T) {
	d := cudatest.Open(t)
	major, _ := d.ComputeCapability()
	if major < 5 || d.SMs() <= 0 || d.TotalMemory() <= 0 {
		t.Errorf("%s: compute capability %d, %d SMs, %d bytes", d.Name(), major, d.SMs(), d.TotalMemory())
	}
	if !strings.Contains(d.Name(), fmt.Sprintf("(%s, %d SMs)", d.Arch(), d.SMs())) {
		t.Errorf("Name %q lacks the architecture and SM count", d.Name())
	}
	t.Logf("%s: %s, driver %d, %d MiB", cudatest.Kind(d), d.Name(), d.DriverVersion(), d.TotalMemory()>>20)
}

func TestAllocCaching(t *testing.T) {
	d := cudatest.Open(t)
	// The GPU rounds to 512 bytes and 2 MiB; the emulator keeps exact sizes
	// (its guard bytes then catch overruns).
	small, large := int64(1024), int64(4<<20)
	if d.Emulated() {
		small, large = 1000, 3<<20
	}
	p := alloc(t, d, 1000)
	big := alloc(t, d, 3<<20)
	if s := d.Stats(); s.InUse != small+large || s.DeviceAllocs != 2 || s.Hits != 0 {
		t.Errorf("after two allocs: %+v, want %d in use from 2 device allocs", s, small+large)
	}
	d.Free(p)
	d.Free(big)
	if s := d.Stats(); s.InUse != 0 || s.Cached != small+large {
		t.Errorf("after freeing: %+v, want all cached", s)
	}
	ask := 1000
	if !d.Emulated() {
		ask = 600 // rounds to the same 1024-byte block
	}
	q := alloc(t, d, ask)
	if q != p {
		t.Errorf("Alloc(%d) after freeing the block of Alloc(1000): %#x, want the block %#x", ask, q, p)
	}
	if s := d.Stats(); s.Hits != 1 || s.DeviceAllocs != 2 || s.Peak != small+large {
		t.Errorf("after a cached alloc: %+v, want 1 hit, 2 device allocs, peak %d", s, small+large)
	}
	if err := d.Trim(); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Cached != 0 || s.InUse != small {
		t.Errorf("after Trim: %+v, want nothing cached, %d in use", s, small)
	}
	d.Free(q)
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "already freed") {
				t.Errorf("freeing twice: recovered %v, want a panic about it", r)
			}
		}()
		d.Free(q)
	}()
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "not a pointer from Alloc") {
				t.Errorf("freeing an unknown pointer: recovered %v, want a panic about it", r)
			}
		}()
		d.Free(q + 4)
	}()
}

func TestCopyRoundTrip(t *testing.T) {
	d := cudatest.Open(t)
	r := rand.New(rand.NewPCG(1, 2))
	x := randoms(r, 10007)
	a := upload(t, d, x)
	b := alloc(t, d, 4*len(x))
	if err := d.CopyDevice(b, a, 4*len(x)); err != nil {
		t.Fatal(err)
	}
	got := download[float32](t, d, b, len(x))
	for i := range x {
		if got[i] != x[i] {
			t.Fatalf("element %d: %v, want %v", i, got[i], x[i])
		}
	}
}

func TestMemset32(t *testing.T) {
	d := cudatest.Open(t)
	const n = 1000
	p := upload(t, d, make([]float32, n+1))
	if err := d.Memset32(p, math.Float32bits(-2.5), n); err != nil {
		t.Fatal(err)
	}
	got := download[float32](t, d, p, n+1)
	for i, v := range got[:n] {
		if v != -2.5 {
			t.Fatalf("word %d: %v, want -2.5", i, v)
		}
	}
	if got[n] != 0 {
		t.Errorf("Memset32 wrote past n: %v", got[n])
	}
}

// step queues kernels/core.cu's tl_step, which increments *counter and clears slots.
func step(t *testing.T, d *cuda.Device, counter, slots graph.DevicePtr, nslots int32) {
	t.Helper()
	f, err := d.Function("tl_step")
	if err != nil {
		t.Fatal(err)
	}
	params := []unsafe.Pointer{unsafe.Pointer(&counter), unsafe.Pointer(&slots), unsafe.Pointer(&nslots)}
	if err := d.Launch(f, graph.Dim3{X: 2, Y: 1, Z: 1}, graph.Dim3{X: 64, Y: 1, Z: 1}, 0, params); err != nil {
		t.Fatal(err)
	}
}

func TestLaunchStep(t *testing.T) {
	d := cudatest.Open(t)
	counter := alloc(t, d, 8)
	if err := d.Memset32(counter, 0, 2); err != nil {
		t.Fatal(err)
	}
	const nslots = 300 // more than the 128 threads launched: the loop strides
	slots := alloc(t, d, 4*nslots)
	if err := d.Memset32(slots, 7, nslots); err != nil {
		t.Fatal(err)
	}
	step(t, d, counter, slots, nslots)
	step(t, d, counter, slots, nslots)
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if c := download[uint64](t, d, counter, 1)[0]; c != 2 {
		t.Errorf("counter after two steps: %d, want 2", c)
	}
	for i, v := range download[int32](t, d, slots, nslots) {
		if v != 0 {
			t.Fatalf("slot %d: %d, want 0", i, v)
		}
	}
}

func TestUnknownKernel(t *testing.T) {
	d := cudatest.Open(t)
	_, err := d.Function("tl_no_such_kernel")
	if err == nil || !strings.Contains(err.Error(), `"tl_no_such_kernel"`) {
		t.Fatalf("Function of an unknown name: %v, want an error naming it", err)
	}
}

func TestCapture(t *testing.T) {
	d := cudatest.Open(t)
	counter := alloc(t, d, 8)
	slots := alloc(t, d, 4)
	if err := d.Memset32(counter, 0, 2); err != nil {
		t.Fatal(err)
	}
	g, err := d.Capture(func() error {
		step(t, d, counter, slots, 1)
		return d.Memset32(slots, 9, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if c := download[uint64](t, d, counter, 1)[0]; c != 0 {
		t.Fatalf("capturing ran the work: counter %d", c)
	}
	for range 3 {
		if err := g.Launch(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if c := download[uint64](t, d, counter, 1)[0]; c != 3 {
		t.Errorf("counter after three replays: %d, want 3", c)
	}
	if s := download[int32](t, d, slots, 1)[0]; s != 9 {
		t.Errorf("slot after the replays: %d, want 9 (the captured fill)", s)
	}

	// A failing run ends the capture, returns its error, and leaves the device usable.
	want := fmt.Errorf("run failed")
	if _, err := d.Capture(func() error { return want }); err == nil || !strings.Contains(err.Error(), "run failed") {
		t.Errorf("Capture of a failing run: %v", err)
	}
	if _, err := d.Capture(func() error { return d.Synchronize() }); err == nil {
		t.Error("Synchronize inside Capture succeeded")
	}
	step(t, d, counter, slots, 1)
	if c := download[uint64](t, d, counter, 1)[0]; c != 4 {
		t.Errorf("counter after a direct step following failed captures: %d, want 4", c)
	}
}

func TestTimer(t *testing.T) {
	d := cudatest.Open(t)
	tm, err := d.NewTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if err := tm.Start(); err != nil {
		t.Fatal(err)
	}
	p := alloc(t, d, 4<<20)
	if err := d.Memset32(p, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	ms, err := tm.Stop()
	if err != nil || ms < 0 || math.IsNaN(float64(ms)) {
		t.Fatalf("Stop: %v ms, %v", ms, err)
	}
}

// gemmRef is C = alpha·op(A)·op(B) + beta·C on row-major matrices.
func gemmRef(a graph.GemmArgs, A, B, C []float32) {
	for i := 0; i < a.M; i++ {
		for j := 0; j < a.N; j++ {
			var s float64
			for k := 0; k < a.K; k++ {
				var av, bv float32
				if a.TransA {
					av = A[k*a.LDA+i]
				} else {
					av = A[i*a.LDA+k]
				}
				if a.TransB {
					bv = B[j*a.LDB+k]
				} else {
					bv = B[k*a.LDB+j]
				}
				s += float64(av) * float64(bv)
			}
			C[i*a.LDC+j] = a.Alpha*float32(s) + a.Beta*C[i*a.LDC+j]
		}
	}
}

func TestGemm(t *testing.T) {
	d := cudatest.Open(t)
	r := rand.New(rand.NewPCG(3, 4))
	const M, N, K = 5, 7, 3
	for _, batch := range []int{1, 3} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				a := graph.GemmArgs{TransA: ta, TransB: tb, M: M, N: N, K: K, Alpha: 1.5, Beta: 0.5, Batch: batch}
				rowsA, rowsB := M, K // stored shapes; padded rows check the leading dimensions
				a.LDA, a.LDB, a.LDC = K+2, N+1, N+3
				if ta {
					rowsA, a.LDA = K, M+1
				}
				if tb {
					rowsB, a.LDB = N, K+2
				}
				a.StrideA, a.StrideB, a.StrideC = rowsA*a.LDA, rowsB*a.LDB, M*a.LDC
				A := randoms(r, batch*a.StrideA)
				B := randoms(r, batch*a.StrideB)
				C := randoms(r, batch*a.StrideC)
				a.A, a.B, a.C = upload(t, d, A), upload(t, d, B), upload(t, d, C)
				if err := d.Gemm(a); err != nil {
					t.Fatal(err)
				}
				got := download[float32](t, d, a.C, len(C))
				for b := range batch {
					gemmRef(a, A[b*a.StrideA:], B[b*a.StrideB:], C[b*a.StrideC:])
				}
				for i := range C {
					if math.Abs(float64(got[i]-C[i])) > 1e-4*(1+math.Abs(float64(C[i]))) {
						t.Errorf("batch %d, transA %v, transB %v: C[%d] = %v, want %v", batch, ta, tb, i, got[i], C[i])
						break
					}
				}
				d.Free(a.A)
				d.Free(a.B)
				d.Free(a.C)
			}
		}
	}
}

func TestGemmValidation(t *testing.T) {
	d := cudatest.Open(t)
	p := alloc(t, d, 1024)
	ok := graph.GemmArgs{M: 2, N: 3, K: 4, Alpha: 1, A: p, B: p, C: p, LDA: 4, LDB: 3, LDC: 3}
	for name, mod := range map[string]func(*graph.GemmArgs){
		"zero M":    func(a *graph.GemmArgs) { a.M = 0 },
		"short LDA": func(a *graph.GemmArgs) { a.LDA = 3 },
		"short LDB": func(a *graph.GemmArgs) { a.TransB, a.LDB = true, 3 },
		"short LDC": func(a *graph.GemmArgs) { a.LDC = 2 },
		"nil C":     func(a *graph.GemmArgs) { a.C = 0 },
	} {
		a := ok
		mod(&a)
		if err := d.Gemm(a); err == nil || !strings.Contains(err.Error(), "cuda: gemm ") {
			t.Errorf("%s: %v, want an error naming the gemm", name, err)
		}
	}
}

// TestOwnSourceNoParams compiles a kernel set of the test's own and launches
// a kernel without parameters (params is NULL) and one that needs more than
// the default 48 KiB of dynamic shared memory.
func TestOwnSourceNoParams(t *testing.T) {
	src := `
#ifdef TL_EMULATOR
#define TL_DYN_SHARED(T, name) T* name = (T*)tl_emu_dynamic_shared()
#else
#define TL_DYN_SHARED(T, name) extern __shared__ T name[]
#endif
extern "C" __global__ void tl_test_nothing() {}
extern "C" __global__ void tl_test_shared(float* out) {
  TL_DYN_SHARED(float, buf);
  buf[threadIdx.x] = (float)threadIdx.x;
  __syncthreads();
  if (threadIdx.x == 0) out[0] = buf[blockDim.x - 1];
}
`
	d := cudatest.OpenConfig(t, cuda.Config{Source: src})
	f, err := d.Function("tl_test_nothing")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Launch(f, graph.Dim3{X: 1}, graph.Dim3{X: 32}, 0, nil); err != nil {
		t.Fatal(err)
	}
	g, err := d.Function("tl_test_shared")
	if err != nil {
		t.Fatal(err)
	}
	out := alloc(t, d, 4)
	const shared = 64 << 10 // above 48 KiB: needs the opt-in attribute
	if err := d.Launch(g, graph.Dim3{X: 1}, graph.Dim3{X: 128}, shared, []unsafe.Pointer{unsafe.Pointer(&out)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if v := download[float32](t, d, out, 1)[0]; v != 127 {
		t.Errorf("tl_test_shared wrote %v, want 127", v)
	}
	if _, err := d.Function("tl_step"); err == nil {
		t.Error("tl_step found in a kernel set without it")
	}
}
