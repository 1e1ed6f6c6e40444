// Package cudatest opens a device for tests: a real GPU when there is one, else
// the CPU emulator of cuda/emu, else the test is skipped with the reasons.
package cudatest

import (
	"errors"
	"os"
	"testing"

	"github.com/tlgo/tl/cuda"
)

// Open returns a device for t, closed by t.Cleanup:
//
//  1. a GPU, if cuda.Open(cuda.Config{}) works (with TL_CUDA_EMULATOR set,
//     that is already the emulator);
//  2. else the emulator built by cuda/emu (see emulator);
//  3. else it skips t, saying why each failed.
func Open(t testing.TB) *cuda.Device {
	t.Helper()
	d, gpuErr := cuda.Open(cuda.Config{})
	if gpuErr != nil && os.Getenv(cuda.EnvEmulator) == "" {
		if lib, err := emulator(); err != nil {
			gpuErr = errors.Join(gpuErr, err)
		} else if d, err = cuda.Open(cuda.Config{Emulator: lib}); err != nil {
			gpuErr = errors.Join(gpuErr, err)
		} else {
			gpuErr = nil
		}
	}
	if gpuErr != nil {
		t.Skipf("no CUDA device and no emulator: %v", gpuErr)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing %s: %v", d.Name(), err)
		}
	})
	return d
}

// Kind says what d is: "gpu" or "emulator".
func Kind(d *cuda.Device) string {
	if d.Emulated() {
		return "emulator"
	}
	return "gpu"
}
