package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a plan that cannot be read or is not valid: where it breaks (the
// file, the line, the task and field) and how.
type Error struct {
	Source string // the file, or "" when the plan did not come from one
	Line   int    // the line at fault, from 1; 0 when unknown
	Task   int    // the task's position in the plan, from 1; 0 for the plan itself
	ID     string // the task's id, when it has one
	Field  string // the field at fault, or ""
	Msg    string // what is wrong
	Err    error  // the underlying error, or nil
}

// Error reads "plan caption.yaml: line 7: task 2 (id rnn): field deps: no
// task "cnm" in this plan".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		fmt.Fprintf(&b, "plan %s: ", e.Source)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Task > 0 {
		b.WriteString(taskName(e.Task, e.ID) + ": ")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func taskName(pos int, id string) string {
	if id == "" {
		return fmt.Sprintf("task %d", pos)
	}
	return fmt.Sprintf("task %d (id %s)", pos, id)
}

// field is one field a plan may set: its name in the file and what its value
// must be, in the plan's own terms.
type field struct{ name, want string }

var (
	planFields = []field{
		{"name", "a plan name (a string)"},
		{"tasks", "a list of tasks"},
		{"unserved_timeout", "a duration such as 1h or 24h"},
	}
	taskFields = []field{
		{"id", "a task id (a string)"},
		{"kind", "a task kind (a string)"},
		{"queue", "a queue name (a string)"},
		{"input", "a string"},
		{"model", "a string"},
		{"output", "a string"},
		{"params", "a mapping of parameters"},
		{"deps", "a list of task ids"},
		{"max_attempts", "an integer"},
		{"timeout", "a duration such as 90s or 2h"},
	}
)

func fieldNames(fs []field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func lookupField(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// positions are the lines of a plan's fields and tasks, to point errors found
// after decoding at the right line.
type positions struct {
	plan  map[string]int   // plan field -> line of its key
	tasks []int            // task i -> line where it starts
	field []map[string]int // task i -> field -> line of its key
}

// line returns the line of task's field (task from 1; 0 for the plan), or of
// the task, or 0.
func (p *positions) line(task int, name string) int {
	if task == 0 {
		if l, ok := p.plan[name]; ok {
			return l
		}
		return 0
	}
	if task > len(p.tasks) {
		return 0
	}
	if l, ok := p.field[task-1][name]; ok {
		return l
	}
	return p.tasks[task-1]
}

// describe names a node's kind for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "something else"
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// checkNode walks a parsed plan before it is decoded: every key must be a field
// of the plan or of a task, and every value must decode into its field. It
// returns where each field is, for the errors of Validate.
func checkNode(source string, root *yaml.Node) (*positions, error) {
	pos := &positions{plan: map[string]int{}}
	doc := root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, &Error{Source: source, Msg: "empty file, expected a mapping with name and tasks"}
		}
		doc = doc.Content[0]
	}
	doc = resolve(doc)
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		// "---" alone, or "~": the line of a null the parser made up may be
		// past the end of the text.
		return nil, &Error{Source: source, Msg: "empty plan, expected a mapping with name and tasks"}
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{Source: source, Line: doc.Line, Msg: fmt.Sprintf("expected a mapping with name and tasks, got %s", describe(doc))}
	}
	var tasks *yaml.Node
	err := eachField(doc, func(k, v *yaml.Node) error {
		f, ok := lookupField(planFields, k.Value)
		if !ok {
			return &Error{Source: source, Line: k.Line, Msg: fmt.Sprintf("unknown field %q in the plan; valid fields are %s", k.Value, fieldNames(planFields))}
		}
		pos.plan[f.name] = k.Line
		if f.name == "tasks" {
			// Its tasks are checked one by one below.
			if tasks = resolve(v); tasks.Kind == yaml.SequenceNode || tasks.Tag == "!!null" {
				return nil
			}
		} else {
			var probe Spec
			if err := (&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}).Decode(&probe); err == nil {
				return nil
			}
		}
		return &Error{Source: source, Line: v.Line, Field: f.name, Msg: fmt.Sprintf("expected %s, got %s", f.want, describe(resolve(v)))}
	})
	if err != nil {
		return nil, err
	}
	if tasks == nil || tasks.Kind != yaml.SequenceNode {
		return pos, nil // no tasks: Validate says so
	}
	for i, item := range tasks.Content {
		n := i + 1
		item = resolve(item)
		pos.tasks = append(pos.tasks, item.Line)
		lines := map[string]int{}
		pos.field = append(pos.field, lines)
		if item.Kind != yaml.MappingNode {
			return nil, &Error{Source: source, Line: item.Line, Task: n, Msg: fmt.Sprintf("expected a mapping with fields %s, got %s", fieldNames(taskFields), describe(item))}
		}
		id := ""
		for j := 0; j+1 < len(item.Content); j += 2 {
			if k, v := item.Content[j], resolve(item.Content[j+1]); k.Value == "id" && v.Kind == yaml.ScalarNode {
				id = v.Value
			}
		}
		err := eachField(item, func(k, v *yaml.Node) error {
			f, ok := lookupField(taskFields, k.Value)
			if !ok {
				return &Error{Source: source, Line: k.Line, Msg: fmt.Sprintf("unknown field %q in %s; valid fields are %s", k.Value, taskName(n, id), fieldNames(taskFields))}
			}
			lines[f.name] = k.Line
			var probe TaskSpec
			if err := (&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}).Decode(&probe); err != nil {
				return &Error{Source: source, Line: v.Line, Task: n, ID: id, Field: f.name, Msg: fmt.Sprintf("expected %s, got %s", f.want, describe(resolve(v)))}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// eachField calls fn for every key and value of a mapping, following merge
// keys ("<<: *defaults") into the mappings they merge. Each merged mapping is
// walked once: merges of merges cannot make the walk exponential.
func eachField(m *yaml.Node, fn func(k, v *yaml.Node) error) error {
	return eachFieldSeen(m, fn, map[*yaml.Node]bool{m: true})
}

func eachFieldSeen(m *yaml.Node, fn func(k, v *yaml.Node) error, seen map[*yaml.Node]bool) error {
	for j := 0; j+1 < len(m.Content); j += 2 {
		k, v := m.Content[j], m.Content[j+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			for _, src := range mergeSources(resolve(v)) {
				if seen[src] {
					continue
				}
				seen[src] = true
				if err := eachFieldSeen(src, fn, seen); err != nil {
					return err
				}
			}
			continue
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	switch {
	case v == nil:
		return nil
	case v.Kind == yaml.MappingNode:
		return []*yaml.Node{v}
	case v.Kind == yaml.SequenceNode:
		var out []*yaml.Node
		for _, x := range v.Content {
			if x = resolve(x); x != nil && x.Kind == yaml.MappingNode {
				out = append(out, x)
			}
		}
		return out
	}
	return nil
}

// yamlLine is the "line N: " the YAML library puts in front of syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: (line [0-9]+: )?`)

// syntaxError reports a YAML syntax error at the line where it is. The YAML
// library names the line where the construct that failed began, counted from
// 0 for some errors and from 1 for others, and never the line of the token that
// broke it. The line reported here is the first line such that the text up to
// its end fails with the same error: the line of the offending token, or of the
// bracket left open. Found by bisection over prefixes, it costs a few parses.
//
// A plan in JSON that is not valid JSON gets the JSON parser's error instead,
// at the line of the offending character: a missing comma between two tasks
// is the next task's line, where a prefix of the text would only end early.
func syntaxError(source string, data []byte, err error) error {
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		var v any
		var se *json.SyntaxError
		if jerr := json.Unmarshal(data, &v); errors.As(jerr, &se) {
			off := min(max(se.Offset-1, 0), int64(len(data)))
			return &Error{Source: source, Line: lineOf(data, int(off)), Msg: "invalid JSON: " + se.Error()}
		}
	}
	msg := err.Error()
	starts := lineStarts(data)
	fails := func(lines int) bool {
		var n yaml.Node
		e := yaml.Unmarshal(data[:starts[lines]], &n)
		return e != nil && e.Error() == msg
	}
	lo, hi := 0, len(starts)-1 // fails(lo) is false (an empty text is no error), fails(hi) is true
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return &Error{Source: source, Line: hi, Msg: "invalid YAML: " + yamlLine.ReplaceAllString(msg, "")}
}

// lineStarts returns where each line of data starts, as YAML counts lines
// (breaks are \n, \r\n, \r, and the Unicode NEL, LS and PS), followed by
// len(data): line i (from 1) is data[starts[i-1]:starts[i]].
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i := 0; i < len(data); i++ {
		n := 0
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			n = 2
		case data[i] == '\n' || data[i] == '\r':
			n = 1
		case bytes.HasPrefix(data[i:], []byte("\u0085")):
			n = 2
		case bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n = 3
		}
		if n > 0 {
			i += n - 1
			starts = append(starts, i+1)
		}
	}
	if starts[len(starts)-1] != len(data) {
		starts = append(starts, len(data))
	}
	return starts
}

// lineOf returns the line (from 1) of the byte at off.
func lineOf(data []byte, off int) int {
	starts := lineStarts(data)
	line := 1
	for line < len(starts)-1 && starts[line] <= off {
		line++
	}
	return line
}
