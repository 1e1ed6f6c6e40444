package main

import (
	"os"
	"strings"
	"testing"
)

// testdata/mixed.json is `go test -json` of three packages: tj (a pass, a
// skip with a two-line reason, a failure, a failed and a skipped subtest,
// a skipped parallel subtest), tj/p (a panic) and tj/q (a build error).
func TestMixed(t *testing.T) {
	in, err := os.Open("testdata/mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out strings.Builder
	if code := run(in, &out); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	s := out.String()
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if got, want := lines[len(lines)-1], "FAIL: 3 passed, 4 failed, 3 skipped"; got != want {
		t.Errorf("last line:\n got %q\nwant %q", got, want)
	}
	if got, want := lines[len(lines)-2], "3 packages, 3 failed; tests, subtests included:"; got != want {
		t.Errorf("line before the last:\n got %q\nwant %q", got, want)
	}
	for _, want := range []string{
		"FAIL\ttj\t0.004s\n",                                  // progress line
		"q/q_test.go:3:27: undefined: undefined\n",            // build error, as it comes
		"--- FAIL: tj TestFail (0.00s)\n=== RUN   TestFail\n", // a failed test's whole output
		"to stderr\nto stdout\n    a_test.go:5: bad\n        thing\n",
		"--- FAIL: tj TestSub/b",
		"--- FAIL: tj/p TestPanic",
		"panic: boom",
		"--- FAIL: tj/q\n# tj/q [tj/q.test]\n",
		"=== Skipped tests (3)\n",
		"SKIP tj TestSkip: a_test.go:4: no widget: x\n      second line\n", // the reason, not the t.Log before it
		"SKIP tj TestSub/a: a_test.go:6: sub skip\n",
		"SKIP tj TestPar/y: a_test.go:7: par skip y\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "--- FAIL: tj TestSub (") {
		t.Errorf("TestSub failed only through TestSub/b but is printed on its own:\n%s", s)
	}
	if strings.Contains(s, "a_test.go:3: hello") {
		t.Errorf("a passing test's output is printed:\n%s", s)
	}
}

func TestAllPass(t *testing.T) {
	in := `go: downloading example.com/m v1.0.0
{"Action":"run","Package":"m","Test":"TestA"}
{"Action":"output","Package":"m","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"m","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"m","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"m","Output":"PASS\n"}
{"Action":"output","Package":"m","Output":"ok  \tm\t0.003s\n"}
{"Action":"pass","Package":"m","Elapsed":0.003}
{"Action":"output","Package":"m/none","Output":"?   \tm/none\t[no test files]\n"}
{"Action":"skip","Package":"m/none","Elapsed":0}
`
	var out strings.Builder
	if code := run(strings.NewReader(in), &out); code != 0 {
		t.Errorf("exit status %d, want 0:\n%s", code, out.String())
	}
	want := "go: downloading example.com/m v1.0.0\nok  \tm\t0.003s\n?   \tm/none\t[no test files]\n\n" +
		"2 packages, 0 failed; tests, subtests included:\nPASS: 1 passed, 0 failed, 0 skipped\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A failed package without test events (a timeout, a panic in TestMain)
// fails the summary and shows the package's output.
func TestPackageFailure(t *testing.T) {
	in := `{"Action":"output","Package":"m","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"m","Output":"FAIL\tm\t1.002s\n"}
{"Action":"fail","Package":"m","Elapsed":1.002}
`
	var out strings.Builder
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if s := out.String(); !strings.Contains(s, "--- FAIL: m\npanic: test timed out after 1s\n") ||
		!strings.HasSuffix(s, "1 packages, 1 failed; tests, subtests included:\nFAIL: 0 passed, 0 failed, 0 skipped\n") {
		t.Errorf("output:\n%s", s)
	}
}

// go test that fails before any package (a broken go.mod) fails the summary
// through the caller's "testsummary-exit" line; a zero status does not.
func TestExitLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int
		last string
	}{
		{"go: errors parsing go.mod\ntestsummary-exit 1 go test ./...\n", 1, "FAIL: 0 passed, 0 failed, 0 skipped"},
		{"testsummary-exit 0 go test ./...\n", 0, "PASS: 0 passed, 0 failed, 0 skipped"},
	} {
		var out strings.Builder
		code := run(strings.NewReader(tc.in), &out)
		s := out.String()
		if code != tc.code || !strings.HasSuffix(s, tc.last+"\n") || strings.Contains(s, "testsummary-exit") {
			t.Errorf("input %q: exit status %d (want %d), output:\n%s", tc.in, code, tc.code, s)
		}
		if tc.code == 1 && !strings.Contains(s, "go test ./...: exit status 1") {
			t.Errorf("input %q: the failed command is not named:\n%s", tc.in, s)
		}
	}
}
