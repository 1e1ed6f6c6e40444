package train

import (
	"context"
	"math"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
)

// The loop on a device (a GPU, or the CPU emulator) trains as on the CPU: same
// data, same schedule (the learning-rate hook's changes reach the device), and
// the weights come back to the host for the epoch-end hooks (a checkpoint holds
// the trained weights) and after Run.
func TestLoopOnDevice(t *testing.T) {
	dev := cudatest.Open(t)
	run := func(onDevice bool) (*problem, string) {
		p := newProblem(t, 96)
		cfg := p.config()
		if onDevice {
			cfg.Device = p.g.OnDevice(dev)
			t.Cleanup(cfg.Device.Close)
		}
		loop, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer loop.Close()
		dir := t.TempDir()
		loop.Use(LearningRate(p.opt, optim.StepDecay{Base: 0.5, Every: 3, Factor: 0.1}), Checkpoint(dir, p.g.Variables(), 1, 0))
		if _, err := loop.Run(context.Background(), p.train, 2); err != nil {
			t.Fatal(err)
		}
		return p, dir
	}
	cpu, _ := run(false)
	gpu, dir := run(true)
	for _, name := range []string{"w", "b"} {
		c, d := cpu.g.VariableByName(name).Tensor().Float32s(), gpu.g.VariableByName(name).Tensor().Float32s()
		for i := range c {
			if math.Abs(float64(c[i]-d[i])) > 1e-4*(1+math.Abs(float64(c[i]))) {
				t.Fatalf("%s[%d]: cpu %g, device %g (after Run, pulled to the host)", name, i, c[i], d[i])
			}
		}
	}
	files, err := Checkpoints(dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("checkpoints %v %v", files, err)
	}
	saved := newProblem(t, 30).g
	if _, err := modelio.LoadWeights(context.Background(), files[1], saved.Variables()); err != nil {
		t.Fatal(err)
	}
	w, sw := gpu.w.Tensor().Float32s(), saved.VariableByName("w").Tensor().Float32s()
	for i := range w {
		if w[i] != sw[i] || w[i] == 0 {
			t.Fatalf("the last checkpoint's w[%d] = %g, the trained weight is %g", i, sw[i], w[i])
		}
	}
}
