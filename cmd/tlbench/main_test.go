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
	err := run(context.Background(), []string{"--help"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "help") {
		t.Fatalf("--help: err = %v", err)
	}
	for _, flag := range []string{"-peers", "-workloads", "-json", "-plot", "-seconds", "-threads", "-device"} {
		if !strings.Contains(errb.String(), flag) {
			t.Errorf("--help does not explain %s", flag)
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"--workloads", "nope"}, {"--apis", "tensorflow"}, {"--device", "tpu"}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}

func TestOneShortRun(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--workloads", "word2vec", "--seconds", "0.05", "--windows", "1", "--warmup", "0", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
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
	err := run(context.Background(), []string{"--device", "cuda", "--device-profile", "4", "--workloads", "word2vec", "--apis", "graph",
		"--modes", "train", "--seconds", "0.05", "--windows", "1", "--warmup", "0", "--paired", "-1", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), `"workload":"word2vec"`) {
		t.Fatalf("JSON output lacks the row: %s", out.String())
	}
	for _, want := range []string{"== device profile: word2vec train", "NCE", "slowest nodes"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
