package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/emu"
	"github.com/tlgo/tl/internal/testenv"
)

func TestHelpExplainsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d, %s", code, errb.String())
	}
	for _, flag := range []string{"--peers", "--workloads", "--json", "--plot", "--seconds", "--threads", "--device", "--peer-sweep", "Usage:\n  tlbench"} {
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
		{[]string{"--peer-sweep", "--workloads", "word2vec"}, "--peer-sweep sweeps the PyTorch peers' configurations: it needs --peers"},
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

// --peer-sweep with bench/testdata's stand-in for the word2vec peer (CI has no
// PyTorch; its rate depends only on --threads and ATEN_CPU_CAPABILITY: 1
// thread is faster than 2, avx2 than avx512, avx512 than unset): the sweep's
// choice times the rounds and reaches the row, in JSON and in the table's
// note; --peer-threads pins the threads; without the sweep the row records
// today's configuration.
func TestPeerSweep(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		testenv.Require(t, "python3 (it runs the stand-in peer)", err)
	}
	testdata, err := filepath.Abs(filepath.Join("..", "..", "bench", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", filepath.Join(testdata, "torchstub")) // the stand-in's torch
	t.Setenv("PYTHONDONTWRITEBYTECODE", "1")                     // no __pycache__ in the source tree
	t.Setenv("ATEN_CPU_CAPABILITY", "")                          // read as unset
	caps := bench.PeerCapabilities()
	best := bench.PeerConfig{Threads: 1, Capability: caps[len(caps)-1]}
	if slices.Contains(caps, "avx2") {
		best.Capability = "avx2"
	}
	tlbench := func(extra ...string) (stdout, stderr string) {
		t.Helper()
		args := append([]string{"--workloads", "word2vec", "--apis", "graph", "--modes", "train", "--threads", "2",
			"--seconds", "0.05", "--windows", "1", "--warmup", "0", "--paired", "-1", "--peak-gflops", "100",
			"--peers", "--python", python, "--peers-dir", filepath.Join(testdata, "peers")}, extra...)
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("tlbench %v: exit %d\n%s", extra, code, errb.String())
		}
		return out.String(), errb.String()
	}

	out, logs := tlbench("--peer-sweep", "--json")
	if n := strings.Count(logs, `msg="peer sweep" workload=word2vec mode=train`); n != 2*len(caps) {
		t.Errorf("want %d sweep lines (1 and 2 threads by %q), got %d:\n%s", 2*len(caps), caps, n, logs)
	}
	js, err := json.Marshal(best)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"pytorch_config":` + string(js); !strings.Contains(out, want) {
		t.Errorf("JSON lacks %s:\n%s", want, out)
	}
	if want := `api="pytorch 0.0+stand-in" threads=1 capability=` + best.CapabilityName(); !strings.Contains(logs, want) {
		t.Errorf("the timed round did not run under the sweep's choice (%v):\n%s", best, logs)
	}

	out, logs = tlbench("--peer-sweep", "--peer-threads", "2")
	if n := strings.Count(logs, `msg="peer sweep"`); n != len(caps) {
		t.Errorf("--peer-threads 2: want %d sweep lines (the capabilities only), got %d:\n%s", len(caps), n, logs)
	}
	pinned := bench.PeerConfig{Threads: 2, Capability: best.Capability}
	if want := fmt.Sprintf("PyTorch configuration: word2vec train: %v (swept, pairs/s: 2 threads unset 1,000", pinned); !strings.Contains(out, want) {
		t.Errorf("table lacks %q:\n%s", want, out)
	}

	out, logs = tlbench()
	if strings.Contains(logs, "peer sweep") || !strings.Contains(out, "PyTorch configuration: word2vec train: 1 thread, ATEN_CPU_CAPABILITY unset.") {
		t.Errorf("without --peer-sweep: want no sweep and word2vec's 1 thread, unset:\n%s\n%s", out, logs)
	}
}
