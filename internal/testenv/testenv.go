// Package testenv decides what a test does when something it needs from the
// machine is missing: OpenBLAS, NVRTC, a C++ compiler for the CUDA emulator,
// PostgreSQL, a separately started nats-server, the Fashion-MNIST files.
//
// Outside CI the test is skipped, saying what is missing and why. Under CI
// (the environment variable CI set to a true value, as .ci/run and most CI
// services do) the test fails instead: .ci/run installs every prerequisite,
// so a missing one means a broken install, and a skip would hide it behind a
// green run.
//
// A GPU is not a prerequisite (CI has none): tests that need a real GPU skip
// with t.Skip as before, and so do tests skipped for -short.
package testenv

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// EnvCI names the environment variable that marks a CI run ("true", "1").
const EnvCI = "CI"

// InCI reports whether this is a CI run: CI is set to a value that
// strconv.ParseBool reads as true ("1", "t", "true", "TRUE", ...).
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv(EnvCI))
	return err == nil && ci
}

// Require does nothing when err is nil. Otherwise the prerequisite named by
// what (for example "PostgreSQL" or "OpenBLAS") is missing, for the reason
// err gives: under CI, t fails; elsewhere t is skipped. Either way the
// message names the prerequisite and the reason. Like t.Skip and t.Fatal, a
// non-nil err ends the test (Require must be called from the test's
// goroutine).
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("%s is missing, and under %s=%s every prerequisite that .ci/run installs must be present: %v",
			what, EnvCI, os.Getenv(EnvCI), err)
		return // only reached when t is not a *testing.T or *testing.B
	}
	t.Skipf("%s is missing (a failure under %s=true): %v", what, EnvCI, err)
}

// RequireEnv returns the value of the environment variable name, which must
// name the prerequisite what (a URL of a running server, say). When it is
// empty it calls Require with a reason that says how to set it; example is a
// sample value.
func RequireEnv(t testing.TB, what, name, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Require(t, what, fmt.Errorf("%s is not set: set %s=%s (.ci/run does) to run this test", name, name, example))
	}
	return v
}
