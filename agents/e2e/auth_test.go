package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
)

// The issue 13 forgeries, against a master and an agent on the embedded
// server with credentials: a task published with an agent's or a client's
// credentials is refused and no agent runs it; a "succeeded" notification for
// a running task, from a client (refused by the server) or from an agent
// whose token is not the delivery's (dropped by the master), changes nothing;
// the real result then finishes the plan.
func TestForgeriesRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, st := authMaster(t, ctx)
	creds, connect := w.Creds, w.Connect

	release := make(chan struct{})
	var evil atomic.Int32
	reg := task.NewRegistry()
	reg.MustRegister("hold", func(ctx context.Context, _ *task.Run) (json.RawMessage, error) {
		select {
		case <-release:
			return json.RawMessage(`{"real":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	reg.MustRegister("evil", func(context.Context, *task.Run) (json.RawMessage, error) {
		evil.Add(1)
		return json.RawMessage(`{"evil":true}`), nil
	})
	testworld.RunAgent(t, agent.Config{NATSURL: w.URL(), Credentials: creds(queue.RoleAgent, "cpu"), Queues: []string{"cpu"},
		Registry: reg, ID: "honest", PollWait: 250 * time.Millisecond, Grace: time.Second, Log: testworld.Log()})

	client, cjs := connect(creds(queue.RoleClient))
	spec, err := plan.Parse([]byte("name: guarded\ntasks:\n  - {id: long, kind: hold, queue: cpu}\n"), "guarded.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(ctx, cjs, spec)
	if err != nil {
		t.Fatalf("a client submitting a plan: %v", err)
	}
	taskOf := func() *status.Task {
		ts, _ := st.Tasks(ctx, id)
		for _, tk := range ts {
			if tk.ID == "long" {
				return tk
			}
		}
		return nil
	}
	waitUntil(t, "task long to run", func() bool { tk := taskOf(); return tk != nil && tk.Status == plan.Running })
	running := taskOf()

	// Forged tasks: refused by the server, with either role's credentials.
	rogue, rjs := connect(creds(queue.RoleAgent, "cpu"))
	fake, _ := (&task.Task{Plan: id, ID: "x", Kind: "evil", Queue: "cpu", MaxAttempts: 1, Dispatch: 1, Token: "forged"}).Encode()
	for name, nc := range map[string]*nats.Conn{"agent": rogue, "client": client} {
		if err := nc.Publish(queue.TaskSubject("cpu"), fake); err != nil {
			t.Fatal(err)
		}
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, name+"'s forged task refused", func() bool { return errors.Is(nc.LastError(), nats.ErrPermissionViolation) })
	}

	// Forged notifications that the task succeeded.
	forged := func(token string) []byte {
		b, _ := (&task.Event{Type: task.Succeeded, Plan: id, Task: "long", Dispatch: running.Dispatch, Attempt: 1,
			Agent: "rogue", Time: time.Now().UTC(), Output: json.RawMessage(`{"forged":true}`), Token: token}).Encode()
		return b
	}
	client.Close() // a fresh connection, so that its last error is this one's
	client, _ = connect(creds(queue.RoleClient))
	if err := client.Publish(queue.EventSubject(task.Succeeded), forged("")); err != nil {
		t.Fatal(err)
	}
	if err := client.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the client's forged event refused", func() bool { return errors.Is(client.LastError(), nats.ErrPermissionViolation) })
	for i, token := range []string{"", "forged", master.Token([]byte("not the master's key, 32 bytes.."), id, "long", running.Dispatch)} {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := rjs.Publish(pctx, queue.EventSubject(task.Succeeded), forged(token), jetstream.WithMsgID(string(rune('a'+i))+"-forged"))
		pcancel()
		if err != nil {
			t.Fatalf("an agent publishing an event: %v", err)
		}
	}
	// The master has taken them all off its stream (dropped, not pending).
	_, mjs := connect(creds(queue.RoleMaster)) // to look, not to act
	waitUntil(t, "the master to handle the forged events", func() bool {
		s, err := mjs.Stream(ctx, queue.MasterStream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	time.Sleep(500 * time.Millisecond)
	if tk := taskOf(); tk.Status != plan.Running || tk.Output != "" || tk.Agent != "honest" {
		t.Fatalf("after forged notifications task long is %s by %q with output %q; want still running on honest, no output", tk.Status, tk.Agent, tk.Output)
	}
	if p, err := st.Plan(ctx, id); err != nil || p.Status != plan.Running {
		t.Fatalf("after forged notifications the plan is %v (%v); want running", p.Status, err)
	}

	// The real result finishes the plan; the forged task never ran.
	close(release)
	waitUntil(t, "the plan to succeed", func() bool { p, err := st.Plan(ctx, id); return err == nil && p.Status == plan.Succeeded })
	if tk := taskOf(); tk.Output != `{"real":true}` {
		t.Errorf("task long's output %q; want the real one", tk.Output)
	}
	if n := evil.Load(); n != 0 {
		t.Errorf("the forged task ran %d times", n)
	}

	// A plan over the message size goes through the object store, which a
	// client may write to (not create).
	_, bjs := connect(creds(queue.RoleClient))
	big := &plan.Spec{Name: "big"}
	for i := range 12 {
		big.Tasks = append(big.Tasks, plan.TaskSpec{ID: fmt.Sprintf("t%d", i), Kind: "hold", Queue: "cpu",
			Params: map[string]any{"pad": strings.Repeat("x", int(bjs.Conn().MaxPayload())/10)}})
	}
	bigID, err := master.Submit(ctx, bjs, big)
	if err != nil {
		t.Fatalf("a client submitting a plan over the message size: %v", err)
	}
	waitUntil(t, "the big plan to succeed", func() bool { p, err := st.Plan(ctx, bigID); return err == nil && p.Status == plan.Succeeded })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

// A plan belongs to the client that submitted it: another client's cancel or
// retry is refused (and it cannot send a command as the owner or as the
// master: the server refuses those subjects), the owner's and the master's
// go through.
func TestClientsTouchOnlyTheirPlans(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, st := authMaster(t, ctx)
	creds, connect := w.Creds, w.Connect

	spec := func() *plan.Spec {
		// No agent serves the queue: the task stays queued until cancelled.
		s, err := plan.Parse([]byte("name: owned\ntasks:\n  - {id: wait, kind: hold, queue: nobody}\n"), "owned.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ownerCreds := creds(queue.RoleClient)
	_, ajs := connect(ownerCreds)
	other, bjs := connect(creds(queue.RoleClient))
	_, mjs := connect(creds(queue.RoleMaster))
	planStatus := func(id string) plan.Status {
		p, err := st.Plan(ctx, id)
		if err != nil {
			return ""
		}
		return p.Status
	}

	id, err := master.Submit(ctx, ajs, spec())
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the plan to be recorded", func() bool { return planStatus(id) == plan.Running })
	if p, _ := st.Plan(ctx, id); !strings.HasPrefix(ownerCreds.User, "client:"+p.Owner) || p.Owner == "" {
		t.Fatalf("plan owner %q; want the id of %s", p.Owner, ownerCreds.User)
	}
	if _, err := master.CancelChecked(ctx, bjs, id, 10*time.Second); !errors.Is(err, master.ErrRefused) {
		t.Fatalf("another client's cancel: %v; want ErrRefused", err)
	}
	if _, err := master.RetryChecked(ctx, bjs, id, nil, 10*time.Second); !errors.Is(err, master.ErrRefused) {
		t.Fatalf("another client's retry: %v; want ErrRefused", err)
	}
	// Sending as the master or as the owner: refused by the server.
	ownerID, err := queue.CredentialsID(ownerCreds.User)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(master.CancelCmd{Plan: id})
	for _, subj := range []string{queue.ControlSubject(master.CmdCancel), queue.ClientControlSubject(master.CmdCancel, ownerID)} {
		other.Close()
		other, _ = connect(creds(queue.RoleClient))
		if err := other.Publish(subj, data); err != nil {
			t.Fatal(err)
		}
		if err := other.FlushTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "a cancel on "+subj+" refused", func() bool { return errors.Is(other.LastError(), nats.ErrPermissionViolation) })
	}
	time.Sleep(300 * time.Millisecond)
	if s := planStatus(id); s != plan.Running {
		t.Fatalf("after refused cancels the plan is %s", s)
	}
	if _, err := master.CancelChecked(ctx, ajs, id, 10*time.Second); err != nil {
		t.Fatalf("the owner's cancel: %v", err)
	}
	waitUntil(t, "the owner's cancel", func() bool { return planStatus(id) == plan.Cancelled })

	// A plan the master's credentials submitted: clients may not touch it, the master may.
	mid, err := master.Submit(ctx, mjs, spec())
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the master's plan to be recorded", func() bool { return planStatus(mid) == plan.Running })
	if _, err := master.CancelChecked(ctx, ajs, mid, 10*time.Second); !errors.Is(err, master.ErrRefused) {
		t.Fatalf("a client's cancel of the master's plan: %v; want ErrRefused", err)
	}
	if v, err := master.CancelChecked(ctx, mjs, mid, 10*time.Second); err != nil || v == nil || !v.Accepted {
		t.Fatalf("the master's cancel: %+v, %v", v, err)
	}
	waitUntil(t, "the master's cancel", func() bool { return planStatus(mid) == plan.Cancelled })
}

// authMaster starts an embedded NATS server with credentials and a master
// (with the master's credentials) over a store of plans in memory.
func authMaster(t *testing.T, ctx context.Context) (*testworld.AuthNATS, status.Store) {
	t.Helper()
	w := testworld.StartAuthNATS(t, ctx)
	st := status.NewMemory()
	testworld.RunMaster(t, master.Config{NATSURL: w.URL(), Credentials: w.Creds(queue.RoleMaster), Store: st, Tick: 200 * time.Millisecond, Log: testworld.Log()})
	return w, st
}
