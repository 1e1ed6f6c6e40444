package cudatest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
)

func TestOpen(t *testing.T) {
	d := cudatest.Open(t)
	kind := cudatest.Kind(d)
	if kind != "gpu" && kind != "emulator" {
		t.Fatalf("Kind = %q", kind)
	}
	if (kind == "emulator") != d.Emulated() {
		t.Errorf("Kind %q but Emulated() = %v", kind, d.Emulated())
	}
	p, err := d.Alloc(16)
	if err != nil {
		t.Fatal(err)
	}
	d.Free(p)
	t.Logf("%s: %s", kind, d.Name())
}

// With TL_REQUIRE_GPU=1, a machine without a GPU fails the test rather than
// passing it on the emulator.
func TestRequireGPU(t *testing.T) {
	if os.Getenv(cudatest.EnvRequireGPU) == "1" {
		cudatest.Open(t) // the child: must fail here on a machine without a GPU
		return
	}
	if d, err := cuda.Open(cuda.Config{}); err == nil {
		emulated := d.Emulated()
		d.Close()
		if !emulated {
			t.Skip("a GPU is present: the requirement is met")
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRequireGPU$", "-test.count=1")
	cmd.Env = append(os.Environ(), cudatest.EnvRequireGPU+"=1", cuda.EnvEmulator+"=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TL_REQUIRE_GPU=1 but") {
		t.Fatalf("child with %s=1: err %v, output:\n%s", cudatest.EnvRequireGPU, err, out)
	}
}
