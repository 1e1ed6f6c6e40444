package cuda_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// isOOM reports whether err is the driver's out-of-memory error.
func isOOM(err error) bool {
	var e *cuda.Error
	return errors.As(err, &e) && e.Name == "CUDA_ERROR_OUT_OF_MEMORY"
}

// Out of device memory: Alloc releases the cache and tries again; when that is
// not enough the error says how much was asked, in use and cached, and the
// device stays usable. On a GPU only the request larger than the card runs.
func TestOutOfMemory(t *testing.T) {
	const limit = 64 << 20 // room for the 32 MiB cuBLAS workspace
	d := cudatest.OpenConfig(t, cuda.Config{EmulatorMemory: limit})
	if _, err := d.Alloc(int(d.TotalMemory()) + 1<<30); !isOOM(err) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Alloc of more than the device's %d bytes: %v, want CUDA_ERROR_OUT_OF_MEMORY with the memory in use", d.TotalMemory(), err)
	}
	p := alloc(t, d, 1000)
	d.Free(p)
	if !d.Emulated() {
		return
	}
	if d.TotalMemory() != limit {
		t.Fatalf("TotalMemory %d, want the emulator's limit %d", d.TotalMemory(), limit)
	}
	// 40 MiB cached: 48 MiB fits only once the cache is released.
	d.Free(alloc(t, d, 40<<20))
	b, err := d.Alloc(48 << 20)
	if err != nil {
		t.Fatalf("Alloc(48 MiB) with 40 MiB cached on a 64 MiB device: %v, want the cache released and a retry", err)
	}
	if s := d.Stats(); s.Cached != 0 || s.InUse != 48<<20 {
		t.Errorf("after the retry: %+v, want nothing cached and 48 MiB in use", s)
	}
	// Nothing left to release: the error is clear and nothing leaks.
	_, err = d.Alloc(20 << 20)
	if !isOOM(err) || !strings.Contains(err.Error(), "allocating 20971520 bytes") || !strings.Contains(err.Error(), "50331648 in use") {
		t.Errorf("Alloc(20 MiB) with 48 MiB in use: %v, want an out-of-memory error naming both", err)
	}
	d.Free(b)
	d.Free(alloc(t, d, 20<<20))

	// A plan larger than the device fails to compile with an error naming what it
	// needed, gives back what it took, and a smaller plan then compiles.
	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 256)
	w := g.Variable("w", tensor.Constant(0.01), 256, 256)
	y := graph.ReduceSum(graph.Tanh(graph.MatMul(graph.Tanh(graph.MatMul(x, w)), w)))
	on := g.OnDevice(d)
	defer on.Close()
	before := d.Stats().InUse
	_, err = on.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{x: {1 << 16, 256}}, y)
	if !isOOM(err) || !strings.Contains(err.Error(), "device arena of") {
		t.Fatalf("compiling a plan of 64 MiB intermediates on a 64 MiB device: %v, want an out-of-memory error about its arena", err)
	}
	if after := d.Stats().InUse; after != before {
		t.Errorf("a failed compile left %d bytes in use, want %d", after, before)
	}
	p2, err := on.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{x: {64, 256}}, y)
	if err != nil {
		t.Fatalf("a 64-row plan after the failure: %v", err)
	}
	copy(p2.Input(x).Float32s(), make([]float32, 64*256))
	if err := p2.Run(); err != nil {
		t.Fatal(err)
	}
}
