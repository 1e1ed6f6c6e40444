// Command testsummary reads the output of `go test -json` on its standard
// input (several runs may follow one another, as make test runs one per
// module) and prints:
//
//   - while the tests run, a line per package as go test does ("ok",
//     "FAIL", "?"), and build errors as they come;
//   - at the end, the whole output of every failed test (and of every failed
//     package that has no failed test: a build error, a panic in TestMain, a
//     timeout), then every skipped test with its reason, and as the very last
//     line the count of passed, failed and skipped tests (subtests included):
//     "PASS: 1234 passed, 0 failed, 3 skipped".
//
// It exits with status 1 when a test or a package failed, 2 when its input
// cannot be read. Lines that are not JSON (a go command's own messages) are
// copied through, except a line "testsummary-exit N WHAT" that the caller
// writes after each go test: a non-zero N fails the summary even when no test
// or package failed (go test could not start, say).
//
// Usage:
//
//	{ go test -json ./...; echo "testsummary-exit $? go test ./..."; } | go run ./.ci/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), with the build
// events of go test -json (ImportPath, FailedBuild).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type key struct{ pkg, test string }

type result struct {
	key
	action      string // "pass", "fail" or "skip"
	elapsed     float64
	failedBuild string // for a package: the import path whose build failed
}

type summary struct {
	out        io.Writer
	output     map[key][]string // output lines by test ("" test: the package's own)
	tests      []result         // every test's last result, in the order they ended
	pkgs       []result         // every package's result
	failedPkgs map[string]bool
	buildOut   map[string][]string // build errors by import path
	exits      []string            // "testsummary-exit" lines with a non-zero status
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, output: map[key][]string{}, failedPkgs: map[string]bool{}, buildOut: map[string][]string{}}
}

// line handles one input line.
func (s *summary) line(text string) {
	if m := exitLine.FindStringSubmatch(text); m != nil {
		if m[1] != "0" {
			s.exits = append(s.exits, fmt.Sprintf("%s: exit status %s", m[2], m[1]))
		}
		return
	}
	var e event
	if !strings.HasPrefix(text, "{") || json.Unmarshal([]byte(text), &e) != nil || e.Action == "" {
		fmt.Fprintln(s.out, text)
		return
	}
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.out, e.Output)
		s.buildOut[e.ImportPath] = append(s.buildOut[e.ImportPath], e.Output)
	case "output":
		k := key{e.Package, e.Test}
		s.output[k] = append(s.output[k], e.Output)
		if e.Test == "" && isPackageResult(e.Output) {
			fmt.Fprint(s.out, e.Output)
		}
	case "pass", "fail", "skip":
		r := result{key{e.Package, e.Test}, e.Action, e.Elapsed, e.FailedBuild}
		if e.Test != "" {
			s.tests = append(s.tests, r)
			return
		}
		s.pkgs = append(s.pkgs, r)
		if e.Action == "fail" {
			s.failedPkgs[e.Package] = true
		}
	}
}

var exitLine = regexp.MustCompile(`^testsummary-exit (\d+) (.*)$`)

var pkgResult = regexp.MustCompile(`^(ok  |FAIL|\?   )\s*\t`)

// isPackageResult reports whether a package's output line is the line go test
// prints for the package's result ("ok  \tpkg\t1.2s").
func isPackageResult(line string) bool { return pkgResult.MatchString(line) }

// framing reports whether a test's output line is one that go test writes
// around the test's own output (=== RUN, --- PASS, ...).
func framing(line string) bool {
	t := strings.TrimLeft(line, " ")
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS:", "--- FAIL:", "--- SKIP:"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// own returns a test's output without the framing lines.
func own(lines []string) []string {
	var o []string
	for _, l := range lines {
		if !framing(l) {
			o = append(o, l)
		}
	}
	return o
}

var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// skipReason returns the message of a skipped test: its last t.Log-style
// message (file.go:NN: and its continuation lines), which is the one t.Skip
// printed, else all its own output.
func skipReason(lines []string) string {
	o := own(lines)
	start := -1
	for i, l := range o {
		if logLine.MatchString(l) {
			start = i
		}
	}
	if start >= 0 {
		o = o[start:]
	}
	var b []string
	for _, l := range o {
		if l = strings.TrimSpace(l); l != "" {
			b = append(b, l)
		}
	}
	if len(b) == 0 {
		return "(no reason given)"
	}
	return strings.Join(b, "\n      ")
}

// finish prints the summary and returns the exit status.
func (s *summary) finish() int {
	// The last result of each test counts (a rerun of the same binary
	// replaces it).
	last := map[key]int{}
	for i, r := range s.tests {
		last[r.key] = i
	}
	var passed, failed, skipped []result
	hasFailedChild := map[key]bool{}
	for i, r := range s.tests {
		if last[r.key] != i {
			continue
		}
		switch r.action {
		case "pass":
			passed = append(passed, r)
		case "fail":
			failed = append(failed, r)
			if j := strings.LastIndex(r.test, "/"); j > 0 {
				hasFailedChild[key{r.pkg, r.test[:j]}] = true
			}
		case "skip":
			skipped = append(skipped, r)
		}
	}
	w := s.out
	failedWithTests := map[string]bool{}
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n=== Failed tests (%d)\n", len(failed))
		for _, r := range failed {
			failedWithTests[r.pkg] = true
			lines := s.output[r.key]
			if hasFailedChild[r.key] && len(own(lines)) == 0 {
				// A parent that failed only because a subtest did:
				// the subtest's output is printed on its own.
				continue
			}
			fmt.Fprintf(w, "\n--- FAIL: %s %s (%.2fs)\n", r.pkg, r.test, r.elapsed)
			for _, l := range lines {
				fmt.Fprint(w, l)
			}
		}
	}
	var pkgFails []result
	for _, r := range s.pkgs {
		if r.action == "fail" && !failedWithTests[r.pkg] {
			pkgFails = append(pkgFails, r)
		}
	}
	if len(pkgFails) > 0 {
		fmt.Fprintf(w, "\n=== Failed packages without a failed test (build errors, panics outside tests, timeouts) (%d)\n", len(pkgFails))
		for _, r := range pkgFails {
			fmt.Fprintf(w, "\n--- FAIL: %s\n", r.pkg)
			for _, l := range s.buildOut[r.failedBuild] {
				fmt.Fprint(w, l)
			}
			for _, l := range s.output[key{r.pkg, ""}] {
				fmt.Fprint(w, l)
			}
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\n=== Skipped tests (%d)\n", len(skipped))
		sort.SliceStable(skipped, func(i, j int) bool {
			if skipped[i].pkg != skipped[j].pkg {
				return skipped[i].pkg < skipped[j].pkg
			}
			return skipped[i].test < skipped[j].test
		})
		for _, r := range skipped {
			fmt.Fprintf(w, "SKIP %s %s: %s\n", r.pkg, r.test, skipReason(s.output[r.key]))
		}
	}
	pkgFailed := 0
	for _, r := range s.pkgs {
		if r.action == "fail" {
			pkgFailed++
		}
	}
	status := "PASS"
	if len(failed) > 0 || pkgFailed > 0 {
		status = "FAIL"
	} else if len(s.exits) > 0 {
		status = "FAIL"
		fmt.Fprintf(w, "\n=== Failed without a failed test or package (see the go command's messages above)\n")
		for _, x := range s.exits {
			fmt.Fprintln(w, x)
		}
	}
	// The last line is the plain "N passed, N failed, N skipped" that CI reads.
	fmt.Fprintf(w, "\n%d packages, %d failed; tests, subtests included:\n", len(s.pkgs), pkgFailed)
	fmt.Fprintf(w, "%s: %d passed, %d failed, %d skipped\n", status, len(passed), len(failed), len(skipped))
	if status == "FAIL" {
		return 1
	}
	return 0
}

func run(in io.Reader, out io.Writer) int {
	s := newSummary(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		s.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testsummary: reading go test -json: %v\n", err)
		s.finish()
		return 2
	}
	return s.finish()
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}
