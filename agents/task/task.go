package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Version is the wire format version written into every Task and Event.
const Version = 1

// ErrMalformed marks a message that cannot be decoded or fails validation.
var ErrMalformed = errors.New("malformed message")

// namePattern is what plan ids, task ids, kinds and queue names may look like: they
// become parts of NATS subjects and message ids, so no dots, spaces or wildcards.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidName reports whether s may be used as a plan id, task id, kind or queue name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// Task is one unit of work as it travels on a task queue.
type Task struct {
	V      int    `json:"v"`
	Plan   string `json:"plan"`
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Queue  string `json:"queue"`
	Input  string `json:"input,omitempty"`
	Model  string `json:"model,omitempty"`
	Output string `json:"output,omitempty"`
	// Params are the kind's own parameters, passed through untouched.
	Params json.RawMessage `json:"params,omitempty"`
	// Upstream holds the outputs of the tasks this one depends on, by task id.
	Upstream map[string]json.RawMessage `json:"upstream,omitempty"`
	// MaxAttempts bounds the attempts of this dispatch, counting lost deliveries.
	MaxAttempts int `json:"max_attempts"`
	// AttemptBase is the number of attempts used by earlier dispatches (tl retry).
	AttemptBase int `json:"attempt_base,omitempty"`
	// Dispatch numbers the times the master queued this task, from 1.
	Dispatch int `json:"dispatch"`
	// Timeout bounds one attempt; zero means none.
	Timeout Duration `json:"timeout,omitempty"`
	// Token is the master's proof of this dispatch (an HMAC under a key only
	// masters hold); the agent echoes it in every event about the task, and the
	// master drops events whose token does not verify. Agents do not check it.
	// A task queued by a master older than tokens has none, and the events
	// about it are dropped.
	Token string `json:"token,omitempty"`
}

// Key is the task's identity across the system: "plan/task".
func (t *Task) Key() string { return t.Plan + "/" + t.ID }

// MsgID is the queue's de-duplication id for this dispatch of the task.
func (t *Task) MsgID() string { return fmt.Sprintf("%s/%s/d%d", t.Plan, t.ID, t.Dispatch) }

// Validate checks the fields an agent relies on.
func (t *Task) Validate() error {
	switch {
	case t.V != Version:
		return fmt.Errorf("field v: version %d, expected %d", t.V, Version)
	case !ValidName(t.Plan):
		return fmt.Errorf("field plan: %q is not a name (letters, digits, '-', '_', at most 64)", t.Plan)
	case !ValidName(t.ID):
		return fmt.Errorf("field id: %q is not a name (letters, digits, '-', '_', at most 64)", t.ID)
	case !ValidName(t.Kind):
		return fmt.Errorf("field kind: %q is not a name (letters, digits, '-', '_', at most 64)", t.Kind)
	case !ValidName(t.Queue):
		return fmt.Errorf("field queue: %q is not a name", t.Queue)
	case t.MaxAttempts < 1:
		return fmt.Errorf("field max_attempts: %d, expected at least 1", t.MaxAttempts)
	case t.AttemptBase < 0:
		return fmt.Errorf("field attempt_base: %d, expected at least 0", t.AttemptBase)
	case t.Dispatch < 1:
		return fmt.Errorf("field dispatch: %d, expected at least 1", t.Dispatch)
	case t.Timeout < 0:
		return fmt.Errorf("field timeout: %v, expected a positive duration or none", t.Timeout)
	}
	return nil
}

// Encode validates t and returns its wire form.
func (t *Task) Encode() ([]byte, error) {
	if t.V == 0 {
		t.V = Version
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Key(), err)
	}
	return json.Marshal(t)
}

// Decode parses a task message strictly. Errors wrap ErrMalformed and say what is wrong.
func Decode(data []byte) (*Task, error) {
	var t Task
	if err := strictUnmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%w: task: %w", ErrMalformed, err)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: task %q: %w", ErrMalformed, t.Key(), err)
	}
	return &t, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w (message starts %q)", err, prefix(data, 60))
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object (message starts %q)", prefix(data, 60))
	}
	return nil
}

func prefix(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Duration is a time.Duration written as a string ("90s", "10m") in JSON and YAML.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: expected a string such as \"90s\", got %s", b)
	}
	return d.parse(s)
}

// MarshalText writes d as a Go duration string ("2h0m0s"), so that YAML holds
// what UnmarshalText reads back rather than a count of nanoseconds.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string; YAML decoding uses it.
func (d *Duration) UnmarshalText(b []byte) error { return d.parse(string(b)) }

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}
