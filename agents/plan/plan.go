package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tlgo/tl/agents/task"
	"go.yaml.in/yaml/v3"
)

// DefaultQueue is the queue of a task that names none.
const DefaultQueue = "cpu"

// DefaultMaxAttempts is the attempt budget of a task that sets none.
const DefaultMaxAttempts = 3

// Spec is a plan as written by a person.
type Spec struct {
	Name  string     `yaml:"name" json:"name"`
	Tasks []TaskSpec `yaml:"tasks" json:"tasks"`
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
func Parse(data []byte, source string) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("plan %s: empty file, expected a mapping with name and tasks", source)
		}
		return nil, fmt.Errorf("plan %s: %w", source, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("plan %s: more than one document; a plan file holds one plan", source)
	}
	s.Defaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("plan %s: %w", source, err)
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

// Validate checks names, dependencies and the absence of cycles.
func (s *Spec) Validate() error {
	if !task.ValidName(s.Name) || len(s.Name) > MaxNameLen {
		return fmt.Errorf("field name: %q is not a plan name (letters, digits, '-', '_', at most %d)", s.Name, MaxNameLen)
	}
	if len(s.Tasks) == 0 {
		return errors.New("field tasks: a plan needs at least one task")
	}
	index := map[string]int{}
	for i, t := range s.Tasks {
		where := fmt.Sprintf("tasks[%d]", i)
		if !task.ValidName(t.ID) {
			return fmt.Errorf("%s.id: %q is not a task id (letters, digits, '-', '_', at most 64)", where, t.ID)
		}
		where = fmt.Sprintf("task %q", t.ID)
		if j, dup := index[t.ID]; dup {
			return fmt.Errorf("%s: id already used by tasks[%d]", where, j)
		}
		index[t.ID] = i
		if !task.ValidName(t.Kind) {
			return fmt.Errorf("%s: field kind: %q is not a kind name (for example train, evaluate, predict)", where, t.Kind)
		}
		if !task.ValidName(t.Queue) {
			return fmt.Errorf("%s: field queue: %q is not a queue name (for example cpu, cuda)", where, t.Queue)
		}
		if t.MaxAttempts < 1 {
			return fmt.Errorf("%s: field max_attempts: %d, expected at least 1", where, t.MaxAttempts)
		}
		if t.Timeout < 0 {
			return fmt.Errorf("%s: field timeout: negative", where)
		}
	}
	for _, t := range s.Tasks {
		for _, d := range t.Deps {
			if _, ok := index[d]; !ok {
				return fmt.Errorf("task %q: field deps: no task %q in this plan", t.ID, d)
			}
			if d == t.ID {
				return fmt.Errorf("task %q: field deps: a task cannot depend on itself", t.ID)
			}
		}
	}
	if cyc := s.cycle(index); cyc != nil {
		return fmt.Errorf("field deps: dependency cycle %s", strings.Join(cyc, " -> "))
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
