package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/redact"
)

// Stream, consumer and subject names.
const (
	TasksStream    = "TL_TASKS"
	MasterStream   = "TL_MASTER"
	MasterConsumer = "master"
	CancelSubject  = "tl.cancel"

	tasksPrefix   = "tl.tasks."
	eventPrefix   = "tl.master.event."
	controlPrefix = "tl.master.control."
	verdictPrefix = "tl.master.verdict."
)

// DedupWindow is how long the streams remember message ids.
const DedupWindow = time.Hour

// DefaultAckWait is the ack deadline of task consumers: an agent heartbeats well
// within it, and a dead agent's task comes back after it.
const DefaultAckWait = 30 * time.Second

// TaskSubject is the subject of queue q.
func TaskSubject(q string) string { return tasksPrefix + q }

// ConsumerName is the durable consumer shared by the agents of queue q.
func ConsumerName(q string) string { return "queue-" + q }

// EventSubject is where agents publish events of type t.
func EventSubject(t task.EventType) string { return eventPrefix + string(t) }

// ControlSubject is where the master's own processes (and any process on a
// server without credentials) publish command cmd for the master.
func ControlSubject(cmd string) string { return controlPrefix + cmd }

// ClientControlSubject is where the client whose credentials carry id
// publishes command cmd. A client's permissions allow only its own id there,
// so the master knows who sent a command without trusting what it says: a
// plan belongs to the client that submitted it, and only that client (or the
// master's credentials) may cancel or retry it.
func ClientControlSubject(cmd, id string) string { return controlPrefix + cmd + "." + id }

// VerdictSubject is the core NATS subject (in no stream) on which the master
// answers a submit of plan id: accepted, or rejected and why.
func VerdictSubject(id string) string { return verdictPrefix + id }

// IsControl reports whether subject carries a command, which, and the id of
// the client that sent it ("" when the master's credentials, or none, did).
func IsControl(subject string) (cmd, sender string, ok bool) {
	rest, ok := strings.CutPrefix(subject, controlPrefix)
	if !ok || rest == "" {
		return "", "", false
	}
	cmd, sender, _ = strings.Cut(rest, ".")
	return cmd, sender, true
}

// Connect connects to url with unbounded reconnection and returns the connection
// and its JetStream context. name identifies the client in server logs; extra
// options follow the defaults (Credentials.Options presents credentials). The
// URL's password is hidden in the log and the errors.
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	if log == nil {
		log = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "url", redact.URL(url), "err", redact.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", redact.URL(c.ConnectedUrl())) }),
	}
	opts = append(opts, extra...)
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s: %w", redact.URL(url), redact.Error(err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream on %s: %w", redact.URL(url), err)
	}
	return nc, js, nil
}

// Replicas is how many copies JetStream keeps of what the workflow stores
// (the streams, the roster, the lease, big plans): 3 on a cluster of three
// servers or more, so that losing one loses nothing, else 1. It counts the
// servers the connection knows, the cluster's gossip included.
func Replicas(nc *nats.Conn) int {
	if nc == nil || nc.ConnectedClusterName() == "" || len(nc.Servers()) < 3 {
		return 1
	}
	return 3
}

// Setup creates or updates both streams and the master's consumer. It is idempotent.
func Setup(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range []jetstream.StreamConfig{
		{Name: TasksStream, Subjects: []string{tasksPrefix + "*"}},
		{Name: MasterStream, Subjects: []string{eventPrefix + "*", controlPrefix + "*", controlPrefix + "*.*"}},
		{Name: RLStream, Subjects: []string{rlPrefix + ">"}}, // rl.go
	} {
		cfg.Retention = jetstream.WorkQueuePolicy
		cfg.Storage = jetstream.FileStorage
		cfg.Duplicates = DedupWindow
		cfg.Replicas = Replicas(js.Conn())
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := DoneKV(ctx, js); err != nil {
		return err
	}
	_, err := js.CreateOrUpdateConsumer(ctx, MasterStream, jetstream.ConsumerConfig{
		Durable:   MasterConsumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   DefaultAckWait,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", MasterConsumer, MasterStream, err)
	}
	return nil
}

// TaskConsumer binds to the shared consumer of queue q; agents use it. The
// queue's delivery settings (its ack deadline) belong to whoever set the queue
// up (EnsureQueue: the master), never to an agent: an existing consumer is
// bound as it is, whatever its settings. Only when the queue has no consumer
// yet (no master has dispatched to it) is one created, with ackWait (zero:
// DefaultAckWait); a master that dispatches to the queue later sets its own.
func TaskConsumer(ctx context.Context, js jetstream.JetStream, q string, ackWait time.Duration) (jetstream.Consumer, error) {
	if !task.ValidName(q) {
		return nil, fmt.Errorf("queue %q: not a queue name (letters, digits, '-', '_')", q)
	}
	c, err := js.Consumer(ctx, TasksStream, ConsumerName(q))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("bind consumer %s of queue %s: %w", ConsumerName(q), q, err)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if err := Setup(ctx, js); err != nil {
			return nil, err
		}
	}
	c, err = js.CreateConsumer(ctx, TasksStream, taskConsumerConfig(q, ackWait))
	if errors.Is(err, jetstream.ErrConsumerExists) {
		// Created meanwhile, by a master or another agent, with other settings: theirs stand.
		c, err = js.Consumer(ctx, TasksStream, ConsumerName(q))
	}
	if err != nil {
		return nil, fmt.Errorf("create consumer %s for queue %s: %w", ConsumerName(q), q, err)
	}
	return c, nil
}

// EnsureQueue makes queue q's consumer have ack deadline ackWait (zero:
// DefaultAckWait), creating or updating it. The master calls it for each queue
// it dispatches to: the queue's delivery settings are the master's, and an
// agent only binds to them (TaskConsumer).
func EnsureQueue(ctx context.Context, js jetstream.JetStream, q string, ackWait time.Duration) (jetstream.Consumer, error) {
	if !task.ValidName(q) {
		return nil, fmt.Errorf("queue %q: not a queue name (letters, digits, '-', '_')", q)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, TasksStream, taskConsumerConfig(q, ackWait))
	if err != nil {
		return nil, fmt.Errorf("set up consumer %s for queue %s (ack wait %v): %w", ConsumerName(q), q, ackWait, err)
	}
	return c, nil
}

// AckWaitOf returns the ack deadline of a bound consumer, as last read from
// the server (DefaultAckWait if unknown).
func AckWaitOf(c jetstream.Consumer) time.Duration {
	if info := c.CachedInfo(); info != nil && info.Config.AckWait > 0 {
		return info.Config.AckWait
	}
	return DefaultAckWait
}

func taskConsumerConfig(q string, ackWait time.Duration) jetstream.ConsumerConfig {
	if ackWait <= 0 {
		ackWait = DefaultAckWait
	}
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(q),
		FilterSubject: TaskSubject(q),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		// Agents count attempts themselves (task.Task.AttemptBase + deliveries) and
		// report a task that ran out of them, so the server redelivers without limit.
		MaxDeliver: -1,
	}
}

// PublishTask puts t on its queue and returns its sequence number in TL_TASKS.
func PublishTask(ctx context.Context, js jetstream.JetStream, t *task.Task) (uint64, error) {
	data, err := t.Encode()
	if err != nil {
		return 0, err
	}
	ack, err := js.Publish(ctx, TaskSubject(t.Queue), data, jetstream.WithMsgID(t.MsgID()), jetstream.WithExpectStream(TasksStream))
	if err != nil {
		return 0, fmt.Errorf("publish task %s to queue %s: %w", t.Key(), t.Queue, err)
	}
	return ack.Sequence, nil
}

// PublishEvent sends e to the master's stream.
func PublishEvent(ctx context.Context, js jetstream.JetStream, e *task.Event) error {
	data, err := e.Encode()
	if err != nil {
		return fmt.Errorf("encode event %s: %w", e.MsgID(), err)
	}
	if _, err := js.Publish(ctx, EventSubject(e.Type), data, jetstream.WithMsgID(e.MsgID()), jetstream.WithExpectStream(MasterStream)); err != nil {
		return fmt.Errorf("publish event %s: %w", e.MsgID(), err)
	}
	return nil
}

// PublishEventAsync sends e without waiting for the stream's acknowledgement,
// for an event whose loss costs little (started: the result that follows says
// more); events published later on the same connection are stored after it.
func PublishEventAsync(js jetstream.JetStream, e *task.Event) error {
	data, err := e.Encode()
	if err != nil {
		return fmt.Errorf("encode event %s: %w", e.MsgID(), err)
	}
	if _, err := js.PublishAsync(EventSubject(e.Type), data, jetstream.WithMsgID(e.MsgID()), jetstream.WithExpectStream(MasterStream)); err != nil {
		return fmt.Errorf("publish event %s: %w", e.MsgID(), err)
	}
	return nil
}

// PublishControl sends command cmd with payload data to the master's stream.
// A client's command goes to its own subject (ClientControlSubject).
func PublishControl(ctx context.Context, js jetstream.JetStream, cmd, msgID string, data []byte) error {
	subject := ControlSubject(cmd)
	if nc := js.Conn(); nc != nil {
		if role, id, _, err := parseUser(nc.Opts.User); err == nil && role == RoleClient {
			subject = ClientControlSubject(cmd, id)
		}
	}
	if _, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(MasterStream)); err != nil {
		return fmt.Errorf("send %s to the master: %w", cmd, err)
	}
	return nil
}

// Retry calls f until it succeeds, ctx ends, or it has failed for patience; it
// rides out a server restart for operations that must not be dropped.
func Retry(ctx context.Context, patience time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(patience)
	wait := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
