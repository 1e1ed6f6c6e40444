package bench

import (
	"testing"
	"unsafe"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
)

// counting passes everything to a device and counts the work queued.
type counting struct {
	graph.Device
	launches, gemms, copies int
	toDevice, toHost, syncs int // host round trips
}

func (c *counting) CopyToDevice(dst graph.DevicePtr, src unsafe.Pointer, bytes int) error {
	c.toDevice++
	return c.Device.CopyToDevice(dst, src, bytes)
}

func (c *counting) CopyFromDevice(dst unsafe.Pointer, src graph.DevicePtr, bytes int) error {
	c.toHost++
	return c.Device.CopyFromDevice(dst, src, bytes)
}

func (c *counting) Synchronize() error {
	c.syncs++
	return c.Device.Synchronize()
}

func (c *counting) Launch(f graph.DeviceFunc, grid, block graph.Dim3, shared int, params []unsafe.Pointer) error {
	c.launches++
	return c.Device.Launch(f, grid, block, shared, params)
}

func (c *counting) Gemm(a graph.GemmArgs) error {
	c.gemms++
	return c.Device.Gemm(a)
}

func (c *counting) CopyDevice(dst, src graph.DevicePtr, bytes int) error {
	c.copies++
	return c.Device.CopyDevice(dst, src, bytes)
}

func (c *counting) Memset32(dst graph.DevicePtr, v uint32, n int) error {
	c.copies++
	return c.Device.Memset32(dst, v, n)
}

// The device work one training step queues (and a captured graph replays):
// kernel launches, cuBLAS products, copies and fills. It bounds launch overhead,
// the cost that CUDA graphs cut and that decides small models on a GPU; the
// limits catch a change that multiplies launches.
func TestDeviceWorkPerStep(t *testing.T) {
	dev := cudatest.Open(t)
	limits := map[string]int{"ptb-small": 240, "word2vec": 20}
	for _, w := range Workloads() {
		limit, ok := limits[w.Name]
		if !ok {
			continue
		}
		c := &counting{Device: dev}
		s, err := w.Build(Graph, "train", c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(); err != nil { // eager: every launch goes through c
			t.Fatal(err)
		}
		total := c.launches + c.gemms + c.copies
		t.Logf("%s train: %d launches, %d gemms, %d copies/fills per step", w.Name, c.launches, c.gemms, c.copies)
		if total > limit {
			t.Errorf("%s: %d device operations per step, want at most %d", w.Name, total, limit)
		}
		// A replayed step waits for the host twice: the feeds in, the results out.
		for range 2 { // the second run records the graph, the third replays it
			c.toDevice, c.toHost, c.syncs = 0, 0, 0
			if err := s.Run(); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		t.Logf("%s train: %d copies in, %d out, %d waits per replayed step", w.Name, c.toDevice, c.toHost, c.syncs)
		if c.toDevice > 1 || c.toHost != 1 || c.syncs != 0 {
			t.Errorf("%s: a replayed step made %d copies to the device, %d to the host and %d waits, want at most 1, 1 and 0",
				w.Name, c.toDevice, c.toHost, c.syncs)
		}
	}
}
