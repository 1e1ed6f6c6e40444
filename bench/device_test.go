package bench

import (
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
