package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

func TestStartServerNeedsDir(t *testing.T) {
	if _, err := queue.StartServer(context.Background(), queue.ServerConfig{}); err == nil || !strings.Contains(err.Error(), "Dir is empty") {
		t.Fatalf("StartServer without a directory: %v", err)
	}
}

func TestSubjects(t *testing.T) {
	if cmd, sender, ok := queue.IsControl(queue.ControlSubject("submit")); !ok || cmd != "submit" || sender != "" {
		t.Errorf("IsControl(control subject) = %q, %q, %v", cmd, sender, ok)
	}
	if cmd, sender, ok := queue.IsControl(queue.ClientControlSubject("cancel", "0123456789abcdef")); !ok || cmd != "cancel" || sender != "0123456789abcdef" {
		t.Errorf("IsControl(client control subject) = %q, %q, %v", cmd, sender, ok)
	}
	if _, _, ok := queue.IsControl(queue.EventSubject(task.Started)); ok {
		t.Error("an event subject is taken for a command")
	}
}

// Tasks published, the server stopped and started on the same files: the tasks are
// still there, published once (de-duplicated by id), and deliverable.
func TestTasksSurviveServerRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := queue.StartServer(ctx, queue.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := queue.Connect(ctx, s.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := queue.Setup(ctx, js); err != nil {
		t.Fatal(err)
	}
	tk := &task.Task{Plan: "p", ID: "a", Kind: "noop", Queue: "cpu", MaxAttempts: 1, Dispatch: 1}
	seq1, err := queue.PublishTask(ctx, js, tk)
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := queue.PublishTask(ctx, js, tk) // a master repeating itself after a restart
	if err != nil || seq2 != seq1 {
		t.Fatalf("republished task: seq %d, %v; want the first message's seq %d", seq2, err, seq1)
	}
	if _, err := queue.PublishTask(ctx, js, &task.Task{Plan: "p", ID: "bad id", Kind: "noop", Queue: "cpu", MaxAttempts: 1, Dispatch: 1}); err == nil {
		t.Fatal("published an invalid task")
	}

	cfg := s.Config()
	s.Shutdown()
	s, err = queue.StartServer(ctx, cfg)
	if err != nil {
		t.Fatalf("restart on %s:%d: %v", cfg.Host, cfg.Port, err)
	}
	defer s.Shutdown()
	var c jetstream.Consumer
	err = queue.Retry(ctx, 30*time.Second, func(ctx context.Context) error {
		var err error
		c, err = queue.TaskConsumer(ctx, js, "cpu", 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("consumer after restart: %v", err)
	}
	msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("no task after restart: %v", err)
	}
	got, err := task.Decode(msg.Data())
	if err != nil || got.Key() != "p/a" {
		t.Fatalf("task after restart = %+v, %v", got, err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(jetstream.FetchMaxWait(500 * time.Millisecond)); err == nil {
		t.Fatal("a second message: the duplicate publish was stored")
	}
}

func TestTaskConsumerRejectsBadQueue(t *testing.T) {
	_, err := queue.TaskConsumer(context.Background(), nil, "gpu.0", time.Second)
	if err == nil || !strings.Contains(err.Error(), `queue "gpu.0"`) {
		t.Fatalf("TaskConsumer(gpu.0) = %v", err)
	}
}

func TestRetryGivesUp(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	err := queue.Retry(context.Background(), 300*time.Millisecond, func(context.Context) error { n++; return boom })
	if !errors.Is(err, boom) || n < 2 {
		t.Fatalf("Retry = %v after %d calls; want boom after several", err, n)
	}
}
