package kernels_test

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/kernels"
)

// TestNVRTC compiles the whole kernel set with the real NVRTC, as cuda.Device
// does on a GPU: for sm_90 (a CUBIN) and compute_90 (PTX). Errors come with
// the compiler's log, whose lines name the .cu file and line.
func TestNVRTC(t *testing.T) {
	t.Setenv(cuda.EnvEmulator, "") // NVIDIA's compiler, not the emulator's
	nv, err := cuda.LoadNVRTC()
	if err != nil {
		testenv.Require(t, "NVRTC (kernels not compiled)", err)
	}
	major, minor := nv.Version()
	t.Logf("NVRTC %d.%d from %s", major, minor, nv.Path())
	src := kernels.Source()
	for _, arch := range []string{"sm_90", "compute_90"} {
		img, log, err := nv.Compile(src, "kernels.cu", arch)
		if err != nil {
			t.Fatalf("kernel set does not compile for %s:\n%v", arch, err)
		}
		if log != "" {
			t.Logf("%s warnings:\n%s", arch, log)
		}
		if len(img) == 0 {
			t.Fatalf("%s: empty image", arch)
		}
		if arch == "compute_90" && !strings.Contains(string(img), ".entry tl_step") {
			t.Errorf("PTX for %s has no tl_step entry", arch)
		}
	}
}
