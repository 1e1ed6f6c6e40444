package cuda

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenNoDriver runs where there is no NVIDIA driver (CI, this project's
// build machine): Open must say so plainly and wrap ErrNoDevice.
func TestOpenNoDriver(t *testing.T) {
	t.Setenv(EnvEmulator, "")
	d, err := Open(Config{})
	if err == nil {
		d.Close()
		t.Skip("an NVIDIA driver and GPU are present")
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("error does not wrap ErrNoDevice: %v", err)
	}
	for _, want := range []string{"no NVIDIA driver/GPU was found", "libcuda.so.1", EnvEmulator} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error should mention %q: %v", want, err)
		}
	}
	t.Log(err)
}

func TestOpenExplicitMissingDriver(t *testing.T) {
	_, err := Open(Config{LibCUDA: "/nonexistent/libcuda.so.1"})
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "/nonexistent/libcuda.so.1 (missing)") {
		t.Fatalf("Open with a missing LibCUDA: %v", err)
	}
}
