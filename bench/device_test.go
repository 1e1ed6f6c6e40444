package bench

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
)

// The sequence workloads run on a device (a GPU, or the CPU emulator): the PTB
// model carries its LSTM state on the device (DeviceOptions.Carry) and word2vec
// samples on it. The CNN is left to the GPU check: on the emulator its
// convolutions take minutes.
func TestWorkloadsRunOnDevice(t *testing.T) {
	dev := cudatest.Open(t)
	for _, w := range Workloads() {
		if w.Name != "ptb-small" && w.Name != "word2vec" {
			continue
		}
		for _, api := range []API{Graph, Layers} {
			s, err := w.Build(api, "train", dev)
			if err != nil {
				t.Fatalf("%s %s on %s: %v", w.Name, api, dev.Name(), err)
			}
			for i := 0; i < 3; i++ { // eager, captured, replayed
				if err := s.Run(); err != nil {
					t.Fatalf("%s %s step %d on %s: %v", w.Name, api, i, dev.Name(), err)
				}
			}
			s.Close()
		}
	}
}

// On a device the workloads' steps are recorded as device graphs (tlbench warns
// when one is not).
func TestDeviceStepsAreCaptured(t *testing.T) {
	dev := cudatest.Open(t)
	for _, w := range Workloads() {
		if w.Name != "word2vec" {
			continue
		}
		s, err := w.Build(Graph, "train", dev)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := 0; i < 3; i++ {
			if err := s.Run(); err != nil {
				t.Fatal(err)
			}
		}
		es := s.(*execStep)
		plans := es.exe.(*graph.DeviceExecutor).Plans()
		if len(plans) != 1 || !plans[0].Captured() || es.CaptureError() != nil {
			t.Fatalf("%d plans, captured %v, capture error %v", len(plans), len(plans) == 1 && plans[0].Captured(), es.CaptureError())
		}
	}
}

// A device profile of a workload's step: one entry per node that queues work
// and the plan's own, times that add up to the step's, the LSTM and the
// products among the op types; the step still runs (captured) afterwards.
func TestDeviceProfile(t *testing.T) {
	dev := cudatest.Open(t)
	w := workload(t, "ptb-small")
	s, err := w.Build(Graph, "train", dev)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
	}
	es := s.(*execStep)
	prof, err := es.Profile()
	if err != nil {
		t.Fatal(err)
	}
	plan := es.exe.(*graph.DeviceExecutor).Plans()[0]
	var named int
	var sum float64
	for _, nt := range prof.Nodes {
		if nt.Ms < 0 {
			t.Errorf("%v: %.3f ms", nt.Node, nt.Ms)
		}
		if nt.Node != nil {
			named++
		}
		sum += nt.Ms
	}
	if want := len(plan.Nodes()); named > want || named < want-len(plan.Outputs()) {
		t.Errorf("%d nodes timed, want the plan's %d kernel nodes", named, want)
	}
	if sum > prof.TotalMs*1.001+1e-3 || sum < prof.TotalMs*0.999-1e-3 || prof.TotalMs <= 0 {
		t.Errorf("nodes sum to %.3f ms, the step took %.3f ms", sum, prof.TotalMs)
	}
	ops := map[string]bool{}
	for _, o := range prof.ByOp() {
		ops[o.Op] = true
	}
	for _, op := range []string{"LSTM", "LSTMGrad", "MatMul", "(plan)"} {
		if !ops[op] {
			t.Errorf("no %s among the op types %v", op, ops)
		}
	}
	var out strings.Builder
	if err := prof.Write(&out, 5); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if !strings.Contains(out.String(), "slowest nodes") || strings.Count(out.String(), "\n") < 8 {
		t.Errorf("profile report:\n%s", out.String())
	}
	if err := s.Run(); err != nil || !plan.Captured() {
		t.Fatalf("a run after the profile: %v, captured %v", err, plan.Captured())
	}
	// A device that cannot time its queue says so.
	c := &counting{Device: dev}
	s2, err := w.Build(Graph, "train", c)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.(*execStep).Profile(); err == nil || !strings.Contains(err.Error(), "cannot time") {
		t.Errorf("profile on a device without DeviceProfiler: %v", err)
	}
}

func workload(t *testing.T, name string) Workload {
	t.Helper()
	for _, w := range Workloads() {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no workload %s", name)
	return Workload{}
}
