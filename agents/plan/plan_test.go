package plan_test

import (
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
		{"unknown field", "name: p\ntasks:\n  - id: a\n    kind: k\n    script: x\n", "line 5: field script not found"},
		{"no tasks", "name: p\n", "at least one task"},
		{"bad name", "name: p.q\ntasks: [{id: a, kind: k}]\n", "field name"},
		{"duplicate", "name: p\ntasks: [{id: a, kind: k}, {id: a, kind: k}]\n", `task "a": id already used`},
		{"unknown dep", "name: p\ntasks: [{id: a, kind: k, deps: [z]}]\n", `no task "z"`},
		{"self dep", "name: p\ntasks: [{id: a, kind: k, deps: [a]}]\n", "itself"},
		{"cycle", "name: p\ntasks: [{id: a, kind: k, deps: [c]}, {id: b, kind: k, deps: [a]}, {id: c, kind: k, deps: [b]}]\n", "cycle a -> c -> b -> a"},
		{"bad timeout", "name: p\ntasks: [{id: a, kind: k, timeout: soon}]\n", `duration "soon"`},
		{"no kind", "name: p\ntasks: [{id: a}]\n", "field kind"},
		{"two docs", "name: p\ntasks: [{id: a, kind: k}]\n---\nname: q\n", "more than one document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := plan.Parse([]byte(c.doc), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.yaml") {
				t.Fatalf("Parse = %v; want an error naming x.yaml and %q", err, c.want)
			}
		})
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
