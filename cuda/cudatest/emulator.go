package cudatest

import (
	"fmt"

	"github.com/tlgo/tl/cuda/emu"
)

// emulator builds (or finds, cached) the CPU emulator library with g++.
func emulator() (string, error) {
	lib, err := emu.Build("")
	if err != nil {
		return "", fmt.Errorf("cudatest: building the CPU emulator: %w", err)
	}
	return lib, nil
}
