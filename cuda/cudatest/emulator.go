package cudatest

import (
	"errors"

	"github.com/tlgo/tl/cuda"
)

// emulator builds the CPU emulator library. Until cuda/emu provides
// emu.Build, the emulator is reached only through TL_CUDA_EMULATOR.
func emulator() (string, error) {
	return "", errors.New("cudatest: no emulator: set " + cuda.EnvEmulator + " to libtlcudaemu.so (cuda/emu has no Build yet)")
}
