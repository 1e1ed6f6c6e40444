//go:build !unix

package emu

// lockFile does nothing where flock is missing: the emulator needs dlopen and
// g++, so it is built on unix only, and the rename in Build is atomic anyway.
func lockFile(path string) (unlock func(), err error) { return func() {}, nil }
