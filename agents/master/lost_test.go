package master_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

// A task whose message was acknowledged without a result (an agent of the
// same queue acked another's delivery, then the one running it died) is
// queued again once its agent has been gone from the roster for LostGrace,
// and an honest agent finishes it.
func TestLostTaskQueuedAgain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	st := status.NewMemory()
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Store: st, Tick: 100 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler), LostGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mdone := make(chan struct{})
	go func() { defer close(mdone); _ = m.Run(ctx) }()
	defer func() { cancel(); <-mdone }()
	_, js, err := queue.Connect(ctx, srv.URL(), "rogue", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := plan.Parse([]byte("name: lost\ntasks:\n  - {id: a, kind: echo, queue: lq, max_attempts: 3}\n"), "lost.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The "agent" that takes the task: reports it started, then its delivery
	// is acknowledged and no result ever comes.
	cons, err := queue.TaskConsumer(ctx, js, "lq", 0)
	if err != nil {
		t.Fatal(err)
	}
	var tk *task.Task
	for tk == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			if tk, err = task.Decode(msg.Data()); err != nil {
				t.Fatal(err)
			}
			ev := &task.Event{Type: task.Started, Plan: tk.Plan, Task: tk.ID, Dispatch: tk.Dispatch, Attempt: 1, Agent: "vanished", Time: time.Now().UTC(), Token: tk.Token}
			if err := queue.PublishEvent(ctx, js, ev); err != nil {
				t.Fatal(err)
			}
			if err := msg.Ack(); err != nil {
				t.Fatal(err)
			}
		}
	}
	get := func() *status.Task {
		ts, _ := st.Tasks(ctx, id)
		for _, x := range ts {
			if x.ID == "a" {
				return x
			}
		}
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for x := get(); x == nil || x.Status != plan.Running; x = get() {
		if time.Now().After(deadline) {
			t.Fatalf("the task never ran: %+v", x)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An honest agent on the queue finishes it, as attempt 2.
	reg := task.NewRegistry()
	reg.MustRegister("echo", func(_ context.Context, run *task.Run) (json.RawMessage, error) {
		return json.Marshal(map[string]any{"attempt": run.Attempt})
	})
	a, err := agent.New(ctx, agent.Config{NATSURL: srv.URL(), Queues: []string{"lq"}, Registry: reg, ID: "honest",
		PollWait: 200 * time.Millisecond, Grace: time.Second, StateDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	adone := make(chan struct{})
	go func() { defer close(adone); _ = a.Run(ctx) }()
	defer func() { cancel(); <-adone }()
	deadline = time.Now().Add(30 * time.Second)
	for {
		p, err := st.Plan(ctx, id)
		if err == nil && p.Status == plan.Succeeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lost task was not run again: plan %+v, task %+v", p, get())
		}
		time.Sleep(50 * time.Millisecond)
	}
	x := get()
	if x.Agent != "honest" || x.Attempt != 2 || x.Output != `{"attempt":2}` {
		t.Fatalf("the task after it was lost: agent %q, attempt %d, output %s; want honest, attempt 2", x.Agent, x.Attempt, x.Output)
	}
	lost := false
	for _, ch := range x.History {
		if ch.Status == plan.Pending && len(ch.Note) > 5 && ch.Note[:5] == "lost:" {
			lost = true
		}
	}
	if !lost {
		t.Fatalf("the history does not say the task was lost: %+v", x.History)
	}
}
