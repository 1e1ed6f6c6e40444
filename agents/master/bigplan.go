package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

// MaxSpecBytes bounds a plan as JSON: the plan's record holds it, and a store
// document holds at most 16 MiB. It is the one size limit a plan has: a plan
// over the server's max payload (1 MiB by default) travels through the object
// store queue.PlansBucket instead of in the submit message.
const MaxSpecBytes = 15 << 20

// payloadMargin is left under the server's max payload for headers.
const payloadMargin = 4 << 10

// sendSubmit sends a submit command whose payload is data: in the message when
// it fits, else as an object of queue.PlansBucket named by a small message.
//
// Why an object and not message chunks: the object store cuts the plan into
// chunks and reassembles it for the master, keeps it on disk until the master
// has recorded the plan (a master restarted halfway loses nothing, where
// chunks in the work queue would be half consumed), and needs nothing of the
// store, which a submitter may not reach.
func sendSubmit(ctx context.Context, js jetstream.JetStream, id string, data []byte) error {
	limit := js.Conn().MaxPayload() - payloadMargin
	if int64(len(data)) <= limit {
		return send(ctx, js, CmdSubmit, id, data)
	}
	if len(data) > MaxSpecBytes+payloadMargin {
		return fmt.Errorf("plan %s: %d bytes as JSON, over the %d bytes a plan may have (the store's 16 MiB document limit): split the plan, or keep large params in the store and pass their names",
			id, len(data), MaxSpecBytes)
	}
	objs, err := queue.PlanObjects(ctx, js)
	if err != nil {
		return fmt.Errorf("plan %s is %d bytes, over the %d a message may carry, and cannot go through the object store: %w", id, len(data), limit, err)
	}
	if _, err := objs.PutBytes(ctx, id, data); err != nil {
		return fmt.Errorf("plan %s: store the %d-byte plan in object store %s: %w", id, len(data), queue.PlansBucket, err)
	}
	small, err := json.Marshal(SubmitCmd{Plan: id, Object: id})
	if err != nil {
		return err
	}
	return send(ctx, js, CmdSubmit, id, small)
}

// submitObject handles a submit whose plan waits in the object store: it reads
// it, submits it, and deletes the object once the plan is recorded.
func (m *Master) submitObject(ctx context.Context, c *SubmitCmd) error {
	if !task.ValidName(c.Plan) || c.Object != c.Plan {
		return fmt.Errorf("%w: submit: object %q does not name plan %q", task.ErrMalformed, c.Object, c.Plan)
	}
	objs, err := queue.PlanObjects(ctx, m.js)
	if err != nil {
		return err
	}
	data, err := objs.GetBytes(ctx, c.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		if _, perr := m.cfg.Store.Plan(ctx, c.Plan); perr == nil {
			return nil // handled before, the object deleted: a repeat
		}
		return fmt.Errorf("%w: submit of plan %s: its object is not in %s", status.ErrNotFound, c.Plan, queue.PlansBucket)
	}
	if err != nil {
		return fmt.Errorf("submit of plan %s: read object %s: %w", c.Plan, queue.PlansBucket, err)
	}
	var full SubmitCmd
	if err := json.Unmarshal(data, &full); err != nil {
		return fmt.Errorf("%w: submit of plan %s (object): %w", task.ErrMalformed, c.Plan, err)
	}
	if full.Plan != c.Plan || full.Object != "" {
		return fmt.Errorf("%w: submit: object of plan %s holds plan %q", task.ErrMalformed, c.Plan, full.Plan)
	}
	full.owner = c.owner
	if err := m.submit(ctx, &full); err != nil {
		return err
	}
	if err := objs.Delete(ctx, c.Object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		m.log.Warn("plan recorded; its object not deleted", "plan", c.Plan, "bucket", queue.PlansBucket, "err", err)
	}
	return nil
}
