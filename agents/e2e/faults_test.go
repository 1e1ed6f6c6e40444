package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

// waitRunning waits until the task runs on an agent and returns the agent.
func (e *env) waitRunning(id, tk string) string {
	e.t.Helper()
	var agent string
	e.eventually(tk+" to run", 60*time.Second, func() (bool, string) {
		ts, err := e.status.Tasks(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		for _, t := range ts {
			if t.ID == tk {
				agent = t.Agent
				return t.Status == plan.Running, e.describe(id)
			}
		}
		return false, e.describe(id)
	})
	return agent
}

// kill -9 of an agent mid-task: the task is delivered again after the ack deadline,
// completes once, and its effect is recorded once.
func TestAgentKilledMidTask(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		e.runMaster()
		victim := e.agent("victim")
		e.waitAgents(1)
		id := e.submit(`
name: kill
tasks:
  - {id: long, kind: work, queue: QUEUE, params: {ms: 100, first_ms: 600000, value: 7}}
`)
		if a := e.waitRunning(id, "long"); a != "victim" {
			t.Fatalf("long runs on %q, want victim", a)
		}
		// The effect is made before the long wait; kill while waiting.
		e.eventually("the victim's effect", 30*time.Second, func() (bool, string) {
			return e.count(effectsColl, "task", id+"/long") == 1, "no effect yet"
		})
		victim.Kill()
		killed := time.Now()
		e.agent("rescuer")
		p, ts := e.waitPlan(id)
		long := ts["long"]
		if p.Status != plan.Succeeded || long.Agent != "rescuer" || long.Attempt != 2 {
			t.Fatalf("plan %s, task %+v; want succeeded by rescuer on attempt 2", p.Status, long)
		}
		t.Logf("killed to done: %v", long.Updated.Sub(killed))
		if n := e.count(runsColl, "task", id+"/long"); n != 2 {
			t.Errorf("long started work %d times, want 2 (victim, rescuer)", n)
		}
		if n := e.count(effectsColl, "task", id+"/long"); n != 1 {
			t.Errorf("long has %d effects, want exactly 1", n)
		}
		var agents []string
		for _, c := range long.History {
			if c.Status == plan.Running {
				agents = append(agents, c.Agent)
			}
		}
		if !slices.Equal(agents, []string{"victim", "rescuer"}) {
			t.Errorf("history shows runs on %v, want [victim rescuer]", agents)
		}
	})
}

// A result that arrives twice (an agent that died after reporting, before its ack)
// is recorded once, also by a master started afterwards.
func TestDuplicateResultRecordedOnce(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	_, stop := e.runMaster()
	id := e.submit("name: dup\ntasks: [{id: a, kind: noop, queue: QUEUE}, {id: b, kind: noop, queue: QUEUE, deps: [a]}]\n")
	e.eventually("a queued", 30*time.Second, func() (bool, string) {
		_, err := e.status.Plan(ctx, id)
		return err == nil && e.tasks(id)["a"].Status == plan.Queued, e.describe(id)
	})
	_ = status.ErrNotFound
	// The test stands in for the agents: its events carry the deliveries' tokens.
	key, err := master.TokenKey(ctx, e.js)
	if err != nil {
		t.Fatal(err)
	}
	send := func(attempt int, agent, out string) {
		ev := &task.Event{Type: task.Succeeded, Plan: id, Task: "a", Dispatch: 1, Attempt: attempt, Agent: agent, Time: time.Now().UTC(), Output: []byte(out),
			Token: master.Token(key, id, "a", 1)}
		if err := queue.PublishEvent(ctx, e.js, ev); err != nil {
			t.Fatal(err)
		}
	}
	send(1, "first", `{"v":1}`)
	send(1, "first", `{"v":1}`)  // the same message again: the stream de-duplicates it
	send(2, "second", `{"v":2}`) // the redelivered attempt's result: the master ignores it
	e.eventually("b queued", 30*time.Second, func() (bool, string) {
		return e.tasks(id)["b"].Status == plan.Queued, e.describe(id)
	})
	stop()
	e.runMaster()
	send(3, "third", `{"v":3}`) // to a restarted master
	// b's result comes from the test too; a's last duplicate precedes it in the stream.
	ev := &task.Event{Type: task.Succeeded, Plan: id, Task: "b", Dispatch: 1, Attempt: 1, Agent: "b-agent", Time: time.Now().UTC(), Output: []byte(`{}`),
		Token: master.Token(key, id, "b", 1)}
	if err := queue.PublishEvent(ctx, e.js, ev); err != nil {
		t.Fatal(err)
	}
	p, ts := e.waitPlan(id)
	a := ts["a"]
	if p.Status != plan.Succeeded || a.Output != `{"v":1}` || a.Agent != "first" {
		t.Fatalf("plan %s, a = %+v; want a's first result kept", p.Status, a)
	}
	n := 0
	for _, c := range a.History {
		if c.Status == plan.Succeeded {
			n++
		}
	}
	if n != 1 {
		t.Errorf("a's history records %d successes, want 1: %+v", n, a.History)
	}
}

// A master killed (kill -9) mid-plan and started again resumes the plan; nothing is
// lost and nothing runs twice.
func TestMasterRestartedMidPlan(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		first := e.start("master", "master-1")
		e.agent("w1")
		e.agent("w2")
		id := e.submit(`
name: chain
tasks:
  - {id: s1, kind: work, queue: QUEUE, params: {ms: 300}}
  - {id: s2a, kind: work, queue: QUEUE, deps: [s1], params: {ms: 1500}}
  - {id: s2b, kind: work, queue: QUEUE, deps: [s1], params: {ms: 1500}}
  - {id: s3, kind: work, queue: QUEUE, deps: [s2a, s2b], params: {ms: 300}}
`)
		e.waitRunning(id, "s2a")
		first.Kill()
		// The agents go on; their results wait in the stream for the next master.
		time.Sleep(2 * time.Second)
		e.start("master", "master-2")
		p, ts := e.waitPlan(id)
		if p.Status != plan.Succeeded {
			t.Fatalf("plan %s: %s (%s); tasks: %s", id, p.Status, p.Note, e.describe(id))
		}
		for k, tk := range ts {
			if n := e.count(runsColl, "task", id+"/"+k); n != 1 || tk.Attempt != 1 {
				t.Errorf("task %s ran %d times (attempt %d), want once", k, n, tk.Attempt)
			}
		}
	})
}

// The NATS server stopped and started again (same files) with tasks pending: the
// pending tasks survive, clients reconnect, the plan completes.
func TestNATSRestartedWithTasksPending(t *testing.T) {
	e := newEnv(t, false)
	e.runMaster()
	e.agent("only")
	e.waitAgents(1)
	var b strings.Builder
	b.WriteString("name: outage\ntasks:\n")
	for _, id := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
		b.WriteString("  - {id: " + id + ", kind: work, queue: QUEUE, params: {ms: 500}}\n")
	}
	id := e.submit(b.String())
	e.waitRunning(id, "t1")
	cfg := e.nats.Config()
	e.nats.Shutdown()
	e.nats = nil
	time.Sleep(time.Second)
	s, err := queue.StartServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("restart nats on %s:%d: %v", cfg.Host, cfg.Port, err)
	}
	e.nats = s
	p, ts := e.waitPlan(id)
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s (%s); tasks: %s", id, p.Status, p.Note, e.describe(id))
	}
	for k := range ts {
		if n := e.count(effectsColl, "task", id+"/"+k); n != 1 {
			t.Errorf("task %s has %d effects, want 1", k, n)
		}
	}
}

// A task that always fails is marked failed after its attempts, with its error; the
// plan fails and says what it blocks; independent work still completes; tl retry
// runs it again with a fresh budget.
func TestAlwaysFailingTask(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		m, _ := e.runMaster()
		_ = m
		e.agent("w")
		id := e.submit(`
name: doomed
tasks:
  - {id: bad, kind: work, queue: QUEUE, max_attempts: 3, params: {always_fail: true}}
  - {id: next, kind: work, queue: QUEUE, deps: [bad]}
  - {id: last, kind: work, queue: QUEUE, deps: [next]}
  - {id: other, kind: work, queue: QUEUE, params: {ms: 10}}
  - {id: flaky, kind: work, queue: QUEUE, params: {fail_until: 2}}
`)
		p, ts := e.waitPlan(id)
		bad := ts["bad"]
		if p.Status != plan.Failed || bad.Status != plan.Failed || bad.Attempt != 3 || !strings.Contains(bad.Error, "disk on fire (attempt 3)") {
			t.Fatalf("plan %s, bad = %s attempt %d error %q; want failed after 3 attempts with its error", p.Status, bad.Status, bad.Attempt, bad.Error)
		}
		if n := e.count(runsColl, "task", id+"/bad"); n != 3 {
			t.Errorf("bad ran %d times, want 3", n)
		}
		for _, k := range []string{"next", "last"} {
			if ts[k].Status != plan.Blocked || ts[k].BlockedBy != "bad" {
				t.Errorf("%s = %s blocked by %q; want blocked by bad", k, ts[k].Status, ts[k].BlockedBy)
			}
		}
		if ts["other"].Status != plan.Succeeded || ts["flaky"].Status != plan.Succeeded || ts["flaky"].Attempt != 3 {
			t.Errorf("independent tasks: other %s, flaky %s attempt %d; want both succeeded, flaky on attempt 3", ts["other"].Status, ts["flaky"].Status, ts["flaky"].Attempt)
		}
		if !strings.Contains(p.Note, "task bad failed after 3 attempts") || !strings.Contains(p.Note, "it blocks next, last") {
			t.Errorf("plan note %q does not say what failed and what it blocks", p.Note)
		}
		// tl retry: a fresh budget of 3 attempts, numbered on from 3.
		if err := retryPlan(e, id); err != nil {
			t.Fatal(err)
		}
		// The master saves the tasks, then the plan: wait for the plan.
		e.eventually("the retried plan to fail again", 120*time.Second, func() (bool, string) {
			p, err := e.status.Plan(context.Background(), id)
			if err != nil || p.Status != plan.Failed || p.Finished.Before(bad.Updated) {
				return false, e.describe(id)
			}
			ts := e.tasks(id)
			return ts["bad"].Attempt == 6 && ts["bad"].Status == plan.Failed && ts["next"].Status == plan.Blocked, e.describe(id)
		})
	})
}

// Malformed task messages are rejected with a clear error; the queue goes on.
func TestMalformedTaskMessage(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		m, _ := e.runMaster()
		ctx := context.Background()
		for _, junk := range []string{
			`this is not json`,
			`{"v":1,"plan":"p","id":"x","kind":"work","queue":"cpu","max_attempts":1,"dispatch":1,"code":"import os"}`,
		} {
			if _, err := e.js.Publish(ctx, queue.TaskSubject(e.queue), []byte(junk)); err != nil {
				t.Fatal(err)
			}
		}
		e.agent("w")
		// (A kind no agent runs is refused when the plan is submitted, or,
		// before any agent has announced its kinds, fails its task at once:
		// agents/master's validate tests and agents/task's registry tests.)
		id := e.submit("name: after\ntasks: [{id: a, kind: work, queue: QUEUE}]\n")
		p, ts := e.waitPlan(id)
		if ts["a"].Status != plan.Succeeded || p.Status != plan.Succeeded {
			t.Errorf("plan %s, task a %s after the junk; want both succeeded", p.Status, ts["a"].Status)
		}
		var rej []task.Event
		e.eventually("two rejections", 30*time.Second, func() (bool, string) {
			rej = m.Rejected()
			return len(rej) == 2, "rejections so far: " + describeRejected(rej)
		})
		if !strings.Contains(rej[0].Error, "malformed message") || !strings.Contains(rej[0].Error, "invalid character") || rej[0].Subject != queue.TaskSubject(e.queue) || rej[0].Seq == 0 {
			t.Errorf("first rejection %+v; want where (subject, seq) and what (invalid JSON)", rej[0])
		}
		if !strings.Contains(rej[1].Error, `unknown field "code"`) {
			t.Errorf("second rejection %q; want it to name the unknown field", rej[1].Error)
		}
		// The junk is gone from the queue: nothing is redelivered forever.
		info, err := e.js.Stream(ctx, queue.TasksStream)
		if err != nil {
			t.Fatal(err)
		}
		si, err := info.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if si.State.Msgs != 0 {
			t.Errorf("%d messages left on the task stream, want 0", si.State.Msgs)
		}
	})
}

func describeRejected(rs []task.Event) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Error)
	}
	return strings.Join(s, "; ")
}

// SIGTERM: a task that finishes within the grace period is completed and acked; one
// that does not is handed back and completed by another agent; the agent exits 0.
func TestAgentSIGTERM(t *testing.T) {
	e := newEnv(t, false)
	e.runMaster()
	a := e.agent("leaving", "TL_GRACE=20s")
	e.waitAgents(1)
	id := e.submit(`
name: term
tasks:
  - {id: quick, kind: work, queue: QUEUE, params: {ms: 1000}}
`)
	e.waitRunning(id, "quick")
	if err := a.Term(60 * time.Second); err != nil {
		t.Fatalf("agent: %v\n%s", err, a.Out.String())
	}
	_, ts := e.waitPlan(id)
	if q := ts["quick"]; q.Status != plan.Succeeded || q.Attempt != 1 || q.Agent != "leaving" {
		t.Errorf("quick = %s attempt %d by %s; want finished by the leaving agent in its grace period", q.Status, q.Attempt, q.Agent)
	}

	b := e.agent("leaving2", "TL_GRACE=500ms")
	e.waitAgents(1)
	id = e.submit(`
name: term2
tasks:
  - {id: slow, kind: work, queue: QUEUE, params: {ms: 100, first_ms: 600000}}
`)
	e.waitRunning(id, "slow")
	if err := b.Term(60 * time.Second); err != nil {
		t.Fatalf("agent: %v", err)
	}
	if !strings.Contains(b.Out.String(), "handing the task back") {
		t.Errorf("agent log does not say it handed the task back:\n%s", b.Out.String())
	}
	e.agent("heir")
	_, ts = e.waitPlan(id)
	if s := ts["slow"]; s.Status != plan.Succeeded || s.Agent != "heir" || s.Attempt != 2 {
		t.Errorf("slow = %s attempt %d by %s; want finished by heir on attempt 2", s.Status, s.Attempt, s.Agent)
	}
}
