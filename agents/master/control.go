package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

// Commands the CLI sends to the master.
const (
	CmdSubmit = "submit"
	CmdCancel = "cancel"
	CmdRetry  = "retry"
)

// SubmitCmd asks the master to run a plan under the given id.
type SubmitCmd struct {
	Plan string    `json:"plan"`
	Spec plan.Spec `json:"spec"`
}

// CancelCmd asks the master to cancel a plan.
type CancelCmd struct {
	Plan string `json:"plan"`
}

// RetryCmd asks the master to run again a plan's failed, blocked or cancelled tasks
// (only Tasks, if given), each with a fresh attempt budget.
type RetryCmd struct {
	Plan  string   `json:"plan"`
	Tasks []string `json:"tasks,omitempty"`
}

// NewPlanID returns a fresh id for a plan named name: name-YYYYMMDD-HHMMSS-xxxx.
func NewPlanID(name string, now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", name, now.UTC().Format("20060102-150405"), hex.EncodeToString(b[:]))
}

// Submit validates spec and sends it to the master; it returns the plan's id. The
// command waits in the stream if the master is down.
func Submit(ctx context.Context, js jetstream.JetStream, spec *plan.Spec) (string, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return "", fmt.Errorf("plan %s: %w", spec.Name, err)
	}
	id := NewPlanID(spec.Name, time.Now())
	data, err := json.Marshal(SubmitCmd{Plan: id, Spec: *spec})
	if err != nil {
		return "", fmt.Errorf("plan %s: params: %w", spec.Name, err)
	}
	if err := send(ctx, js, CmdSubmit, id, data); err != nil {
		return "", err
	}
	return id, nil
}

// Cancel asks the master to cancel plan id.
func Cancel(ctx context.Context, js jetstream.JetStream, id string) error {
	if !task.ValidName(id) {
		return fmt.Errorf("cancel: %q is not a plan id", id)
	}
	data, _ := json.Marshal(CancelCmd{Plan: id})
	return send(ctx, js, CmdCancel, fmt.Sprintf("cancel/%s/%d", id, time.Now().UnixNano()), data)
}

// Retry asks the master to retry plan id's failed, blocked or cancelled tasks.
func Retry(ctx context.Context, js jetstream.JetStream, id string, tasks []string) error {
	if !task.ValidName(id) {
		return fmt.Errorf("retry: %q is not a plan id", id)
	}
	for _, t := range tasks {
		if !task.ValidName(t) {
			return fmt.Errorf("retry: %q is not a task id", t)
		}
	}
	data, _ := json.Marshal(RetryCmd{Plan: id, Tasks: tasks})
	return send(ctx, js, CmdRetry, fmt.Sprintf("retry/%s/%d", id, time.Now().UnixNano()), data)
}

func send(ctx context.Context, js jetstream.JetStream, cmd, msgID string, data []byte) error {
	if err := queue.Setup(ctx, js); err != nil {
		return err
	}
	return queue.PublishControl(ctx, js, cmd, msgID, data)
}
