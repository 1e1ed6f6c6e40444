package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	// Object, when set, names the object of queue.PlansBucket that holds the
	// whole command (a plan too big for one message); Spec is empty then.
	Object string `json:"object,omitempty"`

	// owner is the client that sent the command, from the subject it came on
	// (queue.IsControl), never from the payload.
	owner string
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

// ErrRejected is wrapped by the error of a plan the master refused: unknown
// task kinds or parameter fields, or a plan that does not validate.
var ErrRejected = errors.New("plan rejected by the master")

// Verdict is the master's answer to a submit, published on
// queue.VerdictSubject(plan) once the master has handled it.
type Verdict struct {
	Plan     string `json:"plan"`
	Accepted bool   `json:"accepted"`
	// Error says why a plan was rejected.
	Error string `json:"error,omitempty"`
	// Warnings of an accepted plan: no agent announced yet (kinds unchecked),
	// a queue no agent serves.
	Warnings []string `json:"warnings,omitempty"`
}

// Submit validates spec and sends it to the master; it returns the plan's id. The
// command waits in the stream if the master is down. It does not wait for the
// master's verdict: SubmitChecked does.
func Submit(ctx context.Context, js jetstream.JetStream, spec *plan.Spec) (string, error) {
	return SubmitAs(ctx, js, "", spec)
}

// SubmitAs is Submit under a plan id the caller chose (a fresh one when id is
// empty). A controller that derives id from what it decided (a sweep's trial
// and rung, a stream event) may submit again after a crash: the master runs a
// plan id once and ignores the repeats.
func SubmitAs(ctx context.Context, js jetstream.JetStream, id string, spec *plan.Spec) (string, error) {
	id, data, err := submitCmd(id, spec)
	if err != nil {
		return "", err
	}
	if err := sendSubmit(ctx, js, id, data); err != nil {
		return "", err
	}
	return id, nil
}

// SubmitChecked is Submit that then waits up to patience for the master's
// verdict. A plan the master rejects (a kind no agent announced, a parameter
// field its kind does not take) returns its id, the verdict and an error
// wrapping ErrRejected that says what is wrong and what is valid. When no
// verdict comes within patience (the master is down or busy), it returns the
// id, a nil verdict and no error: the plan waits in the stream and is checked
// when the master takes it (tl status shows a rejection then).
func SubmitChecked(ctx context.Context, js jetstream.JetStream, spec *plan.Spec, patience time.Duration) (string, *Verdict, error) {
	return SubmitCheckedAs(ctx, js, "", spec, patience)
}

// SubmitCheckedAs is SubmitChecked under a plan id the caller chose (see
// SubmitAs). A repeat of an id the master already ran gets no verdict: it
// returns the id, a nil verdict and no error after patience.
func SubmitCheckedAs(ctx context.Context, js jetstream.JetStream, id string, spec *plan.Spec, patience time.Duration) (string, *Verdict, error) {
	id, data, err := submitCmd(id, spec)
	if err != nil {
		return "", nil, err
	}
	nc := js.Conn()
	sub, err := nc.SubscribeSync(queue.VerdictSubject(id))
	if err != nil {
		return "", nil, fmt.Errorf("plan %s: listen for the master's verdict: %w", spec.Name, err)
	}
	defer sub.Unsubscribe()
	// The subscription must be at the server before the master can answer.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return "", nil, fmt.Errorf("plan %s: listen for the master's verdict: %w", spec.Name, err)
	}
	if err := sendSubmit(ctx, js, id, data); err != nil {
		return "", nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	msg, err := sub.NextMsgWithContext(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return id, nil, ctx.Err()
		}
		return id, nil, nil // no verdict yet: the plan waits for the master
	}
	var v Verdict
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return id, nil, fmt.Errorf("plan %s: the master's verdict %q: %w", id, msg.Data, err)
	}
	if !v.Accepted {
		return id, &v, fmt.Errorf("%w: %s", ErrRejected, strings.TrimPrefix(v.Error, ErrRejected.Error()+": "))
	}
	return id, &v, nil
}

func submitCmd(id string, spec *plan.Spec) (string, []byte, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return "", nil, fmt.Errorf("plan %s: %w", spec.Name, err)
	}
	if id == "" {
		id = NewPlanID(spec.Name, time.Now())
	} else if !task.ValidName(id) {
		return "", nil, fmt.Errorf("plan %s: %q is not a valid plan id (1 to 64 letters, digits, '_' and '-')", spec.Name, id)
	}
	data, err := json.Marshal(SubmitCmd{Plan: id, Spec: *spec})
	if err != nil {
		return "", nil, fmt.Errorf("plan %s: params: %w", spec.Name, err)
	}
	return id, data, nil
}

// Cancel asks the master to cancel plan id.
func Cancel(ctx context.Context, js jetstream.JetStream, id string) error {
	if !task.ValidName(id) {
		return fmt.Errorf("cancel: %q is not a plan id", id)
	}
	data, _ := json.Marshal(CancelCmd{Plan: id})
	return send(ctx, js, CmdCancel, fmt.Sprintf("cancel/%s/%d", id, time.Now().UnixNano()), data)
}

// ErrRefused is wrapped by the error of a cancel or retry the master refused:
// the plan belongs to another client.
var ErrRefused = errors.New("refused by the master")

// CancelChecked is Cancel that waits up to patience for the master's answer.
// A refusal (the plan is another client's) returns an error wrapping
// ErrRefused; no answer within patience returns a nil verdict and no error
// (the command waits in the stream for the master).
func CancelChecked(ctx context.Context, js jetstream.JetStream, id string, patience time.Duration) (*Verdict, error) {
	return answered(ctx, js, id, patience, func() error { return Cancel(ctx, js, id) })
}

// RetryChecked is Retry that waits for the master's answer, as CancelChecked.
func RetryChecked(ctx context.Context, js jetstream.JetStream, id string, tasks []string, patience time.Duration) (*Verdict, error) {
	return answered(ctx, js, id, patience, func() error { return Retry(ctx, js, id, tasks) })
}

// answered listens on plan id's verdict subject, calls send, and waits for
// the answer.
func answered(ctx context.Context, js jetstream.JetStream, id string, patience time.Duration, send func() error) (*Verdict, error) {
	if !task.ValidName(id) {
		return nil, fmt.Errorf("%q is not a plan id", id)
	}
	nc := js.Conn()
	sub, err := nc.SubscribeSync(queue.VerdictSubject(id))
	if err != nil {
		return nil, fmt.Errorf("plan %s: listen for the master's answer: %w", id, err)
	}
	defer sub.Unsubscribe()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("plan %s: listen for the master's answer: %w", id, err)
	}
	if err := send(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	msg, err := sub.NextMsgWithContext(wctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	var v Verdict
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return nil, fmt.Errorf("plan %s: the master's answer %q: %w", id, msg.Data, err)
	}
	if !v.Accepted {
		return &v, fmt.Errorf("%w: %s", ErrRefused, v.Error)
	}
	return &v, nil
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

// send publishes a command. Only when no stream takes it (no master ever ran
// on this server) does it create the streams, so that the command waits for
// the master: a client's credentials do not allow that, nor need it.
func send(ctx context.Context, js jetstream.JetStream, cmd, msgID string, data []byte) error {
	err := queue.PublishControl(ctx, js, cmd, msgID, data)
	if !errors.Is(err, jetstream.ErrNoStreamResponse) {
		return err
	}
	if err := queue.Setup(ctx, js); err != nil {
		return fmt.Errorf("no master has set up the queues on this server, and this command could not: %w", err)
	}
	return queue.PublishControl(ctx, js, cmd, msgID, data)
}
