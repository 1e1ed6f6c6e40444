package graph

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/tlgo/tl/tensor"
)

// DevicePtr is an address in a device's memory.
type DevicePtr uintptr

// DeviceFunc is a compiled device kernel, as the device names it.
type DeviceFunc uintptr

// Dim3 is a launch's grid or block size.
type Dim3 struct{ X, Y, Z uint32 }

// GemmArgs describe C = Alpha·op(A)·op(B) + Beta·C on row-major matrices: op(A) is
// M×K, op(B) K×N, C M×N; LDA, LDB and LDC are row strides in elements. Batch > 1
// runs Batch products whose matrices start Stride* elements apart.
type GemmArgs struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A, B, C        DevicePtr
	LDA, LDB, LDC  int
	Batch          int
	StrideA        int
	StrideB        int
	StrideC        int
}

// Device is a second backend: memory, kernels and launches on an accelerator.
// cuda.Device implements it. Work is queued in order on one stream; the calls
// marked async may be recorded by Capture and replayed as one graph.
type Device interface {
	// Name says which device this is ("NVIDIA H200 (sm_90)").
	Name() string
	// Alloc returns bytes of device memory (from a cache: no device call per step).
	Alloc(bytes int) (DevicePtr, error)
	// Free returns memory to the cache.
	Free(p DevicePtr)
	// CopyToDevice copies host memory to the device once queued work is done.
	CopyToDevice(dst DevicePtr, src unsafe.Pointer, bytes int) error
	// CopyFromDevice waits for queued work, then copies device memory to the host.
	CopyFromDevice(dst unsafe.Pointer, src DevicePtr, bytes int) error
	// CopyDevice queues a device-to-device copy (async).
	CopyDevice(dst, src DevicePtr, bytes int) error
	// Memset32 queues filling n 32-bit words with v (async).
	Memset32(dst DevicePtr, v uint32, n int) error
	// Function returns the kernel of that name from the engine's kernel set.
	Function(name string) (DeviceFunc, error)
	// Launch queues a kernel (async). params holds one pointer per kernel
	// parameter, to the parameter's value, as cuLaunchKernel takes them.
	Launch(f DeviceFunc, grid, block Dim3, sharedBytes int, params []unsafe.Pointer) error
	// Gemm queues a matrix product (async).
	Gemm(a GemmArgs) error
	// Synchronize waits for all queued work and reports a failure of any of it.
	Synchronize() error
	// Capture records the async work that run queues, without running it, as a
	// graph that Launch replays.
	Capture(run func() error) (DeviceGraph, error)
}

// DeviceGraph is a recorded sequence of device work.
type DeviceGraph interface {
	Launch() error
	Close()
}

// DeviceProfiler is implemented by devices that can time their own queue
// (cuda.Device, with CUDA events); DevicePlan.Profile needs it.
type DeviceProfiler interface {
	// NewMarks returns n marks to record between queued work.
	NewMarks(n int) (DeviceMarks, error)
}

// DeviceMarks are timestamps recorded in a device's queue.
type DeviceMarks interface {
	// Record queues mark i: it is stamped when the work queued before it is done.
	Record(i int) error
	// Elapsed is the device time from mark i to mark j in milliseconds, once
	// both are stamped (after a Synchronize).
	Elapsed(i, j int) (float32, error)
	Close()
}

// DeviceTensor is a tensor in device memory.
type DeviceTensor struct {
	Ptr   DevicePtr
	Shape tensor.Shape
	DType tensor.DType
}

// Size is the number of elements.
func (t DeviceTensor) Size() int { return t.Shape.Size() }

// At returns the address of element i (all dtypes are 4 bytes wide).
func (t DeviceTensor) At(i int) DevicePtr { return t.Ptr + DevicePtr(4*i) }

func (t DeviceTensor) String() string { return fmt.Sprintf("%v%v", t.DType, t.Shape) }

// DeviceOp is an Op that runs on a Device. CompileDevice is Compile's twin: it
// binds the op to device tensors and returns a kernel whose Run queues the
// device work (launches through c). It runs once per plan; Run must not allocate.
type DeviceOp interface {
	CompileDevice(c *DeviceCtx, in []DeviceTensor, out DeviceTensor) (Kernel, error)
}

// DeviceScratch is temporary device memory a kernel uses while it runs.
type DeviceScratch struct {
	Ptr   DevicePtr
	Bytes int
}

// DeviceCtx is what an op's CompileDevice may use.
type DeviceCtx struct {
	Dev Device
	// Training is true in plans compiled for training.
	Training bool
	// Seed is the node's seed, the same as the CPU plan's KernelCtx.Seed.
	Seed uint64
	// Node is the node being compiled.
	Node *Node

	p       *DevicePlan
	slot    int // this node's error slot, or -1 before ErrorSlot is called
	onError func(code int32) error
}

// Fail reports an error met while queueing work (a failed launch). The plan stops
// after the current kernel and Run returns the error.
func (c *DeviceCtx) Fail(err error) {
	if c.p.runErr == nil {
		c.p.runErr = err
	}
}

// Counter returns the address of a device uint64 that every run of the plan
// increments before its first kernel: random kernels combine it with Seed so
// that each step (and each replay of a captured graph) draws new numbers.
func (c *DeviceCtx) Counter() DevicePtr { return c.p.counter }

// ErrorSlot returns the address of a device int32, zero before each run, that the
// node's kernels set to a non-zero code on bad input (an index out of range). The
// plan reads the slots after each run and returns format(code) as the error of the
// node; format may be nil for a generic message.
func (c *DeviceCtx) ErrorSlot(format func(code int32) error) DevicePtr {
	if c.slot < 0 {
		c.slot = c.p.newSlot(c.Node, format)
	}
	return c.p.slots + DevicePtr(4*c.slot)
}

// Scratch returns device memory for this node's kernels, owned by the plan.
func (c *DeviceCtx) Scratch(bytes int) (*DeviceScratch, error) {
	p, err := c.Dev.Alloc(max(bytes, 4))
	if err != nil {
		return nil, fmt.Errorf("scratch of %d bytes: %w", bytes, err)
	}
	c.p.owned = append(c.p.owned, p)
	return &DeviceScratch{Ptr: p, Bytes: bytes}, nil
}

// Launch prepares a launch of the named kernel. Arguments are packed once, here,
// in the kernel's parameter order: DevicePtr and uintptr as pointers, int and
// int32 as C int (range-checked), uint32, int64, uint64, float32 as themselves,
// bool as an int. The returned kernel queues the launch each run.
func (c *DeviceCtx) Launch(kernel string, grid, block Dim3, sharedBytes int, args ...any) (Kernel, error) {
	f, err := c.Dev.Function(kernel)
	if err != nil {
		return nil, err
	}
	slots := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		var v uint64
		switch x := a.(type) {
		case DevicePtr:
			v = uint64(x)
		case uintptr:
			v = uint64(x)
		case int:
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, fmt.Errorf("kernel %s: argument %d = %d does not fit a C int", kernel, i, x)
			}
			v = uint64(uint32(int32(x)))
		case int32:
			v = uint64(uint32(x))
		case uint32:
			v = uint64(x)
		case int64:
			v = uint64(x)
		case uint64:
			v = x
		case float32:
			v = uint64(math.Float32bits(x))
		case bool:
			if x {
				v = 1
			}
		default:
			return nil, fmt.Errorf("kernel %s: argument %d has unsupported type %T", kernel, i, a)
		}
		slots[i] = v
		params[i] = unsafe.Pointer(&slots[i])
	}
	if grid.X == 0 || block.X == 0 {
		return nil, fmt.Errorf("kernel %s: empty launch (grid %v, block %v)", kernel, grid, block)
	}
	grid, block = fill1(grid), fill1(block)
	p, node := c.p, c.Node
	return KernelFunc(func() {
		if err := p.dev.Launch(f, grid, block, sharedBytes, params); err != nil && p.runErr == nil {
			p.runErr = fmt.Errorf("launching %s for %s: %w", kernel, node.name, err)
		}
		_ = slots // keep the argument values alive with the kernel
	}), nil
}

func fill1(d Dim3) Dim3 {
	d.Y, d.Z = max(d.Y, 1), max(d.Z, 1)
	return d
}

// BlockSize is the block size of Launch1D.
const BlockSize = 256

// Launch1D prepares a launch over n elements: blocks of BlockSize threads, at
// most 65535·4 blocks, for kernels written as grid-stride loops
// (for i := blockIdx.x*blockDim.x+threadIdx.x; i < n; i += blockDim.x*gridDim.x).
func (c *DeviceCtx) Launch1D(kernel string, n int, args ...any) (Kernel, error) {
	blocks := min(max((n+BlockSize-1)/BlockSize, 1), 65535*4)
	return c.Launch(kernel, Dim3{X: uint32(blocks)}, Dim3{X: BlockSize}, 0, args...)
}

// Gemm prepares a matrix product.
func (c *DeviceCtx) Gemm(a GemmArgs) Kernel {
	p, node := c.p, c.Node
	return KernelFunc(func() {
		if err := p.dev.Gemm(a); err != nil && p.runErr == nil {
			p.runErr = fmt.Errorf("gemm for %s (%dx%dx%d): %w", node.name, a.M, a.N, a.K, err)
		}
	})
}

// Copy prepares a device-to-device copy of n elements.
func (c *DeviceCtx) Copy(dst, src DevicePtr, n int) Kernel {
	p, node := c.p, c.Node
	return KernelFunc(func() {
		if err := p.dev.CopyDevice(dst, src, 4*n); err != nil && p.runErr == nil {
			p.runErr = fmt.Errorf("copy for %s: %w", node.name, err)
		}
	})
}

// Fill prepares filling n 32-bit words at dst with the bits of v.
func (c *DeviceCtx) Fill(dst DevicePtr, v uint32, n int) Kernel {
	p, node := c.p, c.Node
	return KernelFunc(func() {
		if err := p.dev.Memset32(dst, v, n); err != nil && p.runErr == nil {
			p.runErr = fmt.Errorf("fill for %s: %w", node.name, err)
		}
	})
}

// Seq runs kernels one after another as one kernel (nil entries are skipped).
func Seq(ks ...Kernel) Kernel {
	var list []Kernel
	for _, k := range ks {
		if k != nil {
			list = append(list, k)
		}
	}
	if len(list) == 1 {
		return list[0]
	}
	return KernelFunc(func() {
		for _, k := range list {
			k.Run()
		}
	})
}
