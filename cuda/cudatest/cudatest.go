// Package cudatest opens a device for tests: a real GPU when there is one, else
// the CPU emulator of cuda/emu, else the test is skipped with the reasons.
package cudatest

import (
	"errors"
	"os"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/internal/testenv"
)

// Open returns a device for t, closed by t.Cleanup:
//
//  1. a GPU, if cuda.Open(cuda.Config{}) works (with TL_CUDA_EMULATOR set,
//     that is already the emulator);
//  2. else the CPU emulator, built (and cached) by cuda/emu's Build;
//  3. else it skips t, saying why each failed.
//
// With TL_REQUIRE_GPU=1 (the GPU check sets it) a GPU that does not open fails
// the test instead: a parity run meant for the GPU must not pass on the emulator.
func Open(t testing.TB) *cuda.Device {
	t.Helper()
	return OpenConfig(t, cuda.Config{})
}

// OpenConfig is Open with a configuration (TF32, a kernel Source of the test's
// own); the emulator is used when cfg does not open a GPU.
func OpenConfig(t testing.TB, cfg cuda.Config) *cuda.Device {
	t.Helper()
	d, gpuErr := cuda.Open(cfg)
	if os.Getenv(EnvRequireGPU) == "1" {
		if gpuErr != nil {
			t.Fatalf("%s=1 but no GPU opened: %v", EnvRequireGPU, gpuErr)
		}
		if d.Emulated() {
			d.Close()
			t.Fatalf("%s=1 but %s is the emulator", EnvRequireGPU, d.Name())
		}
	}
	if gpuErr != nil && cfg.Emulator == "" && os.Getenv(cuda.EnvEmulator) == "" {
		if lib, err := emulator(); err != nil {
			gpuErr = errors.Join(gpuErr, err)
		} else {
			cfg.Emulator = lib
			if d, err = cuda.Open(cfg); err != nil {
				gpuErr = errors.Join(gpuErr, err)
			} else {
				gpuErr = nil
			}
		}
	}
	if gpuErr != nil {
		// A GPU is optional, the emulator (g++) is a prerequisite: under CI
		// this fails.
		testenv.Require(t, "a CUDA device or the CUDA emulator (a C++ compiler)", gpuErr)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing %s: %v", d.Name(), err)
		}
	})
	return d
}

// EnvRequireGPU, set to 1, makes Open fail rather than fall back or skip.
const EnvRequireGPU = "TL_REQUIRE_GPU"

// Kind says what d is: "gpu" or "emulator".
func Kind(d *cuda.Device) string {
	if d.Emulated() {
		return "emulator"
	}
	return "gpu"
}
