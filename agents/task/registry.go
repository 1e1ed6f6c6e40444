package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// ErrUnknownKind is returned for a task whose kind is not registered in the agent.
var ErrUnknownKind = errors.New("unknown task kind")

// Run is what a Func gets: the task, which attempt this is, and who runs it.
type Run struct {
	Task    *Task
	Attempt int
	Agent   string
	// Services is whatever the agent was configured to hand to its functions (for
	// example a database handle); the registry does not look at it.
	Services any
	// NATS is the agent's own connection to the bus, with the agent role's
	// permissions (task kinds that stream, such as rl-player, publish on it);
	// nil in runs made by hand.
	NATS *nats.Conn
	// Log is the agent's logger, with the task's key and attempt; nil in runs
	// made by hand (see Logger).
	Log *slog.Logger
}

// Logger returns r.Log, or slog.Default() when it is nil.
func (r *Run) Logger() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Params decodes the task's parameters into v, rejecting unknown fields.
func (r *Run) Params(v any) error {
	if len(r.Task.Params) == 0 {
		return nil
	}
	if err := strictUnmarshal(r.Task.Params, v); err != nil {
		hint := ""
		if fields, ferr := ParamFields(v); ferr == nil && strings.Contains(err.Error(), "unknown field") {
			hint = fmt.Sprintf("; kind %s takes %s", r.Task.Kind, fieldList(fields))
		}
		return Permanent(fmt.Errorf("task %s (%s): params: %w%s", r.Task.Key(), r.Task.Kind, err, hint))
	}
	return nil
}

// Func runs one attempt of a task and returns its output as JSON (nil for none).
// It must stop when ctx is done. Its effects should be idempotent per task key: a
// task whose agent dies after the work but before the acknowledgement runs again.
type Func func(ctx context.Context, run *Run) (json.RawMessage, error)

// Registry maps task kinds to the functions compiled into a binary. Fill it before
// the agent starts; it is read-only afterwards and then safe for concurrent use.
type Registry struct {
	funcs map[string]Func
	// params holds, for the kinds registered with RegisterWithParams, the
	// parameter fields their params type accepts.
	params map[string][]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{funcs: map[string]Func{}, params: map[string][]string{}}
}

// Register adds kind. It fails on an invalid name, a nil function or a duplicate.
func (r *Registry) Register(kind string, f Func) error {
	switch {
	case !ValidName(kind):
		return fmt.Errorf("register %q: not a kind name (letters, digits, '-', '_')", kind)
	case f == nil:
		return fmt.Errorf("register %q: nil function", kind)
	case r.funcs[kind] != nil:
		return fmt.Errorf("register %q: already registered", kind)
	}
	r.funcs[kind] = f
	return nil
}

// RegisterWithParams adds kind, whose function decodes its parameters into a
// value of params's type (a struct, or a pointer to one, such as
// TrainParams{}). The parameter fields are the type's JSON names (its
// exported fields, json tags honoured, embedded structs flattened); agents
// announce them, and the master rejects a plan that gives the kind any other
// field when the plan is submitted instead of when the task runs.
func (r *Registry) RegisterWithParams(kind string, f Func, params any) error {
	fields, err := ParamFields(params)
	if err != nil {
		return fmt.Errorf("register %q: params type: %w", kind, err)
	}
	if err := r.Register(kind, f); err != nil {
		return err
	}
	r.params[kind] = fields
	return nil
}

// MustRegister is Register for program set-up; it panics on error.
func (r *Registry) MustRegister(kind string, f Func) {
	if err := r.Register(kind, f); err != nil {
		panic(err)
	}
}

// Lookup returns the function for kind, or an error wrapping ErrUnknownKind.
func (r *Registry) Lookup(kind string) (Func, error) {
	if f := r.funcs[kind]; f != nil {
		return f, nil
	}
	return nil, Permanent(fmt.Errorf("%w %q: this agent has %v", ErrUnknownKind, kind, r.Kinds()))
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	ks := make([]string, 0, len(r.funcs))
	for k := range r.funcs {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// KindSpec describes a registered kind for checks made before a task runs.
type KindSpec struct {
	Kind string `json:"kind"`
	// Typed is true for a kind registered with RegisterWithParams: its
	// parameters must be among Params. A kind registered with Register takes
	// any parameters as far as the master can tell.
	Typed bool `json:"typed,omitempty"`
	// Params are the JSON names of the parameter fields, sorted.
	Params []string `json:"params,omitempty"`
}

// Specs describes the registered kinds, sorted by kind.
func (r *Registry) Specs() []KindSpec {
	out := make([]KindSpec, 0, len(r.funcs))
	for _, k := range r.Kinds() {
		fields, typed := r.params[k]
		out = append(out, KindSpec{Kind: k, Typed: typed, Params: slices.Clone(fields)})
	}
	return out
}

// CheckParams reports an error naming the unknown fields of params, and the
// valid ones, for a typed kind; an untyped kind accepts anything.
func (s KindSpec) CheckParams(params map[string]any) error {
	if !s.Typed {
		return nil
	}
	var unknown []string
	for k := range params {
		if !slices.Contains(s.Params, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	what := "field"
	if len(unknown) > 1 {
		what = "fields"
	}
	return fmt.Errorf("params: unknown %s %s for kind %s, which takes %s", what, quoteList(unknown), s.Kind, fieldList(s.Params))
}

// ParamFields returns the JSON names of the fields that encoding/json decodes
// into v, a struct or a pointer to one (exported fields, json tags honoured,
// "-" skipped, embedded structs without a tag flattened), sorted.
func ParamFields(v any) ([]string, error) {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%v is not a struct: parameters are decoded from a JSON object into a struct", reflect.TypeOf(v))
	}
	seen := map[string]bool{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" && tag == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && (!hasTag || name == "") && ft.Kind() == reflect.Struct && depth < 8 {
				walk(ft, depth+1)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			seen[name] = true
		}
	}
	walk(t, 0)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

func fieldList(fields []string) string {
	if len(fields) == 0 {
		return "no parameters"
	}
	return strings.Join(fields, ", ")
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the task fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
