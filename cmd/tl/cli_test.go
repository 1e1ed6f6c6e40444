package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/dataset"
)

// Usage errors exit 2 in every command: an unknown flag, a wrong number of
// arguments, an unknown command, a bad flag value.
func TestUsageErrorsExit2(t *testing.T) {
	t.Setenv("TL_HOME", t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"stauts"}, "did you mean status?"},
		{[]string{"submit"}, "expected 1 argument(s), got 0"},
		{[]string{"submit", "a.yaml", "b.yaml"}, "expected 1 argument(s), got 2"},
		{[]string{"submit", "a.yaml", "--wiat"}, "unknown flag: --wiat"},
		{[]string{"submit", "a.yaml", "--wait", "--report-every", "0s"}, "--report-every 0s"},
		{[]string{"status", "a", "b"}, "expected 0 to 1 arguments"},
		{[]string{"status", "--json=maybe"}, `invalid argument "maybe"`},
		{[]string{"cancel"}, "expected 1 argument(s)"},
		{[]string{"retry"}, "expected at least 1 argument(s)"},
		{[]string{"master", "extra"}, "expected 0 argument(s), got 1"},
		{[]string{"master", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"master", "--tick", "often"}, `invalid argument "often"`},
		{[]string{"doctor", "--frobnicate"}, "unknown flag: --frobnicate"},
		{[]string{"models", "a", "b"}, "expected 0 to 1 arguments"},
		{[]string{"curve", "cnn", "--connect-wait", "long"}, `invalid argument "long"`},
		{[]string{"completion", "tcsh"}, "tcsh"},
	} {
		code, _, errOut := runTL(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("tl %s: exit %d, %q; want exit 2 and %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
		if code == 2 && len(c.args) > 0 && c.args[0] != "completion" && !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("tl %s: the usage error does not point at --help: %q", strings.Join(c.args, " "), errOut)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runTL("completion", shell)
		if code != 0 || len(out) < 200 || !strings.Contains(out, "tl") {
			t.Errorf("tl completion %s: exit %d, %d bytes, %q", shell, code, len(out), errOut)
		}
	}
	// The subcommands complete: cobra's hidden __complete answers with them.
	code, out, _ := runTL("__complete", "sub")
	if code != 0 || !strings.Contains(out, "submit") {
		t.Errorf("tl __complete sub: exit %d, %q; want submit among the completions", code, out)
	}
}

// Flags go after the positional arguments too: each command below gets its
// URL from a flag written after its arguments, and fails reaching it (exit 1,
// not a usage error), naming it.
func TestFlagsAfterArguments(t *testing.T) {
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_NATS_URL", "")
	t.Setenv("TL_MONGO_URL", "")
	planFile := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(planFile, []byte("name: p\ntasks:\n  - {id: a, kind: noop}\n"), 0o644)
	for _, args := range [][]string{
		{"submit", planFile, "--nats", "nats://127.0.0.1:1"},
		{"submit", planFile, "-nats", "nats://127.0.0.1:1", "-wait=false"}, // Go-style single dash
		{"cancel", "p-1", "--nats", "nats://127.0.0.1:1"},
		{"retry", "p-1", "a", "--nats=nats://127.0.0.1:1", "b"},
	} {
		start := time.Now()
		code, _, errOut := runTL(args...)
		if code != 1 || !strings.Contains(errOut, "nothing answers at nats://127.0.0.1:1") {
			t.Errorf("tl %s: exit %d, %q; want exit 1 and nothing answering at the --nats given", strings.Join(args, " "), code, errOut)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("tl %s took %v to fail", strings.Join(args, " "), d)
		}
	}
	// status reads the store of --home (none there).
	home := t.TempDir()
	code, _, errOut := runTL("status", "p-1", "--home", home)
	if code != 1 || !strings.Contains(errOut, "no store in "+filepath.Join(home, "store")) {
		t.Errorf("tl status p-1 --home %s: exit %d, %q", home, code, errOut)
	}
}

// An unreachable --mongo or --nats fails within seconds, saying nothing
// answers there, with the URL's password hidden; --connect-wait keeps trying.
func TestUnreachableServers(t *testing.T) {
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_NATS_URL", "")
	t.Setenv("TL_MONGO_URL", "")
	start := time.Now()
	code, _, errOut := runTL("models", "--mongo", "mongodb://tl:s3cret@127.0.0.1:1/tl")
	if code != 1 || !strings.Contains(errOut, "nothing answers at mongodb://tl:xxxxx@127.0.0.1:1/tl") || strings.Contains(errOut, "s3cret") {
		t.Errorf("tl models --mongo BAD: exit %d, %q", code, errOut)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("tl models --mongo BAD took %v to fail; want a few seconds", d)
	}
	code, _, errOut = runTL("cancel", "p-1", "--nats", "nats://tl:s3cret@127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "nothing answers at nats://tl:xxxxx@127.0.0.1:1") || strings.Contains(errOut, "s3cret") {
		t.Errorf("tl cancel --nats BAD: exit %d, %q", code, errOut)
	}
	start = time.Now()
	code, _, errOut = runTL("cancel", "p-1", "--nats", "nats://127.0.0.1:1", "--connect-wait", "1500ms")
	if d := time.Since(start); code != 1 || d < 1400*time.Millisecond || !strings.Contains(errOut, "for --connect-wait 1.5s") {
		t.Errorf("tl cancel --connect-wait 1500ms: exit %d after %v, %q; want exit 1 after trying 1.5s", code, d, errOut)
	}
}

// A master in this process, on embedded servers in a fresh home, and no
// agent: submit --wait says what the plan waits for; a second master on the
// home fails at once; the commands find the master through --home; stopped,
// it says what it waits for, and the store commands then open the home's
// store themselves.
func TestMasterHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("TL_HOME", t.TempDir()) // not the home under test: --home must choose it
	t.Setenv("TL_NATS_URL", "")
	t.Setenv("TL_MONGO_URL", "")
	t.Setenv("TL_PROJECT", "")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var mout, merr testworld.Buffer
	masterDone := make(chan int, 1)
	go func() {
		masterDone <- run(ctx, []string{"master", "--home", home, "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0", "--tick", "300ms"}, &mout, &merr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := endpoints.Read(home); err == nil {
			break
		}
		select {
		case code := <-masterDone:
			t.Fatalf("tl master exited %d:\n%s%s", code, mout.String(), merr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoints file after 60s:\n%s", merr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer func() {
		if t.Failed() {
			t.Logf("master output:\n%s%s", mout.String(), merr.String())
		}
	}()

	t.Run("second master", func(t *testing.T) {
		start := time.Now()
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"master", "--home", home, "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0"}, &out, &errb)
		msg := errb.String()
		if code != 1 || !strings.Contains(msg, "another master runs on home "+home) || !strings.Contains(msg, endpoints.LockFile) ||
			strings.Contains(msg, "--nats-listen") || strings.Contains(msg, "embedded NATS started") {
			t.Errorf("second master on one home: exit %d, %q; want exit 1 naming the lock, before any server starts, suggesting no --nats-listen", code, msg)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("second master took %v to fail; want at once", d)
		}
	})

	planFile := filepath.Join(t.TempDir(), "lonely.yaml")
	os.WriteFile(planFile, []byte("name: lonely\ntasks:\n  - {id: a, kind: noop}\n  - {id: b, kind: noop, deps: [a]}\n"), 0o644)
	var id string
	t.Run("submit --wait with no agent", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		// The flags after the plan file, as the README writes it.
		code := run(wctx, []string{"submit", planFile, "--wait", "--home", home, "--report-every", "1s"}, &out, &errb)
		text := out.String()
		if code != 1 || !strings.Contains(errb.String(), "context deadline exceeded") {
			t.Errorf("submit --wait cut short: exit %d, %q", code, errb.String())
		}
		if !strings.Contains(text, "submitted plan lonely-") {
			t.Fatalf("submit --wait: %s", text)
		}
		id = strings.Fields(strings.SplitN(text, "submitted plan ", 2)[1])[0]
		warn := "task a waits on queue cpu; warning: tasks wait on queue cpu, which no agent serves (start one with: tl-agent --queues cpu)"
		if n := strings.Count(text, warn); n < 2 {
			t.Errorf("submit --wait said %d times that no agent serves queue cpu; want at the start and again every --report-every:\n%s", n, text)
		}
		if !strings.Contains(text, "waiting: plan "+id+" is running, 0/2 done, 1 queued, 1 pending") && !strings.Contains(text, "waiting: plan "+id+" is pending, 0/2 done, 1 queued, 1 pending") {
			t.Errorf("submit --wait does not say the plan's state:\n%s", text)
		}
		if !strings.Contains(text, "pending on their dependencies: b") {
			t.Errorf("submit --wait does not say b waits on its dependencies:\n%s", text)
		}
	})
	if id == "" {
		t.FailNow()
	}

	t.Run("commands through --home", func(t *testing.T) {
		code, out, errOut := runTL("status", id, "--home", home)
		if code != 0 || !strings.Contains(out, "warning: tasks wait on queue cpu, which no agent serves") || !strings.Contains(out, " leads (host ") {
			t.Errorf("tl status %s --home: exit %d\n%s%s", id, code, out, errOut)
		}
		code, out, errOut = runTL("models", "--home", home)
		if code != 0 || !strings.Contains(out, `no models in project "default"`) {
			t.Errorf("tl models --home: exit %d\n%s%s", code, out, errOut)
		}
		// The store commands use no NATS: TL_NATS_URL does not concern them.
		t.Setenv("TL_NATS_URL", "nats://127.0.0.1:1")
		code, out, errOut = runTL("models", "--home", home)
		if code != 0 || !strings.Contains(out, `no models in project "default"`) {
			t.Errorf("tl models --home with TL_NATS_URL set: exit %d\n%s%s", code, out, errOut)
		}
		t.Setenv("TL_NATS_URL", "")
		// An explicit URL is used, never the local master's in its place.
		code, _, errOut = runTL("submit", planFile, "--home", home, "--nats", "nats://127.0.0.1:1")
		if code != 1 || !strings.Contains(errOut, "nothing answers at nats://127.0.0.1:1") {
			t.Errorf("tl submit --nats BAD with a local master: exit %d, %q", code, errOut)
		}
		code, _, errOut = runTL("submit", planFile, "--home", home, "--mongo", "mongodb://127.0.0.1:1")
		if code != 1 || !strings.Contains(errOut, "--mongo mongodb://127.0.0.1:1 given but no NATS URL") {
			t.Errorf("tl submit --mongo BAD with a local master: exit %d, %q", code, errOut)
		}
		code, _, errOut = runTL("submit", planFile, "--home", home, "--mongo", "mongodb://127.0.0.1:1", "--nats", mustEndpoints(t, home).NATS)
		if code != 1 || !strings.Contains(errOut, "nothing answers at mongodb://127.0.0.1:1") {
			t.Errorf("tl submit --mongo BAD --nats GOOD: exit %d, %q; want the store checked before the plan is sent", code, errOut)
		}
		time.Sleep(time.Second) // a plan sent would be recorded by now
		if _, out, _ := runTL("status", "--home", home); strings.Count(out, "lonely-") != 1 {
			t.Errorf("a failed submit sent its plan; tl status:\n%s", out)
		}
		code, out, errOut = runTL("cancel", id, "--home", home)
		if code != 0 || !strings.Contains(out, "cancel of "+id+" done") {
			t.Errorf("tl cancel %s --home: exit %d\n%s%s", id, code, out, errOut)
		}
		code, out, errOut = runTL("retry", id, "a", "--home", home)
		if code != 0 || !strings.Contains(out, "retry of "+id+" done") {
			t.Errorf("tl retry %s a --home: exit %d\n%s%s", id, code, out, errOut)
		}
	})

	stop()
	select {
	case code := <-masterDone:
		if code != 0 {
			t.Errorf("master exit %d after its context ended", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("master still running 60s after its context ended")
	}
	for _, want := range []string{"stopping: the master gives up its lease", "stopping: waiting for the store", "stopped the embedded NATS server"} {
		if !strings.Contains(merr.String(), want) {
			t.Errorf("the stopping master did not log %q", want)
		}
	}
	if _, err := endpoints.Read(home); err == nil {
		t.Error("endpoints file left behind by a stopped master")
	}

	t.Run("no master", func(t *testing.T) {
		code, out, errOut := runTL("status", "--home", home)
		if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "master: none runs on "+home) {
			t.Errorf("tl status --home with no master: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = runTL("models", "--home", home)
		if code != 0 || !strings.Contains(out, `no models in project "default"`) {
			t.Errorf("tl models --home with no master: exit %d\n%s%s", code, out, errOut)
		}
	})

	// A new master says which unfinished plans it resumes.
	ctx2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	var mout2, merr2 testworld.Buffer
	done2 := make(chan int, 1)
	go func() {
		done2 <- run(ctx2, []string{"master", "--home", home, "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0"}, &mout2, &merr2)
	}()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(mout2.String(), "master ready"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("restarted master not ready after 60s:\n%s", merr2.String())
		}
	}
	stop2()
	if code := <-done2; code != 0 || !strings.Contains(merr2.String(), "unfinished plans in the store") || !strings.Contains(merr2.String(), id) {
		t.Errorf("restarted master: exit %d; want it to name the unfinished plan %s it resumes:\n%s", code, id, merr2.String())
	}
}

// tl master stops on an interrupt saying what it waits for; a second
// interrupt stops it at once (exit 130).
func TestMasterSecondInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	tl := build(t, t.TempDir(), "github.com/tlgo/tl/cmd/tl")
	home := t.TempDir()
	var out testworld.Buffer
	m := exec.Command(tl, "master", "--home", home, "--nats-listen", "127.0.0.1:0", "--mongo-listen", "127.0.0.1:0")
	m.Env = append(os.Environ(), "TL_NATS_URL=", "TL_MONGO_URL=")
	m.Stdout, m.Stderr = &out, &out
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Process.Kill()
	waitOutput := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q from tl master:\n%s", want, out.String())
			}
		}
	}
	waitOutput("master running")
	_ = m.Process.Signal(syscall.SIGINT)
	waitOutput("interrupt again to stop at once")
	_ = m.Process.Signal(syscall.SIGINT)
	err := m.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 || !strings.Contains(out.String(), "again: stopping at once") {
		t.Errorf("tl master after two interrupts: %v; want exit 130 at once\n%s", err, out.String())
	}
	// The lock died with the process: a new master takes the home.
	l, err := endpoints.Lock(home)
	if err != nil {
		t.Fatalf("the home's lock outlived the master: %v", err)
	}
	l.Release()
}

func TestRoundJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"accuracy":0.912345678901,"loss":0.27,"steps":60000,"model":"cnn","version":3}`: `{"accuracy":0.9123,"loss":0.27,"model":"cnn","steps":60000,"version":3}`,
		`{"metrics":{"val_loss":1.23456789e-05},"curve":[0.55555555,2]}`:                  `{"curve":[0.5556,2],"metrics":{"val_loss":1.235e-05}}`,
		`not json`: `not json`,
		``:         ``,
	} {
		if got := roundJSON(in); got != want {
			t.Errorf("roundJSON(%s) = %s; want %s", in, got, want)
		}
	}
}

func TestLoadReason(t *testing.T) {
	got := loadReason(errors.New("cuda: libnvrtc not found; tried: libnvrtc.so.12 (); /usr/lib/libnvrtc.so.12 (missing)"))
	if strings.Contains(got, "()") || !strings.Contains(got, "libnvrtc.so.12 (the dynamic loader gave no reason") || !strings.Contains(got, "(missing)") {
		t.Errorf("loadReason = %q; want the empty reason replaced, the others kept", got)
	}
	if got := loadReason(errors.New("")); got == "" {
		t.Error("loadReason of an empty message is empty")
	}
}

func TestResumeNote(t *testing.T) {
	if got := resumeNote(context.Background(), dataset.ImportStats{Inserted: 5}); got != "" {
		t.Errorf("resumeNote of a failed, not interrupted, import = %q; want none", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := resumeNote(ctx, dataset.ImportStats{Inserted: 1200}); !strings.Contains(got, "interrupted after 1200 samples") || !strings.Contains(got, "skips them and imports the rest") {
		t.Errorf("resumeNote of an interrupted import = %q", got)
	}
}

func mustEndpoints(t *testing.T, home string) endpoints.Endpoints {
	t.Helper()
	e, err := endpoints.Read(home)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
