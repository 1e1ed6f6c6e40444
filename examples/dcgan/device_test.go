package main

import (
	"context"
	"math"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
)

// The same short run on the device (a GPU, else the CUDA emulator) and on the
// CPU: every op of both networks and both updates compiles to device kernels,
// and the first steps' losses agree (later ones drift apart with rounding, as
// the game amplifies differences).
func TestDeviceMatchesCPU(t *testing.T) {
	dev := cudatest.Open(t)
	o := options{Arch: arch{Z: 8, GF: 4, DF: 4, Kernel: 5, Size: 28}, Epochs: 1, Batch: 8, LR: 2e-4, Train: blobs(32, 28, 1),
		OutDir: t.TempDir(), Seed: 1, Log: quiet()}
	cpu, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	o.Device, o.OutDir = dev, t.TempDir()
	gpu, err := run(context.Background(), o)
	if err != nil {
		t.Fatalf("on %s: %v", dev.Name(), err)
	}
	t.Logf("on %s (%s): first steps CPU %+v, device %+v", dev.Name(), cudatest.Kind(dev), cpu.Steps[0], gpu.Steps[0])
	for i := range 2 {
		c, g := cpu.Steps[i], gpu.Steps[i]
		if math.Abs(c.DLoss-g.DLoss) > 1e-3 || math.Abs(c.GLoss-g.GLoss) > 1e-3 {
			t.Fatalf("step %d: CPU losses %+v, %s %+v", i, c, dev.Name(), g)
		}
	}
	for i, v := range gpu.Samples.Float32s() {
		if math.IsNaN(float64(v)) || v < -1 || v > 1 {
			t.Fatalf("device sample value %d: %v", i, v)
		}
	}
}
