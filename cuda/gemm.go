package cuda

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/tlgo/tl/graph"
)

// cublas is the loaded cuBLAS with this device's handle.
type cublas struct {
	lib       *dylib
	handle    uintptr
	workspace graph.DevicePtr
	version   int

	create, destroy, setStream, setMathMode, setWorkspace, sgemm, sgemmBatched, getVersion uintptr
}

// cuBLAS math modes.
const (
	cublasDefaultMath = 0
	cublasTF32Math    = 3
)

// workspaceBytes is cuBLAS's workspace: fixed, so that a captured gemm never
// allocates. 32 MiB is NVIDIA's advice for Hopper and newer, 4 MiB before.
func (d *Device) workspaceBytes() int {
	if d.ccMajor >= 9 {
		return 32 << 20
	}
	return 4 << 20
}

// cublasLocked creates the cuBLAS handle on first use, bound to the stream,
// with its workspace from the allocator. A failure is kept and returned again.
// The context is current.
func (d *Device) cublasLocked() (*cublas, error) {
	if d.blas != nil || d.blasErr != nil {
		return d.blas, d.blasErr
	}
	b, err := d.newCublas()
	if err != nil {
		d.blasErr = fmt.Errorf("cuda: cuBLAS for %s: %w", d.Name(), err)
		return nil, d.blasErr
	}
	d.blas = b
	return b, nil
}

func (d *Device) newCublas() (*cublas, error) {
	lib, err := load(LibCUBLAS, d.cfg)
	if err != nil {
		return nil, err
	}
	b := &cublas{lib: lib}
	if err := lib.syms(map[string]*uintptr{
		"cublasCreate_v2": &b.create, "cublasDestroy_v2": &b.destroy, "cublasSetStream_v2": &b.setStream,
		"cublasSetMathMode": &b.setMathMode, "cublasSetWorkspace_v2": &b.setWorkspace,
		"cublasSgemm_v2": &b.sgemm, "cublasSgemmStridedBatched": &b.sgemmBatched, "cublasGetVersion_v2": &b.getVersion,
	}); err != nil {
		return nil, err
	}
	if r := call(b.create, uintptr(unsafe.Pointer(&b.handle))); r != 0 {
		return nil, cublasError("cublasCreate_v2", r)
	}
	ws, err := d.allocLocked(d.workspaceBytes())
	if err != nil {
		call(b.destroy, b.handle)
		return nil, fmt.Errorf("workspace: %w", err)
	}
	b.workspace = ws
	mode := cublasDefaultMath
	if d.cfg.TF32 {
		mode = cublasTF32Math
	}
	var v int32
	err = errors.Join(
		statusErr("cublasSetStream_v2", call(b.setStream, b.handle, d.stream)),
		statusErr("cublasSetWorkspace_v2", call(b.setWorkspace, b.handle, uintptr(ws), uintptr(d.workspaceBytes()))),
		statusErr("cublasSetMathMode", call(b.setMathMode, b.handle, uintptr(mode))),
		statusErr("cublasGetVersion_v2", call(b.getVersion, b.handle, uintptr(unsafe.Pointer(&v)))),
	)
	if err != nil {
		call(b.destroy, b.handle)
		d.freeLocked(ws)
		return nil, err
	}
	b.version = int(v)
	return b, nil
}

func statusErr(fn string, code int) error {
	if code == 0 {
		return nil
	}
	return cublasError(fn, code)
}

// close destroys the handle (the workspace goes with the allocator's blocks).
func (b *cublas) close() error {
	return statusErr("cublasDestroy_v2", call(b.destroy, b.handle))
}

// CUBLASVersion loads cuBLAS if needed and returns its version (e.g. 130000).
func (d *Device) CUBLASVersion() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.enter(); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	b, err := d.cublasLocked()
	if err != nil {
		return 0, err
	}
	return b.version, nil
}

// checkGemm validates row-major GemmArgs before cuBLAS sees them.
func checkGemm(a graph.GemmArgs) error {
	rowA, rowB := a.K, a.N // row lengths of A and B as stored
	if a.TransA {
		rowA = a.M
	}
	if a.TransB {
		rowB = a.K
	}
	batch := max(a.Batch, 1)
	switch {
	case a.M <= 0 || a.N <= 0 || a.K <= 0:
		return errors.New("sizes must be positive")
	case a.Batch < 0:
		return fmt.Errorf("batch %d", a.Batch)
	case a.A == 0 || a.B == 0 || a.C == 0:
		return errors.New("nil matrix")
	case a.LDA < rowA:
		return fmt.Errorf("LDA %d is shorter than A's rows (%d)", a.LDA, rowA)
	case a.LDB < rowB:
		return fmt.Errorf("LDB %d is shorter than B's rows (%d)", a.LDB, rowB)
	case a.LDC < a.N:
		return fmt.Errorf("LDC %d is shorter than C's rows (%d)", a.LDC, a.N)
	case batch > 1 && (a.StrideA < 0 || a.StrideB < 0 || a.StrideC <= 0):
		return fmt.Errorf("strides A %d, B %d, C %d", a.StrideA, a.StrideB, a.StrideC)
	case max(a.M, a.N, a.K, a.LDA, a.LDB, a.LDC, batch) > math.MaxInt32:
		return errors.New("a size does not fit cuBLAS's int")
	}
	return nil
}

// Gemm queues C = Alpha·op(A)·op(B) + Beta·C (row-major, see graph.GemmArgs) as
// a cuBLAS product. cuBLAS is column-major, where a row-major matrix reads as
// its transpose, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ: A and B swap, M and N
// swap, the transpose flags and leading dimensions stay.
func (d *Device) Gemm(a graph.GemmArgs) error {
	if err := checkGemm(a); err != nil {
		return fmt.Errorf("cuda: gemm %dx%dx%d (batch %d, trans %v/%v, ld %d/%d/%d): %w",
			a.M, a.N, a.K, a.Batch, a.TransA, a.TransB, a.LDA, a.LDB, a.LDC, err)
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d.mu.Lock()
	b, err := d.cublasLocked()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	op := func(t bool) uintptr {
		if t {
			return 1 // CUBLAS_OP_T
		}
		return 0 // CUBLAS_OP_N
	}
	alpha, beta := a.Alpha, a.Beta
	var r int
	fn := "cublasSgemm_v2"
	if a.Batch <= 1 {
		r = call(b.sgemm, b.handle, op(a.TransB), op(a.TransA), uintptr(a.N), uintptr(a.M), uintptr(a.K),
			uintptr(unsafe.Pointer(&alpha)), uintptr(a.B), uintptr(a.LDB), uintptr(a.A), uintptr(a.LDA),
			uintptr(unsafe.Pointer(&beta)), uintptr(a.C), uintptr(a.LDC))
	} else {
		fn = "cublasSgemmStridedBatched"
		r = call(b.sgemmBatched, b.handle, op(a.TransB), op(a.TransA), uintptr(a.N), uintptr(a.M), uintptr(a.K),
			uintptr(unsafe.Pointer(&alpha)), uintptr(a.B), uintptr(a.LDB), uintptr(a.StrideB),
			uintptr(a.A), uintptr(a.LDA), uintptr(a.StrideA),
			uintptr(unsafe.Pointer(&beta)), uintptr(a.C), uintptr(a.LDC), uintptr(a.StrideC), uintptr(a.Batch))
	}
	if r != 0 {
		return fmt.Errorf("cuda: gemm %dx%dx%d (batch %d): %w", a.M, a.N, a.K, a.Batch, cublasError(fn, r))
	}
	return nil
}
