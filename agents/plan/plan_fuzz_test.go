package plan_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tlgo/tl/agents/plan"
)

// Parse never panics; what it accepts is valid, survives a round trip through
// YAML and JSON, and what it rejects is a *plan.Error with a line inside the
// text (when it has a line).
func FuzzParse(f *testing.F) {
	f.Add([]byte(caption))
	f.Add([]byte(`{"name":"fan","tasks":[{"id":"a","kind":"noop","timeout":"90s"},{"id":"b","kind":"noop","deps":["a"]}]}`))
	f.Add([]byte("name: p\ntasks:\n  - &base {id: a, kind: train, queue: cuda}\n  - {<<: *base, id: b, deps: [a]}\n"))
	f.Add([]byte("name: p\ntasks:\n  - id: a\n    kind: [k\n"))
	f.Add([]byte("name: p\ntasks: [{id: a, kind: k, deps: [c]}, {id: b, kind: k, deps: [a]}, {id: c, kind: k, deps: [b]}]\n"))
	f.Add([]byte("name: p\ntasks:\n  - id: a\n    kind: k\n    max_attempts: 2\n    params: {x: [1, 2.5, null, {y: z}]}\n---\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("name: p\ntasks:\n  - id: a\n    kind: k\n    params: {opt: {1: x}, lr: .nan}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := plan.Parse(data, "f.yaml")
		if err != nil {
			var pe *plan.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *plan.Error", err, err)
			}
			if lines := yamlLines(data); pe.Line < 0 || pe.Line > lines {
				t.Fatalf("error %v: line %d of a %d-line text", err, pe.Line, lines)
			}
			if strings.Contains(err.Error(), "plan.TaskSpec") || strings.Contains(err.Error(), "plan.Spec") {
				t.Fatalf("error %v names a Go type", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a plan that Validate rejects: %v", err)
		}
		for i, tk := range s.Tasks {
			if tk.Queue == "" || tk.MaxAttempts < 1 {
				t.Fatalf("task %d: defaults not filled: %+v", i, tk)
			}
		}
		y, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("yaml.Marshal: %v", err)
		}
		again, err := plan.Parse(y, "again.yaml")
		if err != nil {
			t.Fatalf("re-parsing the plan written as YAML: %v\n%s", err, y)
		}
		normalize(s)
		normalize(again)
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("YAML round trip changed the plan:\n%+v\n%+v", s, again)
		}
		j, err := json.Marshal(s) // plans travel as JSON
		if err != nil {
			t.Fatalf("json.Marshal of an accepted plan: %v", err)
		}
		fromJSON, err := plan.Parse(j, "again.json")
		if err != nil {
			t.Fatalf("re-parsing the plan written as JSON: %v\n%s", err, j)
		}
		if len(fromJSON.Tasks) != len(s.Tasks) || fromJSON.Name != s.Name {
			t.Fatalf("JSON round trip changed the plan:\n%+v\n%+v", s, fromJSON)
		}
		for i := range s.Tasks {
			a, b := s.Tasks[i], fromJSON.Tasks[i]
			a.Params, b.Params = nil, nil // numbers may change type through JSON
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("JSON round trip changed task %d:\n%+v\n%+v", i, a, b)
			}
		}
	})
}

// normalize makes empty params and deps nil: YAML writes neither, and both
// mean the same.
func normalize(s *plan.Spec) {
	for i := range s.Tasks {
		if len(s.Tasks[i].Params) == 0 {
			s.Tasks[i].Params = nil
		}
		for k, v := range s.Tasks[i].Params {
			s.Tasks[i].Params[k] = numbersAsFloats(v)
		}
		if len(s.Tasks[i].Deps) == 0 {
			s.Tasks[i].Deps = nil
		}
	}
}

// numbersAsFloats makes every number in v a float64: YAML reads "08" as the
// float 8 and writes it back as 8, which it then reads as the int 8. The
// value is the same, and a task kind decodes both alike (params travel as
// JSON).
func numbersAsFloats(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case []any:
		for i := range x {
			x[i] = numbersAsFloats(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbersAsFloats(x[k])
		}
	}
	return v
}

// yamlLines counts lines as YAML does: \r\n, \r, \n, NEL, LS and PS end one.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\r', '\n', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
