package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending
// the test (the embedded nil TB panics if Require calls anything else).
type recorder struct {
	testing.TB
	fatal, skip []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = append(r.skip, fmt.Sprintf(format, args...))
}

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": true, "1": true, "TRUE": true, "false": false, "0": false, "yes": false} {
		t.Setenv(EnvCI, v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", v, got, want)
		}
	}
}

func TestRequire(t *testing.T) {
	reason := errors.New("libopenblas.so.0: cannot open shared object file")
	for _, tc := range []struct {
		ci          string
		err         error
		fatal, skip int
	}{
		{ci: "", err: nil},
		{ci: "true", err: nil},
		{ci: "", err: reason, skip: 1},
		{ci: "false", err: reason, skip: 1},
		{ci: "true", err: reason, fatal: 1},
		{ci: "1", err: reason, fatal: 1},
	} {
		t.Setenv(EnvCI, tc.ci)
		r := &recorder{}
		Require(r, "OpenBLAS", tc.err)
		if len(r.fatal) != tc.fatal || len(r.skip) != tc.skip {
			t.Errorf("CI=%q, err=%v: %d Fatalf and %d Skipf, want %d and %d", tc.ci, tc.err, len(r.fatal), len(r.skip), tc.fatal, tc.skip)
		}
		for _, msg := range append(r.fatal, r.skip...) {
			if !strings.Contains(msg, "OpenBLAS") || !strings.Contains(msg, reason.Error()) {
				t.Errorf("CI=%q: message %q does not name the prerequisite and the reason", tc.ci, msg)
			}
		}
	}
}

func TestRequireEnv(t *testing.T) {
	const name = "TL_TESTENV_TEST_URL"
	t.Setenv(EnvCI, "true")
	t.Setenv(name, "nats://127.0.0.1:4222")
	r := &recorder{}
	if v := RequireEnv(r, "nats-server", name, "nats://host:4222"); v != "nats://127.0.0.1:4222" || len(r.fatal)+len(r.skip) != 0 {
		t.Errorf("set: got %q, fatal %q, skip %q", v, r.fatal, r.skip)
	}
	t.Setenv(name, "")
	r = &recorder{}
	RequireEnv(r, "nats-server", name, "nats://host:4222")
	if len(r.fatal) != 1 || !strings.Contains(r.fatal[0], name+"=nats://host:4222") {
		t.Errorf("unset under CI: fatal %q, skip %q; want one failure that says how to set %s", r.fatal, r.skip, name)
	}
	t.Setenv(EnvCI, "")
	r = &recorder{}
	RequireEnv(r, "nats-server", name, "nats://host:4222")
	if len(r.skip) != 1 || len(r.fatal) != 0 {
		t.Errorf("unset outside CI: fatal %q, skip %q; want one skip", r.fatal, r.skip)
	}
}

// TestRequireEndsTest runs TestHelperMissing in a child process with a real
// *testing.T: under CI the child fails with the reason, outside it skips, and
// in both cases nothing after Require runs.
func TestRequireEndsTest(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the test binary again")
	}
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMissing$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "TL_TESTENV_HELPER=1", EnvCI+"="+ci)
		out, err := cmd.CombinedOutput()
		s := string(out)
		if strings.Contains(s, "after Require") {
			t.Errorf("CI=%q: the test went on after Require:\n%s", ci, s)
		}
		if !strings.Contains(s, "the widget is missing") || !strings.Contains(s, "no widget here") {
			t.Errorf("CI=%q: output lacks the prerequisite and the reason:\n%s", ci, s)
		}
		if ci == "true" {
			if err == nil || !strings.Contains(s, "--- FAIL: TestHelperMissing") {
				t.Errorf("CI=true: want the test to fail (err %v):\n%s", err, s)
			}
		} else if err != nil || !strings.Contains(s, "--- SKIP: TestHelperMissing") {
			t.Errorf("outside CI: want the test to skip (err %v):\n%s", err, s)
		}
	}
}

func TestHelperMissing(t *testing.T) {
	if os.Getenv("TL_TESTENV_HELPER") != "1" {
		return // run by TestRequireEndsTest in a child process; passes (not skips) here so CI lists no skip
	}
	Require(t, "the widget", errors.New("no widget here"))
	t.Log("after Require")
}
