package master_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

type world struct {
	js  jetstream.JetStream
	st  *status.Memory
	ctx context.Context
}

func start(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	st := status.NewMemory()
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Store: st, Tick: 200 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	nc, js, err := queue.Connect(ctx, srv.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; nc.Close(); srv.Shutdown() })
	return &world{js: js, st: st, ctx: ctx}
}

func (w *world) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func (w *world) taskStatus(id, tk string) plan.Status {
	ts, err := w.st.Tasks(w.ctx, id)
	if err != nil {
		return ""
	}
	for _, x := range ts {
		if x.ID == tk {
			return x.Status
		}
	}
	return ""
}

func (w *world) queued() uint64 {
	s, err := w.js.Stream(w.ctx, queue.TasksStream)
	if err != nil {
		return 0
	}
	info, err := s.Info(w.ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// With no agents, a submitted plan's ready tasks wait on their queue; cancel takes
// them off it and marks everything cancelled.
func TestCancelRemovesQueuedTasks(t *testing.T) {
	w := start(t)
	spec, err := plan.Parse([]byte("name: c\ntasks: [{id: a, kind: k}, {id: b, kind: k}, {id: c, kind: k, deps: [a]}]\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(w.ctx, w.js, spec)
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "a and b queued", func() bool {
		return w.taskStatus(id, "a") == plan.Queued && w.taskStatus(id, "b") == plan.Queued && w.queued() == 2
	})
	if got := w.taskStatus(id, "c"); got != plan.Pending {
		t.Fatalf("c = %s before a finished; want pending", got)
	}
	if err := master.Cancel(w.ctx, w.js, id); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the plan cancelled and the queue empty", func() bool {
		p, err := w.st.Plan(w.ctx, id)
		return err == nil && p.Status == plan.Cancelled && w.queued() == 0 && w.taskStatus(id, "c") == plan.Cancelled
	})
}

// Junk on the master's stream (a bad command, an event for no plan) is dropped with
// an error in the log, and the master goes on with the next message.
func TestMasterSurvivesJunk(t *testing.T) {
	w := start(t)
	for _, m := range []struct{ subject, data string }{
		{queue.ControlSubject("submit"), "{not json"},
		{queue.ControlSubject("explode"), "{}"},
		{queue.EventSubject(task.Succeeded), `{"v":1,"type":"succeeded","plan":"ghost","task":"a","agent":"x","time":"2026-01-01T00:00:00Z"}`},
		{queue.EventSubject(task.Started), `{"v":9}`},
	} {
		if _, err := w.js.Publish(w.ctx, m.subject, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := plan.Parse([]byte("name: after\ntasks: [{id: a, kind: k}]\n"), "after.yaml")
	id, err := master.Submit(w.ctx, w.js, spec)
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the plan after the junk to be queued", func() bool { return w.taskStatus(id, "a") == plan.Queued })
	// Nothing is left to come back: the junk was removed, not left to redeliver.
	w.wait(t, "the master stream to be empty", func() bool {
		s, err := w.js.Stream(w.ctx, queue.MasterStream)
		if err != nil {
			return false
		}
		info, err := s.Info(w.ctx)
		return err == nil && info.State.Msgs == 0
	})
}
