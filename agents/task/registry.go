package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
}

// Params decodes the task's parameters into v, rejecting unknown fields.
func (r *Run) Params(v any) error {
	if len(r.Task.Params) == 0 {
		return nil
	}
	if err := strictUnmarshal(r.Task.Params, v); err != nil {
		return Permanent(fmt.Errorf("task %s (%s): params: %w", r.Task.Key(), r.Task.Kind, err))
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
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{funcs: map[string]Func{}} }

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
