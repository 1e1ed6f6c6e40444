package queue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

// An agent's credentials bind the results bucket, leave a result under their
// own queues' keys only, and read any result back; a result stands for a
// delivery only with the delivery's token.
func TestAuthAgentResults(t *testing.T) {
	w := startAuth(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, js := w.Connect(w.Creds(queue.RoleAgent, "cpu"))
	kv, err := queue.DoneKV(ctx, js)
	if err != nil {
		t.Fatalf("an agent binding the results bucket: %v", err)
	}
	tk := &task.Task{Plan: "p1", ID: "t1", Kind: "train", Queue: "cpu", MaxAttempts: 1, Dispatch: 2, Token: "the-token"}
	ev := &task.Event{Type: task.Succeeded, Plan: tk.Plan, Task: tk.ID, Dispatch: tk.Dispatch, Attempt: 1, Agent: "a",
		Time: time.Now().UTC(), Output: json.RawMessage(`{"ok":true}`), Token: tk.Token}
	if err := queue.MarkDone(ctx, kv, "cpu", ev); err != nil {
		t.Fatalf("leaving a result under its own queue: %v", err)
	}
	got, err := queue.FindDone(ctx, kv, "cpu", tk)
	if err != nil || got == nil || string(got.Output) != `{"ok":true}` {
		t.Fatalf("reading it back: %+v, %v", got, err)
	}
	// Another dispatch, or the same ids with another token: no result.
	for _, other := range []task.Task{{Plan: "p1", ID: "t1", Dispatch: 3, Token: "the-token"}, {Plan: "p1", ID: "t1", Dispatch: 2, Token: "guess"}} {
		if got, err := queue.FindDone(ctx, kv, "cpu", &other); err != nil || got != nil {
			t.Errorf("dispatch %d token %q: %+v, %v; want none", other.Dispatch, other.Token, got, err)
		}
	}
	// Not a final event; not its queue.
	started := *ev
	started.Type = task.Started
	if err := queue.MarkDone(ctx, kv, "cpu", &started); err == nil {
		t.Error("a started event left as a result: no error")
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if err := queue.MarkDone(short, kv, "cuda", ev); err == nil {
		t.Error("an agent of queue cpu left a result under queue cuda")
	}
}
