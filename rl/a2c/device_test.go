package a2c

import (
	"math"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
)

// The learner on a device (a GPU, else the CUDA emulator) takes the same
// updates as on the CPU: same losses, same weights within float tolerance;
// weights loaded on the host reach the device.
func TestLearnerOnDevice(t *testing.T) {
	dev := cudatest.Open(t)
	cfg := cartpoleConfig(3)
	cpu, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cpu.Close()
	dcfg := cfg
	dcfg.Device = dev
	gpu, err := New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	vec, err := env.NewVec(cfg.Batch, 11, func(int) env.Env { return cartpole.New() })
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(cfg, vec, 12)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	near := func(a, b float32) bool {
		return math.Abs(float64(a-b)) <= 1e-3*(1+math.Abs(float64(a)))
	}
	t.Logf("learner on %s", cudatest.Kind(dev))
	for u := range 5 {
		if err := p.Policy().Load(cpu.Params()); err != nil {
			t.Fatal(err)
		}
		trs, err := p.Unroll(nil)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := cpu.Update(trs)
		if err != nil {
			t.Fatal(err)
		}
		sg, err := gpu.Update(trs)
		if err != nil {
			t.Fatal(err)
		}
		if !near(sc.PolicyLoss, sg.PolicyLoss) || !near(sc.ValueLoss, sg.ValueLoss) || !near(sc.Entropy, sg.Entropy) || !near(sc.GradNorm, sg.GradNorm) {
			t.Fatalf("update %d on %s: %+v; on the CPU %+v", u, cudatest.Kind(dev), sg, sc)
		}
	}
	pc, pg := cpu.Params(), gpu.Params()
	for i, name := range pc.Names {
		for j, v := range pc.Values[i] {
			if !near(v, pg.Values[i][j]) {
				t.Fatalf("after 5 updates %s[%d]: %v on %s, %v on the CPU", name, j, pg.Values[i][j], cudatest.Kind(dev), v)
			}
		}
	}
	// Weights loaded on the host go to the device: the next update starts from them.
	if err := gpu.Load(pc); err != nil {
		t.Fatal(err)
	}
	for i, name := range pc.Names {
		for j, v := range gpu.Params().Values[i] {
			if v != pc.Values[i][j] {
				t.Fatalf("after Load, %s[%d] is %v on the device, %v loaded", name, j, v, pc.Values[i][j])
			}
		}
	}
}
