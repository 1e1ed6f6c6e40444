package agent_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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

var quiet = slog.New(slog.DiscardHandler)

// rig is a server, a master over a memory store, and a connection for the test.
type rig struct {
	t      *testing.T
	ctx    context.Context
	srv    *queue.Server
	cfg    queue.ServerConfig
	st     *status.Memory
	ackW   time.Duration
	stopM  func()
	closeC func()
}

func newRig(t *testing.T, ackWait time.Duration) *rig {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ctx: ctx, srv: srv, cfg: srv.Config(), st: status.NewMemory(), ackW: ackWait}
	t.Cleanup(func() {
		if r.stopM != nil {
			r.stopM()
		}
		if r.srv != nil {
			r.srv.Shutdown()
		}
	})
	r.startMaster()
	return r
}

func (r *rig) url() string { return r.srv.URL() }

func (r *rig) startMaster() {
	ctx, cancel := context.WithCancel(r.ctx)
	m, err := master.New(ctx, master.Config{NATSURL: r.url(), Store: r.st, Tick: 200 * time.Millisecond, Log: quiet, AckWait: r.ackW, LeaseTTL: 2 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	r.stopM = func() { cancel(); <-done }
}

func (r *rig) agent(cfg agent.Config) {
	cfg.NATSURL, cfg.Log = r.url(), quiet
	a, err := agent.New(r.ctx, cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
}

func (r *rig) submit(doc string) string {
	spec, err := plan.Parse([]byte(doc), r.t.Name())
	if err != nil {
		r.t.Fatal(err)
	}
	_, js, err := queue.Connect(r.ctx, r.url(), "test", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer js.Conn().Close()
	id, err := master.Submit(r.ctx, js, spec)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func (r *rig) wait(what string, patience time.Duration, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(patience); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	r.t.Fatalf("gave up waiting %v for %s", patience, what)
}

func (r *rig) done(id string) bool {
	p, err := r.st.Plan(r.ctx, id)
	return err == nil && p.Status.Terminal()
}

// An agent started with a short --ack-wait does not change the queue's ack
// deadline, which the master set: a task running on another agent, longer
// than that short deadline, is not delivered to the newcomer (it ran twice
// when the newcomer rewrote the shared consumer).
func TestOneAgentsAckWaitLeavesOthersAlone(t *testing.T) {
	r := newRig(t, 3*time.Second)
	var runs atomic.Int64
	reg := task.NewRegistry()
	reg.MustRegister("long", func(ctx context.Context, _ *task.Run) (json.RawMessage, error) {
		runs.Add(1)
		select {
		case <-time.After(4500 * time.Millisecond): // longer than both deadlines: heartbeats keep it
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, nil
	})
	r.agent(agent.Config{Queues: []string{"shared"}, Registry: reg, ID: "first"})
	id := r.submit("name: long\ntasks: [{id: a, kind: long, queue: shared}]\n")
	r.wait("the task to start", 30*time.Second, func() bool { return runs.Load() == 1 })
	r.agent(agent.Config{Queues: []string{"shared"}, Registry: reg, ID: "second", AckWait: time.Second})
	r.wait("the plan to finish", 60*time.Second, func() bool { return r.done(id) })
	if n := runs.Load(); n != 1 {
		t.Errorf("the task ran %d times, want once", n)
	}
	_, js, err := queue.Connect(r.ctx, r.url(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer js.Conn().Close()
	c, err := js.Consumer(r.ctx, queue.TasksStream, queue.ConsumerName("shared"))
	if err != nil {
		t.Fatal(err)
	}
	if got := queue.AckWaitOf(c); got != 3*time.Second {
		t.Errorf("the queue's ack deadline is %v, want the master's 3s", got)
	}
}

// The master (with its embedded server) down for several ack deadlines while
// a task finishes: the result waits in the agent's outbox (a file 0600) and
// reaches the master when it is back; the task does not run again.
func TestMasterDownLongerThanAckWait(t *testing.T) {
	r := newRig(t, time.Second)
	var runs atomic.Int64
	gate := make(chan struct{})
	reg := task.NewRegistry()
	reg.MustRegister("gated", func(ctx context.Context, _ *task.Run) (json.RawMessage, error) {
		runs.Add(1)
		select {
		case <-gate:
			return json.RawMessage(`{"ok":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	state := t.TempDir()
	r.agent(agent.Config{Queues: []string{"work"}, Registry: reg, ID: "worker", AckWait: time.Second, StateDir: state})
	id := r.submit("name: outage\ntasks: [{id: a, kind: gated, queue: work}]\n")
	r.wait("the task to start", 30*time.Second, func() bool { return runs.Load() == 1 })
	time.Sleep(300 * time.Millisecond) // the start is recorded

	r.stopM()
	r.srv.Shutdown()
	close(gate) // the task finishes while the master is away
	outbox := filepath.Join(state, "outbox")
	var kept []os.DirEntry
	r.wait("the result in the outbox", 10*time.Second, func() bool {
		kept, _ = os.ReadDir(outbox)
		return len(kept) == 1
	})
	fi, err := os.Stat(filepath.Join(outbox, kept[0].Name()))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("outbox file %s: mode %v, %v; want 0600", kept[0].Name(), fi.Mode().Perm(), err)
	}
	time.Sleep(4 * time.Second) // four ack deadlines, twice the agent's old patience

	srv, err := queue.StartServer(r.ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.startMaster()
	r.wait("the plan to finish", 60*time.Second, func() bool { return r.done(id) })
	time.Sleep(2 * time.Second) // a redelivery would come after the deadline
	ts, _ := r.st.Tasks(r.ctx, id)
	if ts[0].Status != plan.Succeeded || ts[0].Output != `{"ok":true}` || ts[0].Attempt != 1 {
		t.Errorf("task a: %s, output %s, attempt %d; want succeeded with the first attempt's result", ts[0].Status, ts[0].Output, ts[0].Attempt)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the task ran %d times, want once", n)
	}
	if left, _ := os.ReadDir(outbox); len(left) != 0 {
		t.Errorf("outbox still holds %d entries after the master took the result", len(left))
	}
}

// Agents stay in the roster across a restart of the (embedded) server, which
// restarts with its master: tl status said "agents: none up" while they worked.
func TestRosterSurvivesServerRestart(t *testing.T) {
	r := newRig(t, 0)
	reg := task.NewRegistry()
	reg.MustRegister("noop", func(context.Context, *task.Run) (json.RawMessage, error) { return nil, nil })
	r.agent(agent.Config{Queues: []string{"cpu"}, Registry: reg, ID: "steady"})
	listed := func() bool {
		_, js, err := queue.Connect(r.ctx, r.url(), "test", nil)
		if err != nil {
			return false
		}
		defer js.Conn().Close()
		as, _ := queue.ListAgents(r.ctx, js)
		return slices.ContainsFunc(as, func(a queue.AgentInfo) bool { return a.ID == "steady" })
	}
	r.wait("the agent to announce itself", 30*time.Second, listed)
	r.stopM()
	r.srv.Shutdown()
	srv, err := queue.StartServer(r.ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.startMaster()
	r.wait("the agent listed again after the restart", queue.AnnounceTTL, listed)
}

// An agent settles a delivery and leaves its result, but its ack is lost (its
// server died): the queue delivers the task again, to another agent, which
// settles it with that result instead of running it. A result whose token is
// not the delivery's (an agent that never got the task cannot know it) is
// ignored: that task runs.
func TestResultOfALostAckStandsOnAnotherAgent(t *testing.T) {
	r := newRig(t, time.Second)
	id := r.submit("name: lost-ack\ntasks: [{id: a, kind: count, queue: work}, {id: b, kind: count, queue: work}]\n")

	// The first agent, played by the test: it takes both deliveries, reports
	// a's result and leaves it in the results bucket, forges b's, acks nothing.
	_, js, err := queue.Connect(r.ctx, r.url(), "first", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer js.Conn().Close()
	var c jetstream.Consumer
	r.wait("the queue's consumer", 30*time.Second, func() bool {
		c, err = js.Consumer(r.ctx, queue.TasksStream, queue.ConsumerName("work"))
		return err == nil
	})
	kv, err := queue.DoneKV(r.ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*task.Task{}
	r.wait("both deliveries", 30*time.Second, func() bool {
		batch, err := c.Fetch(2, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			tk, err := task.Decode(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			got[tk.ID] = tk
		}
		return len(got) == 2
	})
	a, b := got["a"], got["b"]
	done := &task.Event{Type: task.Succeeded, Plan: a.Plan, Task: a.ID, Dispatch: a.Dispatch, Attempt: 1, Agent: "first",
		Time: time.Now().UTC(), Output: json.RawMessage(`{"by":"first"}`), Token: a.Token}
	if err := queue.PublishEvent(r.ctx, js, done); err != nil {
		t.Fatal(err)
	}
	if err := queue.MarkDone(r.ctx, kv, "work", done); err != nil {
		t.Fatal(err)
	}
	forged := *done
	forged.Task, forged.Dispatch, forged.Token = b.ID, b.Dispatch, "not-the-token"
	if err := queue.MarkDone(r.ctx, kv, "work", &forged); err != nil {
		t.Fatal(err)
	}

	var runs atomic.Int64
	reg := task.NewRegistry()
	reg.MustRegister("count", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		runs.Add(1)
		return json.RawMessage(`{"by":"second"}`), nil
	})
	r.agent(agent.Config{Queues: []string{"work"}, Registry: reg, ID: "second"})
	r.wait("the plan to finish", 60*time.Second, func() bool { return r.done(id) })
	ts, err := r.st.Tasks(r.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tk := range ts {
		if tk.Status != plan.Succeeded {
			t.Errorf("task %s: %s", tk.ID, tk.Status)
		}
		out[tk.ID] = tk.Output
	}
	if out["a"] != `{"by":"first"}` || out["b"] != `{"by":"second"}` {
		t.Errorf("outputs %v: want a's from the first agent, b's from the second", out)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the second agent ran %d tasks, want 1 (b only)", n)
	}
}

// A success leaves its result in the results bucket before its ack, even
// though the ack is confirmed: a consumer leader that dies before replicating
// a confirmed ack loses it, and the redelivery must find the result rather
// than run the task again (a three-node cluster test ran one twice that way,
// when the result was sent without waiting for the bucket).
func TestSuccessLeavesItsResult(t *testing.T) {
	r := newRig(t, time.Second)
	id := r.submit("name: leaves\ntasks: [{id: a, kind: count, queue: work}]\n")
	var runs atomic.Int64
	reg := task.NewRegistry()
	reg.MustRegister("count", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		runs.Add(1)
		return json.RawMessage(`{"ran":1}`), nil
	})
	_, js, err := queue.Connect(r.ctx, r.url(), "reader", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer js.Conn().Close()
	kv, err := queue.DoneKV(r.ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	var c jetstream.Consumer
	r.wait("the queue's consumer", 30*time.Second, func() bool {
		c, err = js.Consumer(r.ctx, queue.TasksStream, queue.ConsumerName("work"))
		return err == nil
	})
	r.agent(agent.Config{Queues: []string{"work"}, Registry: reg, ID: "only"})
	// The moment the queue has the ack, the bucket must have the result.
	r.wait("the task acked", 60*time.Second, func() bool {
		info, err := c.Info(r.ctx)
		return err == nil && info.Delivered.Consumer > 0 && info.NumAckPending == 0 && info.NumPending == 0
	})
	prefix := "work." + id + ".a."
	keys, err := kv.ListKeys(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for k := range keys.Keys() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		ent, err := kv.Get(r.ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var e task.Event
		if err := json.Unmarshal(ent.Value(), &e); err != nil {
			t.Fatalf("results bucket entry %s: %v", k, err)
		}
		if e.Type != task.Succeeded || e.Token == "" || string(e.Output) != `{"ran":1}` {
			t.Errorf("results bucket entry %s: %s, token %q, output %s; want the success with its token", k, e.Type, e.Token, e.Output)
		}
		found = true
	}
	if !found {
		t.Errorf("no result under %s* in the results bucket once the task was acked", prefix)
	}
	r.wait("the plan to finish", 60*time.Second, func() bool { return r.done(id) })
	if n := runs.Load(); n != 1 {
		t.Errorf("ran %d times, want 1", n)
	}
}
