package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/task"
)

// DoneBucket is the key-value bucket where an agent leaves the final result of
// a delivery whose acknowledgement may be lost, before it settles it: the
// acks of failures and cancellations are not confirmed, and a success's
// confirmed ack is lost when the consumer leader dies before replicating it.
// The queue then delivers the task again, maybe to another agent; that agent finds the
// result here and settles the delivery with it instead of running the task a
// second time. A result stands for the delivery only if it carries the
// dispatch's token, which only an agent that received the task knows: an
// agent cannot mark a task it never got as done.
const DoneBucket = "tl_done"

// DoneTTL is how long a result stays in DoneBucket: far longer than any
// redelivery takes (an ack deadline after the last heartbeat).
const DoneTTL = 24 * time.Hour

// DoneKV binds the results bucket, creating it when the credentials allow (the
// master's do; an agent's only bind).
func DoneKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	if kv, err := js.KeyValue(ctx, DoneBucket); err == nil {
		return kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DoneBucket,
		Description: "tl: the final result of each settled task delivery, for an agent that gets the task again after a lost ack",
		TTL:         DoneTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    Replicas(js.Conn()),
	})
	if err != nil {
		return nil, fmt.Errorf("results bucket %s: %w", DoneBucket, err)
	}
	return kv, nil
}

// DoneKey is the key of a delivery's result: the queue first, so that an
// agent's permissions can be limited to its queues.
func DoneKey(q string, plan, id string, dispatch int) string {
	return q + "." + plan + "." + id + "." + strconv.Itoa(dispatch)
}

// MarkDone records e, a final event (succeeded, failed or cancelled), as the
// result of its delivery on queue q.
func MarkDone(ctx context.Context, kv jetstream.KeyValue, q string, e *task.Event) error {
	if !e.Type.Final() {
		return fmt.Errorf("results bucket: event %s of %s/%s is not final", e.Type, e.Plan, e.Task)
	}
	data, err := e.Encode()
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, DoneKey(q, e.Plan, e.Task, e.Dispatch), data); err != nil {
		return fmt.Errorf("results bucket: %s/%s: %w", e.Plan, e.Task, err)
	}
	return nil
}

// FindDone returns the result recorded for t's delivery on queue q, or nil if
// there is none, or none that carries t's token.
func FindDone(ctx context.Context, kv jetstream.KeyValue, q string, t *task.Task) (*task.Event, error) {
	ent, err := kv.Get(ctx, DoneKey(q, t.Plan, t.ID, t.Dispatch))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("results bucket: %s: %w", t.Key(), err)
	}
	var e task.Event
	if err := json.Unmarshal(ent.Value(), &e); err != nil {
		return nil, fmt.Errorf("results bucket: %s: a corrupt entry: %w", t.Key(), err)
	}
	if e.Token == "" || e.Token != t.Token || e.Plan != t.Plan || e.Task != t.ID || e.Dispatch != t.Dispatch || !e.Type.Final() {
		return nil, nil
	}
	return &e, nil
}
