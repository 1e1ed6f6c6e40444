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

// pair is one NATS server and one store shared by several masters.
type pair struct {
	url string
	js  jetstream.JetStream
	st  *status.Memory
	ctx context.Context
}

func startShared(t *testing.T) *pair {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := queue.Connect(ctx, srv.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); nc.Close(); srv.Shutdown() })
	return &pair{url: srv.URL(), js: js, st: status.NewMemory(), ctx: ctx}
}

// runner is one master running in its own goroutine.
type runner struct {
	m    *master.Master
	stop context.CancelFunc
	done chan struct{}
}

func (p *pair) master(t *testing.T, id string, ttl time.Duration) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(p.ctx)
	m, err := master.New(ctx, master.Config{
		NATSURL: p.url, Store: p.st, Tick: 200 * time.Millisecond, LeaseTTL: ttl, ID: id,
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{m: m, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("master %s: %v", id, err)
		}
	}()
	// Cleanups run last first: masters stop before the server does.
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// agent runs an agent that succeeds every task of kind k.
func (p *pair) agent(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(p.ctx)
	reg := task.NewRegistry()
	reg.MustRegister("k", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		return json.RawMessage(`{"ok":true}`), nil
	})
	a, err := agent.New(ctx, agent.Config{NATSURL: p.url, Registry: reg, ID: "worker", Grace: time.Second, PollWait: 250 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (p *pair) submit(t *testing.T, name string) string {
	t.Helper()
	spec, err := plan.Parse([]byte("name: "+name+"\ntasks: [{id: a, kind: k}, {id: b, kind: k, deps: [a]}]\n"), name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(p.ctx, p.js, spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (p *pair) planStatus(id string) plan.Status {
	rec, err := p.st.Plan(p.ctx, id)
	if err != nil {
		return ""
	}
	return rec.Status
}

// poll calls cond every 20ms until it holds; it fails the test after within.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return time.Since(start)
		}
	}
	t.Fatalf("gave up after %s waiting for %s", within, what)
	return 0
}

// leader waits until exactly one of rs leads and returns it and the others.
func leader(t *testing.T, within time.Duration, rs ...*runner) (*runner, []*runner) {
	t.Helper()
	var l *runner
	var rest []*runner
	poll(t, within, "exactly one leader", func() bool {
		l, rest = nil, nil
		for _, r := range rs {
			if r.m.Leading() {
				if l != nil {
					return false
				}
				l = r
			} else {
				rest = append(rest, r)
			}
		}
		return l != nil
	})
	return l, rest
}

// noTwoLeaders fails the test if more than one of rs leads.
func noTwoLeaders(t *testing.T, rs ...*runner) {
	t.Helper()
	n := 0
	for _, r := range rs {
		if r.m.Leading() {
			n++
		}
	}
	if n > 1 {
		t.Fatalf("%d masters lead at once", n)
	}
}

// Two masters on one server: one leads, the lease names it, and a plan runs to the end.
func TestTwoMastersOneLeads(t *testing.T) {
	p := startShared(t)
	a, b := p.master(t, "ma", 2*time.Second), p.master(t, "mb", 2*time.Second)
	l, _ := leader(t, 10*time.Second, a, b)
	li, err := master.Leader(p.ctx, p.js)
	if err != nil || li == nil || li.ID != l.m.ID() {
		t.Fatalf("Leader = %+v, %v; want id %s", li, err, l.m.ID())
	}
	p.agent(t)
	id := p.submit(t, "two")
	// Through a few renewals (every TTL/3), one master leads throughout.
	poll(t, 30*time.Second, "the plan to succeed", func() bool {
		noTwoLeaders(t, a, b)
		return p.planStatus(id) == plan.Succeeded
	})
	for range 50 {
		noTwoLeaders(t, a, b)
		if !l.m.Leading() {
			t.Fatal("the leader stopped leading with nothing wrong")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A leader that stops deletes its lease: the standby takes over well before the
// lease could have expired, rebuilds the plans from the store, and finishes a
// plan queued under the old leader as well as one submitted after.
func TestStandbyTakesOverWhenLeaderStops(t *testing.T) {
	const ttl = 6 * time.Second
	p := startShared(t)
	a, b := p.master(t, "ma", ttl), p.master(t, "mb", ttl)
	l, rest := leader(t, 10*time.Second, a, b)
	s := rest[0]
	before := p.submit(t, "before")
	poll(t, 10*time.Second, "task a queued", func() bool {
		ts, err := p.st.Tasks(p.ctx, before)
		return err == nil && ts[0].Status == plan.Queued
	})

	l.stop()
	took := poll(t, ttl, "the standby to lead", func() bool {
		noTwoLeaders(t, a, b)
		return s.m.Leading()
	})
	// The last renewal was at most TTL/3 before the stop, so an expiry could not
	// have come before 2/3 TTL: sooner means the lease was deleted.
	if took >= 2*ttl/3 {
		t.Fatalf("the standby took over after %s; the lease was not released", took)
	}
	t.Logf("the standby took over %s after the leader stopped", took)
	<-l.done

	p.agent(t)
	after := p.submit(t, "after")
	poll(t, 30*time.Second, "both plans to succeed", func() bool {
		return p.planStatus(before) == plan.Succeeded && p.planStatus(after) == plan.Succeeded
	})
}

// A leader that cannot renew (held off the server by a test seam) steps down on
// its own once its lease may have expired, the standby takes over after the lease
// expires, and the old leader, back on the server, stands by.
func TestLeaseExpiresWhenNotRenewed(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	p := startShared(t)
	a, b := p.master(t, "ma", ttl), p.master(t, "mb", ttl)
	l, rest := leader(t, 10*time.Second, a, b)
	s := rest[0]

	master.HoldLease(l.m, true)
	stepped := poll(t, 2*ttl, "the leader to step down", func() bool { return !l.m.Leading() })
	took := poll(t, 3*ttl, "the standby to lead", func() bool { return s.m.Leading() })
	// The key outlives the last renewal (at most TTL/3 before the hold) by TTL.
	if stepped+took < ttl/2 {
		t.Fatalf("the standby took over %s after the hold; the lease cannot have expired", stepped+took)
	}
	t.Logf("the leader stepped down after %s, the standby led %s later", stepped, took)
	li, err := master.Leader(p.ctx, p.js)
	if err != nil || li == nil || li.ID != s.m.ID() {
		t.Fatalf("Leader = %+v, %v; want id %s", li, err, s.m.ID())
	}

	master.HoldLease(l.m, false)
	p.agent(t)
	id := p.submit(t, "expiry")
	poll(t, 30*time.Second, "the plan to succeed under the new leader", func() bool {
		noTwoLeaders(t, a, b)
		if l.m.Leading() {
			t.Fatal("the old leader took the lease back from a live leader")
		}
		return p.planStatus(id) == plan.Succeeded
	})
}
