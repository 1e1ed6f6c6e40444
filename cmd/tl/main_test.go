package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/emu"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/internal/testworld"
)

func runTL(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpEverywhere(t *testing.T) {
	if code, out, _ := runTL("--help"); code != 0 || !strings.Contains(out, "submit PLAN") {
		t.Errorf("tl --help: %d %q", code, out)
	}
	for _, cmd := range []string{"master", "submit", "status", "cancel", "retry", "doctor", "models", "runs", "curve", "datasets", "import", "export"} {
		code, out, _ := runTL(cmd, "--help")
		if code != 0 || !strings.Contains(out, "Usage:\n  tl "+cmd) || !strings.Contains(out, "Flags:") {
			t.Errorf("tl %s --help: exit %d, %q", cmd, code, out)
		}
	}
	if code, _, errOut := runTL("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("tl frobnicate: %d %q", code, errOut)
	}
	if code, _, errOut := runTL("submit"); code != 2 || !strings.Contains(errOut, "expected 1 argument") {
		t.Errorf("tl submit without a file: %d %q", code, errOut)
	}
}

func TestSubmitRejectsBadPlan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cyc.yaml")
	os.WriteFile(path, []byte("name: c\ntasks:\n  - {id: a, kind: noop, deps: [b]}\n  - {id: b, kind: noop, deps: [a]}\n"), 0o644)
	// No server is needed: the file is checked first.
	code, _, errOut := runTL("submit", "--nats", "nats://127.0.0.1:1", path)
	if code != 1 || !strings.Contains(errOut, "cyc.yaml") || !strings.Contains(errOut, "dependency cycle") {
		t.Errorf("submit of a cyclic plan: exit %d, %q; want exit 1 naming the file and the cycle", code, errOut)
	}
	code, _, errOut = runTL("submit", "--nats", "nats://127.0.0.1:1", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("submit of a missing file: exit %d, %q", code, errOut)
	}
}

// startLogged starts a program with env through testworld.Start: killed
// when the test ends, its output logged if the test failed.
func startLogged(t *testing.T, env []string, name string, args ...string) *testworld.Proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return testworld.Start(t, filepath.Base(name)+" "+strings.Join(args, " "), cmd)
}

// waitEndpoints waits up to 60s for the master on home to write its
// endpoints file.
func waitEndpoints(t *testing.T, home string, master *testworld.Proc) {
	t.Helper()
	testworld.Eventually(t, "the master's endpoints file", 100*time.Millisecond, 60*time.Second, func() (bool, string) {
		_, err := endpoints.Read(home)
		return err == nil, "master output:\n" + master.Out.String()
	})
}

// buildBinaries builds tl and tl-agent for a test that runs them; the test is
// skipped with -short.
func buildBinaries(t *testing.T) (tl, agent string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped with -short")
	}
	bin := t.TempDir()
	return build(t, bin, "github.com/tlgo/tl/cmd/tl"), build(t, bin, "github.com/tlgo/tl/cmd/tl-agent")
}

// build compiles a command of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// The embedded default, end to end with the real binaries: tl master starts NATS
// and the store itself, tl-agent finds them through the endpoints file, tl submit
// --wait follows a plan to the end, tl status shows it, tl cancel stops one.
func TestEmbeddedDefaultEndToEnd(t *testing.T) {
	tl, agentBin := buildBinaries(t)
	home := t.TempDir()
	env := append(os.Environ(), "TL_HOME="+home, "TL_NATS_URL=", "TL_MONGO_URL=")

	master := startLogged(t, env, tl, "master", "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0", "--tick", "500ms")
	waitEndpoints(t, home, master)
	startLogged(t, env, agentBin, "--ack-wait", "3s", "--grace", "1s", "--id", "local-1")

	planFile := filepath.Join(t.TempDir(), "demo.yaml")
	os.WriteFile(planFile, []byte(`name: demo
tasks:
  - {id: prepare, kind: noop, params: {rows: 10}}
  - {id: train, kind: sleep, deps: [prepare], params: {duration: 200ms}}
  - {id: report, kind: noop, deps: [train]}
`), 0o644)
	submit := exec.Command(tl, "submit", "--wait", planFile)
	submit.Env = env
	out, err := submit.CombinedOutput()
	if err != nil {
		t.Fatalf("tl submit --wait: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "submitted plan demo-") || !strings.Contains(text, "train: running, attempt 1 of 3 on local-1") && !strings.Contains(text, "train: succeeded") || !strings.Contains(text, "succeeded") {
		t.Errorf("tl submit --wait output does not follow the plan:\n%s", text)
	}
	id := strings.Fields(strings.SplitN(text, "submitted plan ", 2)[1])[0]

	st := exec.Command(tl, "status", id)
	st.Env = env
	out, err = st.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "succeeded, 3/3 done") || !strings.Contains(string(out), `{"rows":10}`) || !strings.Contains(string(out), "local-1") ||
		!strings.Contains(string(out), "master: ") || !strings.Contains(string(out), " leads (host ") {
		t.Errorf("tl status %s: %v\n%s", id, err, out)
	}

	// A kind no agent runs: the master rejects the plan at submit.
	os.WriteFile(planFile, []byte("name: odd\ntasks:\n  - {id: a, kind: frobnicate}\n"), 0o644)
	submit = exec.Command(tl, "submit", planFile, "--wait")
	submit.Env = env
	out, err = submit.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "plan rejected by the master") || !strings.Contains(string(out), "frobnicate") {
		t.Errorf("a plan of an unknown kind: err %v, output:\n%s", err, out)
	}

	// A failing plan: --wait exits 1 and says what failed and what it blocks.
	os.WriteFile(planFile, []byte("name: bad\ntasks:\n  - {id: a, kind: fail, max_attempts: 2, params: {message: no GPU today}}\n  - {id: b, kind: noop, deps: [a]}\n"), 0o644)
	submit = exec.Command(tl, "submit", "--wait", planFile)
	submit.Env = env
	out, err = submit.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "task a failed after 2 attempts: no GPU today; it blocks b") {
		t.Errorf("failing plan: err %v, output:\n%s", err, out)
	}
	// tl retry: two more attempts (3 and 4 of 4), failing again, b still blocked.
	badID := strings.Fields(strings.SplitN(string(out), "submitted plan ", 2)[1])[0]
	retry := exec.Command(tl, "retry", badID)
	retry.Env = env
	if out, err := retry.CombinedOutput(); err != nil || !strings.Contains(string(out), "retry of "+badID+" done") {
		t.Fatalf("tl retry: %v %s", err, out)
	}
	waitFor(t, env, tl, badID, "4/4", 60*time.Second)
	final := waitFor(t, env, tl, badID, "failed, 0/2 done, 1 failed, 1 blocked", 60*time.Second)
	if !strings.Contains(final, "blocked by a") {
		t.Errorf("after retry, status does not show b blocked by a:\n%s", final)
	}
	// An unknown plan id is a clear error.
	unknown := exec.Command(tl, "status", "nosuchplan")
	unknown.Env = env
	if out, err := unknown.CombinedOutput(); err == nil || !strings.Contains(string(out), "plan nosuchplan is not recorded") {
		t.Errorf("tl status nosuchplan: %v %s", err, out)
	}

	// Cancel a running plan: the agent stops the task at once.
	os.WriteFile(planFile, []byte("name: long\ntasks:\n  - {id: wait, kind: sleep, params: {duration: 10m}}\n  - {id: after, kind: noop, deps: [wait]}\n"), 0o644)
	submit = exec.Command(tl, "submit", planFile)
	submit.Env = env
	out, err = submit.CombinedOutput()
	if err != nil {
		t.Fatalf("submit: %v %s", err, out)
	}
	id = strings.Fields(strings.SplitN(string(out), "submitted plan ", 2)[1])[0]
	waitFor(t, env, tl, id, "running", 60*time.Second)
	cancel := exec.Command(tl, "cancel", id)
	cancel.Env = env
	if out, err := cancel.CombinedOutput(); err != nil {
		t.Fatalf("tl cancel: %v %s", err, out)
	}
	waitFor(t, env, tl, id, "cancelled, 0/2 done, 2 cancelled", 60*time.Second)
	// The agent stopped the task: its next announcement (every 5 s) says idle.
	waitFor(t, env, tl, id, " done, idle", 60*time.Second)

	// SIGTERM: the master stops cleanly and removes its endpoints file.
	if err := master.Term(60 * time.Second); err != nil {
		t.Error(err)
	}
	if _, err := endpoints.Read(home); err == nil {
		t.Error("endpoints file left behind by a stopped master")
	}
}

// waitFor polls tl status PLAN until its output contains want, and returns it.
func waitFor(t *testing.T, env []string, tl, id, want string, patience time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(patience)
	var last string
	for time.Now().Before(deadline) {
		cmd := exec.Command(tl, "status", id)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		last = string(out)
		if strings.Contains(last, want) {
			return last
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("tl status %s never showed %q; last:\n%s", id, want, last)
	return ""
}

// tl doctor reports the CPU side always, and either a GPU or why there is none;
// with the emulator named by TL_CUDA_EMULATOR it says it is the emulator.
func TestDoctor(t *testing.T) {
	code, out, errOut := runTL("doctor", "--json")
	if code != 0 {
		t.Fatalf("tl doctor: exit %d: %s", code, errOut)
	}
	var r struct {
		CPU      string `json:"cpu"`
		GPU      string `json:"gpu"`
		GPUError string `json:"gpu_error"`
		Kernels  string `json:"kernels"`

		OpenBLAS      string             `json:"openblas"`
		OpenBLASCore  string             `json:"openblas_core"`
		OpenBLASError string             `json:"openblas_error"`
		NVRTC         string             `json:"nvrtc"`
		NVRTCError    string             `json:"nvrtc_error"`
		Peak          map[string]float64 `json:"peak_gflops"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tl doctor --json: %v\n%s", err, out)
	}
	if r.CPU == "" || r.Kernels == "" || (r.GPU == "") == (r.GPUError == "") {
		t.Errorf("tl doctor --json: want the CPU, the kernel set, and a GPU or the reason for none:\n%s", out)
	}
	// OpenBLAS: usable (its file and core type) or why not; NVRTC: loaded or
	// a reason, never a library named with an empty one.
	if (r.OpenBLAS == "") == (r.OpenBLASError == "") || (r.NVRTC == "") == (r.NVRTCError == "") || strings.Contains(r.NVRTCError, "()") {
		t.Errorf("tl doctor --json: want OpenBLAS and NVRTC each loaded or with a reason:\n%s", out)
	}
	// The measured peak, per loop and thread count, on any machine with AVX2.
	if runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && cpu.X86.HasFMA && (r.Peak["avx2/1"] <= 0 || r.Peak[fmt.Sprintf("avx2/%d", runtime.NumCPU())] <= 0) {
		t.Errorf("tl doctor --json: want a measured avx2 peak on 1 thread and on all %d:\n%s", runtime.NumCPU(), out)
	}
	if r.OpenBLAS != "" && r.OpenBLASCore == "" {
		t.Errorf("tl doctor --json: OpenBLAS loaded from %s without its core type:\n%s", r.OpenBLAS, out)
	}
	code, text, _ := runTL("doctor")
	if code != 0 || !(strings.Contains(text, "\nopenblas       usable: ") || strings.Contains(text, "\nopenblas       not usable: ")) {
		t.Errorf("tl doctor does not say whether OpenBLAS is usable:\n%s", text)
	}
	lib, err := emu.Build("")
	if err != nil {
		testenv.Require(t, "the CUDA emulator (to check the GPU line with)", err)
	}
	t.Setenv(cuda.EnvEmulator, lib)
	code, out, errOut = runTL("doctor")
	if code != 0 || !strings.Contains(out, "emulator") || !strings.Contains(out, "tl CPU emulator") {
		t.Errorf("tl doctor with %s set: exit %d\n%s%s", cuda.EnvEmulator, code, out, errOut)
	}
}
