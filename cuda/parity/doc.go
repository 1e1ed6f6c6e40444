// Package parity holds the CUDA backend's parity tests: every op compiled for the
// CPU and for a device (a GPU, or the CPU emulator of package cuda/emu when there
// is none) on the same fresh random inputs, outputs and gradients compared with a
// stated tolerance, the device's memory poisoned with NaN before each run so that
// an element no kernel wrote fails. Each case runs three rounds: launches one at a
// time, then captured as a device graph, then replayed.
//
// On the emulator these tests check the kernels' logic and the Go side's launches;
// only a GPU checks the kernels under the real memory model and compiler (see
// bench/gpu-check).
package parity
