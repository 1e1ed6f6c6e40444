package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tlgo/tl/agents/task"
	"go.yaml.in/yaml/v3"
)

// DefaultQueue is the queue of a task that names none.
const DefaultQueue = "cpu"

// DefaultMaxAttempts is the attempt budget of a task that sets none.
const DefaultMaxAttempts = 3

// MaxAttemptsLimit bounds max_attempts: a task that failed this often will not
// succeed by being tried again, and a huge budget keeps a broken task in the
// queue for ever.
const MaxAttemptsLimit = 100

// DefaultUnservedTimeout is how long a task may wait on a queue that no agent
// serves before the master fails it, for a plan that sets no unserved_timeout.
const DefaultUnservedTimeout = 24 * time.Hour

// Spec is a plan as written by a person.
type Spec struct {
	Name  string     `yaml:"name" json:"name"`
	Tasks []TaskSpec `yaml:"tasks" json:"tasks"`
	// UnservedTimeout is how long a queued task may wait on a queue that no
	// agent serves (no agent announced it) before the master fails it; zero
	// means DefaultUnservedTimeout.
	UnservedTimeout task.Duration `yaml:"unserved_timeout,omitempty" json:"unserved_timeout,omitempty"`
}

// Unserved returns the plan's unserved timeout, its default filled in.
func (s *Spec) Unserved() time.Duration {
	if s.UnservedTimeout > 0 {
		return time.Duration(s.UnservedTimeout)
	}
	return DefaultUnservedTimeout
}

// TaskSpec is one task of a plan.
type TaskSpec struct {
	ID          string         `yaml:"id" json:"id"`
	Kind        string         `yaml:"kind" json:"kind"`
	Queue       string         `yaml:"queue,omitempty" json:"queue,omitempty"`
	Input       string         `yaml:"input,omitempty" json:"input,omitempty"`
	Model       string         `yaml:"model,omitempty" json:"model,omitempty"`
	Output      string         `yaml:"output,omitempty" json:"output,omitempty"`
	Params      map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	Deps        []string       `yaml:"deps,omitempty" json:"deps,omitempty"`
	MaxAttempts int            `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	Timeout     task.Duration  `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Parse reads a plan in YAML or JSON (JSON is YAML) and validates it. source names
// the input in errors (a file name). Defaults are filled in: queue cpu, 3 attempts.
//
// Errors are an *Error that names the line and, for a task, its position and id
// and the field at fault; an unknown field is reported with the fields that are
// valid there.
func Parse(data []byte, source string) (*Spec, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Source: source, Msg: "empty file, expected a mapping with name and tasks"}
		}
		return nil, syntaxError(source, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		e := &Error{Source: source, Msg: "more than one document; a plan file holds one plan"}
		if err == nil {
			e.Line = extra.Line
		}
		return nil, e
	}
	pos, err := checkNode(source, &root)
	if err != nil {
		return nil, err
	}
	// checkNode has found every unknown field and every value of the wrong
	// type, with their lines; the strict decoder is a second guard.
	var s Spec
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&s); err != nil {
		return nil, &Error{Source: source, Msg: "cannot decode the plan", Err: err}
	}
	s.Defaults()
	for i := range s.Tasks {
		s.Tasks[i].Params = stringMaps(s.Tasks[i].Params).(map[string]any)
	}
	if err := s.Validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Source = source
			e.Line = pos.line(e.Task, e.Field)
			return nil, e
		}
		return nil, &Error{Source: source, Msg: "invalid plan", Err: err}
	}
	return &s, nil
}

// Defaults fills in the queue and attempt budget of tasks that set none.
func (s *Spec) Defaults() {
	for i := range s.Tasks {
		t := &s.Tasks[i]
		if t.Queue == "" {
			t.Queue = DefaultQueue
		}
		if t.MaxAttempts == 0 {
			t.MaxAttempts = DefaultMaxAttempts
		}
	}
}

// MaxNameLen bounds a plan name, so that the plan id made from it stays a valid name.
const MaxNameLen = 40

// Validate checks names, dependencies and the absence of cycles. Its errors are
// an *Error naming the task (by position, from 1, and id) and the field.
func (s *Spec) Validate() error {
	if !task.ValidName(s.Name) || len(s.Name) > MaxNameLen {
		return &Error{Field: "name", Msg: fmt.Sprintf("%q is not a plan name (letters, digits, '-', '_', at most %d)", s.Name, MaxNameLen)}
	}
	if len(s.Tasks) == 0 {
		return &Error{Field: "tasks", Msg: "a plan needs at least one task"}
	}
	if s.UnservedTimeout < 0 {
		return &Error{Field: "unserved_timeout", Msg: fmt.Sprintf("%v is negative, expected a positive duration or none (default %v)", time.Duration(s.UnservedTimeout), DefaultUnservedTimeout)}
	}
	index := map[string]int{}
	for i, t := range s.Tasks {
		bad := func(field, format string, args ...any) error {
			return &Error{Task: i + 1, ID: t.ID, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if !task.ValidName(t.ID) {
			return bad("id", "%q is not a task id (letters, digits, '-', '_', at most 64)", t.ID)
		}
		if j, dup := index[t.ID]; dup {
			return bad("id", "id already used by task %d", j+1)
		}
		index[t.ID] = i
		if !task.ValidName(t.Kind) {
			return bad("kind", "%q is not a kind name (for example train, evaluate, predict)", t.Kind)
		}
		if !task.ValidName(t.Queue) {
			return bad("queue", "%q is not a queue name (for example cpu, cuda)", t.Queue)
		}
		if t.MaxAttempts < 1 || t.MaxAttempts > MaxAttemptsLimit {
			return bad("max_attempts", "%d, expected 1 to %d", t.MaxAttempts, MaxAttemptsLimit)
		}
		if t.Timeout < 0 {
			return bad("timeout", "%v is negative, expected a positive duration or none", time.Duration(t.Timeout))
		}
		if err := jsonable("params", t.Params); err != nil {
			return bad("params", "%v; plans travel as JSON", err)
		}
	}
	for i, t := range s.Tasks {
		for _, d := range t.Deps {
			if _, ok := index[d]; !ok {
				return &Error{Task: i + 1, ID: t.ID, Field: "deps", Msg: fmt.Sprintf("no task %q in this plan", d)}
			}
			if d == t.ID {
				return &Error{Task: i + 1, ID: t.ID, Field: "deps", Msg: "a task cannot depend on itself"}
			}
		}
	}
	if cyc := s.cycle(index); cyc != nil {
		i := index[cyc[0]]
		return &Error{Task: i + 1, ID: cyc[0], Field: "deps", Msg: "dependency cycle " + strings.Join(cyc, " -> ")}
	}
	return nil
}

// cycle returns one dependency cycle, or nil.
func (s *Spec) cycle(index map[string]int) []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(s.Tasks))
	var stack []string
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, s.Tasks[i].ID)
		for _, d := range s.Tasks[i].Deps {
			j := index[d]
			switch color[j] {
			case grey:
				start := slices.Index(stack, d)
				found = append(slices.Clone(stack[start:]), d)
				return true
			case white:
				if visit(j) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range s.Tasks {
		if color[i] == white && visit(i) {
			return found
		}
	}
	return nil
}

// Task returns the task with id, or nil.
func (s *Spec) Task(id string) *TaskSpec {
	for i := range s.Tasks {
		if s.Tasks[i].ID == id {
			return &s.Tasks[i]
		}
	}
	return nil
}

// stringMaps returns v with every mapping whose keys are all strings as a
// map[string]any: YAML decodes a mapping as map[any]any when a key carries a
// tag (`{!x k: v}`), which JSON cannot encode although its keys are strings.
// Mappings with other keys stay as they are, for Validate to name.
func stringMaps(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stringMaps(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				for k, e := range x {
					x[k] = stringMaps(e)
				}
				return x
			}
			m[ks] = stringMaps(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = stringMaps(e)
		}
	}
	return v
}

// jsonable says where v holds what JSON cannot: a mapping key that is not a
// string, a number that is not finite (YAML's .nan and .inf).
func jsonable(path string, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if err := jsonable(path+"."+k, e); err != nil {
				return err
			}
		}
	case map[any]any:
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return fmt.Errorf("%s: key %v is not a string", path, k)
			}
			if err := jsonable(path+"."+ks, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := jsonable(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s: %v is not a number JSON can hold", path, x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s: %v is not a number JSON can hold", path, x)
		}
	}
	return nil
}
