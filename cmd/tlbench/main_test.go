package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/emu"
	"github.com/tlgo/tl/internal/testenv"
)

func TestHelpExplainsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d, %s", code, errb.String())
	}
	for _, flag := range []string{"--peers", "--workloads", "--json", "--plot", "--seconds", "--threads", "--device", "Usage:\n  tlbench"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("--help does not explain %s:\n%s", flag, out.String())
		}
	}
}

// Usage errors exit 2 and say what is wrong; bad flag values are usage errors.
func TestBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--workloads", "nope"}, `unknown workload "nope"`},
		{[]string{"--apis", "tensorflow"}, `unknown api "tensorflow"`},
		{[]string{"--device", "tpu"}, `--device "tpu"`},
		{[]string{"--modes", "eval", "--workloads", "word2vec"}, `unknown mode "eval"`},
		{[]string{"--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"--seconds", "soon"}, "--seconds"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("tlbench %v: exit %d, %q; want exit 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

func TestOneShortRun(t *testing.T) {
	var out, errb bytes.Buffer
	// Go-style single-dash long flags still work.
	code := run(context.Background(), []string{"--workloads", "word2vec", "-seconds", "0.05", "--windows=1", "--warmup", "0", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"workload":"word2vec"`) {
		t.Fatalf("JSON output lacks the row: %s", out.String())
	}
}

// --device cuda on the CPU emulator (a GPU where there is one), with a device
// profile of the step printed after the table's row.
func TestDeviceRunWithProfile(t *testing.T) {
	if os.Getenv(cuda.EnvEmulator) == "" {
		lib, err := emu.Build("")
		if err != nil {
			testenv.Require(t, "the CUDA emulator (to run --device cuda on)", err)
		}
		t.Setenv(cuda.EnvEmulator, lib)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--device", "cuda", "--device-profile", "4", "--workloads", "word2vec", "--apis", "graph",
		"--modes", "train", "--seconds", "0.05", "--windows", "1", "--warmup", "0", "--paired", "-1", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"workload":"word2vec"`) {
		t.Fatalf("JSON output lacks the row: %s", out.String())
	}
	for _, want := range []string{"== profile: word2vec train", "launch by launch", "NCE", "slowest nodes"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// --profile on the CPU: the step kernel by kernel, after the row.
func TestCPUProfile(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--profile", "3", "--workloads", "word2vec", "--apis", "graph", "--threads", "1",
		"--modes", "train", "--seconds", "0.05", "--windows", "1", "--warmup", "0", "--paired", "-1", "--peak-gflops", "100", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"== profile: word2vec train", "step on cpu, kernel by kernel", "NCE", "slowest nodes"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
