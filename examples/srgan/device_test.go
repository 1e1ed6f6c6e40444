package main

import (
	"context"
	"math"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
)

// The same short run on the device (a GPU, else the CUDA emulator) and on the
// CPU: every op of the three phases (pre-training, the discriminator and the
// generator updates with the classifier's features, inference) compiles to
// device kernels, and the first steps' losses agree.
func TestDeviceMatchesCPU(t *testing.T) {
	dev := cudatest.Open(t)
	o := options{Arch: arch{Size: 28, Scale: 4, F: 4, Blocks: 1, DF: 2}, PreEpochs: 1, Epochs: 1, Batch: 4, PreLR: 1e-3, LR: 1e-4, Adv: 1e-3,
		Train: spots(8, 28, 1), Test: spots(8, 28, 2), EvalN: 8, Classifier: classifier(t), OutDir: t.TempDir(), Seed: 1, Log: quiet()}
	cpu, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	o.Device, o.OutDir = dev, t.TempDir()
	gpu, err := run(context.Background(), o)
	if err != nil {
		t.Fatalf("on %s: %v", dev.Name(), err)
	}
	if math.Abs(cpu.PreSteps[0]-gpu.PreSteps[0]) > 1e-4 {
		t.Fatalf("first pre-training step: CPU pixel loss %v, %s %v", cpu.PreSteps[0], dev.Name(), gpu.PreSteps[0])
	}
	c, g := cpu.Steps[0], gpu.Steps[0]
	if math.Abs(c.DLoss-g.DLoss) > 1e-2 || math.Abs(c.Content-g.Content) > 1e-3*max(1, c.Content) {
		t.Fatalf("first step of the game: CPU %+v, %s %+v", c, dev.Name(), g)
	}
	if math.IsNaN(gpu.SRGAN.PSNR) || math.Abs(gpu.Bicubic.PSNR-cpu.Bicubic.PSNR) > 1e-9 {
		t.Fatalf("device PSNR %v, bicubic %v (CPU %v)", gpu.SRGAN.PSNR, gpu.Bicubic.PSNR, cpu.Bicubic.PSNR)
	}
}
