package cudatest_test

import (
	"testing"

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
