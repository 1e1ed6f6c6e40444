package task

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType says what happened to a task.
type EventType string

// The events an agent sends to the master.
const (
	// Started: an agent began an attempt.
	Started EventType = "started"
	// AttemptFailed: an attempt failed and the task will be delivered again.
	AttemptFailed EventType = "attempt_failed"
	// Succeeded: the task is done; Output holds its result.
	Succeeded EventType = "succeeded"
	// Failed: the task failed for good (attempts used up, or a permanent error).
	Failed EventType = "failed"
	// Cancelled: the agent stopped the task because its plan was cancelled.
	Cancelled EventType = "cancelled"
	// Rejected: a message on a task queue could not be decoded; it was removed.
	Rejected EventType = "rejected"
)

// Final reports whether an event ends its delivery: succeeded, failed or
// cancelled.
func (t EventType) Final() bool { return t == Succeeded || t == Failed || t == Cancelled }

// Event is a notification from an agent to the master.
type Event struct {
	V        int             `json:"v"`
	Type     EventType       `json:"type"`
	Plan     string          `json:"plan,omitempty"`
	Task     string          `json:"task,omitempty"`
	Dispatch int             `json:"dispatch,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	Agent    string          `json:"agent"`
	Time     time.Time       `json:"time"`
	Output   json.RawMessage `json:"output,omitempty"`
	Error    string          `json:"error,omitempty"`
	// Subject and Seq locate a rejected message on its queue.
	Subject string `json:"subject,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	// Token is Task.Token of the delivery the event is about, echoed: the
	// master trusts an event only when it verifies. Never logged.
	Token string `json:"token,omitempty"`
}

// MsgID is the queue's de-duplication id of the event: an event re-sent after a
// lost acknowledgement is stored once.
func (e *Event) MsgID() string {
	if e.Type == Rejected {
		return fmt.Sprintf("rejected/%s/%d", e.Subject, e.Seq)
	}
	return fmt.Sprintf("%s/%s/d%d/a%d/%s", e.Plan, e.Task, e.Dispatch, e.Attempt, e.Type)
}

// Encode returns the event's wire form.
func (e *Event) Encode() ([]byte, error) {
	if e.V == 0 {
		e.V = Version
	}
	return json.Marshal(e)
}

// DecodeEvent parses an event strictly. Errors wrap ErrMalformed.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := strictUnmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: event: %w", ErrMalformed, err)
	}
	switch {
	case e.V != Version:
		return nil, fmt.Errorf("%w: event: field v: version %d, expected %d", ErrMalformed, e.V, Version)
	case e.Type == Rejected:
	case e.Type != Started && e.Type != AttemptFailed && e.Type != Succeeded && e.Type != Failed && e.Type != Cancelled:
		return nil, fmt.Errorf("%w: event: field type: %q is not an event type", ErrMalformed, e.Type)
	case !ValidName(e.Plan) || !ValidName(e.Task):
		return nil, fmt.Errorf("%w: event %s: fields plan and task must be names, got %q and %q", ErrMalformed, e.Type, e.Plan, e.Task)
	}
	return &e, nil
}
