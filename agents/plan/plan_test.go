package plan_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/plan"
)

const caption = `
name: caption
tasks:
  - id: cnn
    kind: train
    queue: cuda
    input: images
    model: cnn
    output: features
    params: {epochs: 3, layers: [32, 64]}
  - id: rnn
    kind: train
    deps: [cnn]
    input: features
    model: rnn
    output: captions
    max_attempts: 5
    timeout: 2h
  - id: eval
    kind: evaluate
    deps: [rnn]
`

func TestParseYAML(t *testing.T) {
	s, err := plan.Parse([]byte(caption), "caption.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "caption" || len(s.Tasks) != 3 {
		t.Fatalf("parsed %+v", s)
	}
	cnn, rnn := s.Task("cnn"), s.Task("rnn")
	if cnn.Queue != "cuda" || cnn.MaxAttempts != plan.DefaultMaxAttempts || cnn.Params["epochs"] != 3 {
		t.Fatalf("cnn = %+v", cnn)
	}
	if rnn.Queue != plan.DefaultQueue || rnn.MaxAttempts != 5 || time.Duration(rnn.Timeout) != 2*time.Hour {
		t.Fatalf("rnn = %+v", rnn)
	}
}

func TestParseJSON(t *testing.T) {
	s, err := plan.Parse([]byte(`{"name":"fan","tasks":[{"id":"a","kind":"noop","timeout":"90s"},{"id":"b","kind":"noop","deps":["a"]}]}`), "fan.json")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(s.Tasks[0].Timeout) != 90*time.Second || s.Tasks[1].Deps[0] != "a" {
		t.Fatalf("parsed %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"empty", ``, "empty file"},
		{"only comments", "# nothing yet\n", "empty file"},
		{"not a mapping", "- a\n- b\n", "line 1: expected a mapping with name and tasks, got a list"},
		{"unknown field", "name: p\ntasks:\n  - id: a\n    kind: k\n    script: x\n",
			`line 5: unknown field "script" in task 1 (id a); valid fields are id, kind, queue, input, model, output, params, deps, max_attempts, timeout`},
		{"unknown plan field", "name: p\nowner: me\ntasks: [{id: a, kind: k}]\n",
			`line 2: unknown field "owner" in the plan; valid fields are name, tasks, unserved_timeout`},
		{"no tasks", "name: p\n", "field tasks: a plan needs at least one task"},
		{"tasks not a list", "name: p\ntasks: {id: a}\n", "line 2: field tasks: expected a list of tasks, got a mapping"},
		{"task not a mapping", "name: p\ntasks:\n  - a\n", "line 3: task 1: expected a mapping with fields id, kind"},
		{"bad name", "name: p.q\ntasks: [{id: a, kind: k}]\n", `line 1: field name: "p.q" is not a plan name`},
		{"duplicate", "name: p\ntasks: [{id: a, kind: k}, {id: a, kind: k}]\n", `line 2: task 2 (id a): field id: id already used by task 1`},
		{"unknown dep", "name: p\ntasks:\n- {id: a, kind: k}\n- id: b\n  kind: k\n  deps: [z]\n", `line 6: task 2 (id b): field deps: no task "z" in this plan`},
		{"self dep", "name: p\ntasks: [{id: a, kind: k, deps: [a]}]\n", "task 1 (id a): field deps: a task cannot depend on itself"},
		{"cycle", "name: p\ntasks: [{id: a, kind: k, deps: [c]}, {id: b, kind: k, deps: [a]}, {id: c, kind: k, deps: [b]}]\n", "dependency cycle a -> c -> b -> a"},
		{"bad timeout", "name: p\ntasks:\n  - id: a\n    kind: k\n    timeout: soon\n", `line 5: task 1 (id a): field timeout: expected a duration such as 90s or 2h, got "soon"`},
		{"bad attempts", "name: p\ntasks:\n  - id: a\n    kind: k\n    max_attempts: lots\n", `line 5: task 1 (id a): field max_attempts: expected an integer, got "lots"`},
		{"attempts over the bound", "name: p\ntasks:\n  - id: a\n    kind: k\n    max_attempts: 1000000000\n", `line 5: task 1 (id a): field max_attempts: 1000000000, expected 1 to 100`},
		{"attempts negative", "name: p\ntasks:\n  - id: a\n    kind: k\n    max_attempts: -1\n", `line 5: task 1 (id a): field max_attempts: -1, expected 1 to 100`},
		{"negative unserved timeout", "name: p\nunserved_timeout: -1s\ntasks: [{id: a, kind: k}]\n", `line 2: field unserved_timeout: -1s is negative`},
		{"bad unserved timeout", "name: p\nunserved_timeout: never\ntasks: [{id: a, kind: k}]\n", `line 2: field unserved_timeout: expected a duration such as 1h or 24h, got "never"`},
		{"deps not a list", "name: p\ntasks:\n  - id: a\n    kind: k\n    deps: {b: 1}\n", `line 5: task 1 (id a): field deps: expected a list of task ids, got a mapping`},
		{"no kind", "name: p\ntasks: [{id: a}]\n", "task 1 (id a): field kind"},
		{"params key not a string", "name: p\ntasks:\n  - id: a\n    kind: k\n    params: {opt: {1: x}}\n", `line 5: task 1 (id a): field params: params.opt: key 1 is not a string; plans travel as JSON`},
		{"params NaN", "name: p\ntasks:\n  - id: a\n    kind: k\n    params: {lr: [0.1, .nan]}\n", `line 5: task 1 (id a): field params: params.lr[1]: NaN is not a number JSON can hold`},
		{"no kind, line", "name: p\ntasks:\n  - id: a\n    kind: k\n  - id: b\n", `line 5: task 2 (id b): field kind: "" is not a kind name`},
		{"two docs", "name: p\ntasks: [{id: a, kind: k}]\n---\nname: q\n", "line 3: more than one document"},
		{"merged unknown field", "name: p\ndefaults: &d {kind: k, retries: 2}\ntasks: [{<<: *d, id: a}]\n", `unknown field "defaults" in the plan`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := plan.Parse([]byte(c.doc), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "plan x.yaml: ") {
				t.Fatalf("Parse = %v; want an error naming x.yaml and %q", err, c.want)
			}
			if strings.Contains(err.Error(), "plan.") || strings.Contains(err.Error(), "TaskSpec") {
				t.Fatalf("Parse = %v; names a Go type", err)
			}
			var pe *plan.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %T, want a *plan.Error", err)
			}
		})
	}
}

// YAML syntax errors name the line of the token at fault (or of the bracket
// left open), not the line of the construct around it, which the YAML library
// names and counts from 0 for some errors.
func TestParseSyntaxErrorLines(t *testing.T) {
	for _, c := range []struct {
		name string
		doc  string
		line int
	}{
		{"unclosed flow sequence", "name: p\ntasks:\n  - id: a\n    kind: [k\n", 4},
		{"unclosed flow mapping, blank lines after", "name: p\ntasks:\n  - id: a\n    kind: k\n    params: {a: 1\n\n\n", 5},
		{"unclosed flow mapping, more tasks after", "name: p\ntasks:\n  - id: a\n    kind: k\n    params: {a: 1, b: 2\n  - id: b\n    kind: k\n", 5},
		{"tab indentation", "name: p\ntasks:\n  - id: a\n\tkind: k\n", 4},
		{"bad indentation", "name: p\ntasks:\n  - id: a\n    kind: k\n   queue: cpu\n", 5},
		{"mapping in a scalar", "name: p\ntasks:\n  - id: a\n    kind: k: v\n", 4},
		{"unclosed quote", "name: p\ntasks:\n  - id: a\n    kind: \"k\n", 4},
		{"second task", "name: p\ntasks:\n  - id: a\n    kind: k\n  - id: b\n    kind: ]\n", 6},
		{"first line", "name: [p\n", 1},
		{"JSON missing comma", "{\"name\": \"p\",\n \"tasks\": [\n  {\"id\": \"a\", \"kind\": \"k\"}\n  {\"id\": \"b\", \"kind\": \"k\"}\n ]\n}\n", 4},
		{"JSON missing bracket", "{\"name\": \"p\",\n \"tasks\": [\n  {\"id\": \"a\", \"kind\": \"k\"}\n}\n", 4},
		{"JSON unknown field", "{\"name\": \"p\",\n \"tasks\": [\n  {\"id\": \"a\",\n   \"kind\": \"k\", \"dep\": [\"b\"]}]}\n", 4},
		{"no final newline", "name: p\ntasks:\n  - id: a\n    kind: [k", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := plan.Parse([]byte(c.doc), "x.yaml")
			var pe *plan.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v; want a *plan.Error", err)
			}
			if pe.Line != c.line || !strings.Contains(err.Error(), fmt.Sprintf("line %d: ", c.line)) {
				t.Fatalf("Parse = %v (line %d); want line %d", err, pe.Line, c.line)
			}
		})
	}
}

// Anchors and merge keys are YAML, and plans may use them.
func TestParseMerge(t *testing.T) {
	s, err := plan.Parse([]byte("name: p\ntasks:\n  - &base {id: a, kind: train, queue: cuda}\n  - {<<: *base, id: b, deps: [a]}\n"), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Task("b"); b == nil || b.Kind != "train" || b.Queue != "cuda" {
		t.Fatalf("task b = %+v", b)
	}
	_, err = plan.Parse([]byte("name: p\ntasks:\n  - &base {id: a, kind: train, retries: 2}\n  - {<<: *base, id: b}\n"), "m.yaml")
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown field "retries" in task 1 (id a)`) {
		t.Fatalf("Parse = %v", err)
	}
}

func TestRules(t *testing.T) {
	s, err := plan.Parse([]byte(`
name: diamond
tasks:
  - {id: a, kind: k}
  - {id: b, kind: k, deps: [a]}
  - {id: c, kind: k, deps: [a]}
  - {id: d, kind: k, deps: [b, c]}
  - {id: e, kind: k}
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]plan.Status{"a": plan.Pending, "b": plan.Pending, "c": plan.Pending, "d": plan.Pending, "e": plan.Pending}
	if got := plan.Ready(s, st); !slices.Equal(got, []string{"a", "e"}) {
		t.Fatalf("Ready = %v; want [a e]", got)
	}
	st["a"], st["e"] = plan.Succeeded, plan.Running
	if got := plan.Ready(s, st); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("Ready = %v; want [b c]", got)
	}
	if got := plan.Downstream(s, "b"); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("Downstream(b) = %v; want [d]", got)
	}
	if got := plan.Downstream(s, "a"); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("Downstream(a) = %v; want [b c d]", got)
	}
	if got := plan.PlanStatus(s, st); got != plan.Running {
		t.Fatalf("PlanStatus = %v; want running", got)
	}
	st["b"], st["c"], st["d"], st["e"] = plan.Failed, plan.Succeeded, plan.Blocked, plan.Succeeded
	if got := plan.PlanStatus(s, st); got != plan.Failed {
		t.Fatalf("PlanStatus = %v; want failed", got)
	}
	st["b"], st["d"] = plan.Succeeded, plan.Succeeded
	if got := plan.PlanStatus(s, st); got != plan.Succeeded {
		t.Fatalf("PlanStatus = %v; want succeeded", got)
	}
}

// Merges of merges ("<<: [*t1, *t1, *t1]", twenty deep) are 3^20 fields when
// expanded: checking them must not walk every expansion (a hang the fuzzer
// found), and the decoder refuses the aliasing.
func TestParseMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: p\ntasks:\n  - &t0 {id: a, kind: k}\n")
	for i := 1; i < 20; i++ {
		fmt.Fprintf(&b, "  - &t%d {<<: [*t%d, *t%d, *t%d], id: a%d}\n", i, i-1, i-1, i-1, i)
	}
	start := time.Now()
	_, err := plan.Parse([]byte(b.String()), "bomb.yaml")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Parse took %v", d)
	}
	if err == nil || !strings.Contains(err.Error(), "aliasing") {
		t.Fatalf("Parse = %v; want the decoder's excessive-aliasing error", err)
	}
}

// A plan sets how long its tasks may wait on a queue nobody serves; the
// default is generous.
func TestUnservedTimeout(t *testing.T) {
	s, err := plan.Parse([]byte("name: p\nunserved_timeout: 90s\ntasks: [{id: a, kind: k}]\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Unserved() != 90*time.Second {
		t.Fatalf("Unserved() = %v, want 90s", s.Unserved())
	}
	s, err = plan.Parse([]byte("name: p\ntasks: [{id: a, kind: k, max_attempts: 100}]\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Unserved() != plan.DefaultUnservedTimeout || s.Unserved() < time.Hour {
		t.Fatalf("Unserved() = %v, want the default %v (at least an hour)", s.Unserved(), plan.DefaultUnservedTimeout)
	}
}
