package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/stream"
)

// A controller killed after its trigger went through and before its
// position was saved: its successor fires the same ranges with the same ID,
// not wider ones that take in the samples inserted meanwhile.
func TestPendingEventSurvivesACrash(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		var fired []stream.Event
		crash := true
		trig := stream.TriggerFunc(func(_ context.Context, ev stream.Event) error {
			fired = append(fired, ev)
			if crash {
				return errors.New("killed after submitting") // the position is not saved
			}
			return nil
		})
		cfg := stream.Config{Trigger: trig, MinCount: 3}
		ctl := e.controller(t, cfg)
		e.add(t, e.samples, 4, "train")
		if _, err := ctl.Step(e.ctx); err == nil {
			t.Fatal("the crashed trigger returned no error")
		}
		e.add(t, e.samples, 5, "train") // while the controller is down
		crash = false
		ctl2 := e.controller(t, cfg)
		ev := step(t, e.ctx, ctl2)
		if ev == nil || ev.ID != fired[0].ID || ev.Total != 4 || ev.Changes[0].UpTo != 4 || ev.Reason != "count" {
			t.Fatalf("after the restart: %+v; want event %s again, samples (0, 4]", ev, fired[0].ID)
		}
		ev = step(t, e.ctx, ctl2)
		if ev == nil || ev.Total != 5 || ev.Changes[0].After != 4 || ev.Changes[0].UpTo != 9 {
			t.Fatalf("next: %+v; want the 5 later samples, (4, 9]", ev)
		}
		// Reset drops a stored pending event.
		crash = true
		e.add(t, e.samples, 3, "train")
		if _, err := ctl2.Step(e.ctx); err == nil {
			t.Fatal("want a failure")
		}
		if err := ctl2.Reset(e.ctx, map[string]int64{"samples": 12}); err != nil {
			t.Fatal(err)
		}
		crash = false
		if ev := step(t, e.ctx, e.controller(t, cfg)); ev != nil {
			t.Fatalf("after Reset past everything: %+v; want nothing", ev)
		}
	})
}

// bench is an embedded NATS server and a real master whose one controller
// runs the rules, as tl master does; the master (with its controller) can
// be stopped and started again.
type bench struct {
	t     *testing.T
	e     *env
	nats  *queue.Server
	st    status.Store
	rules *stream.Rules
	// crashAfter, when set, makes a submit that has gone through fail once
	// for the given plan number (1-based), as if the master died before the
	// controller saved its position; it then stops the master.
	mu         sync.Mutex
	submits    int
	crashAfter int
	crashed    chan struct{}
	stop       func()
}

func newBench(t *testing.T, b storetest.Backend) *bench {
	e := setup(t, b)
	srv, err := queue.StartServer(e.ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	st, err := status.NewMongo(e.ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := stream.OpenRules(e.ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	return &bench{t: t, e: e, nats: srv, st: st, rules: rules, crashed: make(chan struct{}, 1)}
}

func testLogger() *slog.Logger {
	if os.Getenv("TL_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs the master and its rules controller until stop.
func (b *bench) start() {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctrl := master.Controller{Name: "stream", Run: func(ctx context.Context) error {
		nc, js, err := queue.Connect(ctx, b.nats.URL(), "stream rules", testLogger())
		if err != nil {
			return err
		}
		defer nc.Close()
		return b.rules.Run(ctx, stream.RunConfig{Poll: 50 * time.Millisecond, Rescan: 100 * time.Millisecond, Logger: testLogger(),
			Submit: func(ctx context.Context, id string, spec *plan.Spec) error {
				if _, err := master.SubmitAs(ctx, js, id, spec); err != nil {
					return err
				}
				b.mu.Lock()
				defer b.mu.Unlock()
				b.submits++
				if b.submits == b.crashAfter {
					b.crashAfter = 0
					b.crashed <- struct{}{}
					return errors.New("master killed after the submit")
				}
				return nil
			}})
	}}
	m, err := master.New(ctx, master.Config{NATSURL: b.nats.URL(), Store: b.st, Tick: 100 * time.Millisecond, LeaseTTL: time.Second,
		Log: testLogger(), Controllers: []master.Controller{ctrl}})
	if err != nil {
		b.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	var once sync.Once
	b.stop = func() { once.Do(func() { cancel(); <-done }) }
	b.t.Cleanup(b.stop)
}

// plans returns the plans of rule (named after it), oldest first.
func (b *bench) plans(rule string) []*status.Plan {
	b.t.Helper()
	ps, err := b.st.Plans(context.Background(), false)
	if err != nil {
		b.t.Fatal(err)
	}
	ps = slices.DeleteFunc(ps, func(p *status.Plan) bool { return p.Name != rule })
	slices.SortFunc(ps, func(a, b *status.Plan) int { return a.Submitted.Compare(b.Submitted) })
	return ps
}

// waitPlans waits until rule has n plans, then a while longer, and checks
// that no more came.
func (b *bench) waitPlans(rule string, n int) []*status.Plan {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(b.plans(rule)) < n {
		if time.Now().After(deadline) {
			b.t.Fatalf("rule %s: %d plans after 30s, want %d", rule, len(b.plans(rule)), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // many polls and rescans
	ps := b.plans(rule)
	if len(ps) != n {
		b.t.Fatalf("rule %s: %d plans, want %d", rule, len(ps), n)
	}
	return ps
}

func input(t *testing.T, p *status.Plan) string {
	t.Helper()
	var spec plan.Spec
	if err := json.Unmarshal([]byte(p.SpecJSON), &spec); err != nil || len(spec.Tasks) != 1 {
		t.Fatalf("plan %s: %s: %v", p.ID, p.SpecJSON, err)
	}
	return spec.Tasks[0].Input
}

const noopTemplate = `{"name": "retrain", "tasks": [{"id": "ft", "kind": "noop", "input": "${new}", "model": "m", "params": {"rule": "${rule}", "event": "${event}"}}]}`

// Three bursts, the master and its controller stopped and started between
// them, and once killed between a submit and the position's save: exactly
// the expected plans, each on its own new samples, none doubled.
func TestRulesThreeBurstsAcrossRestarts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, sb storetest.Backend) {
		b := newBench(t, sb)
		e := b.e
		e.add(t, e.samples, 5, "train") // before the rule: not new
		r, err := b.rules.Define(e.ctx, stream.Rule{Name: "retrain", Views: []string{"train"}, MinCount: 10, Plan: noopTemplate}, false)
		if err != nil {
			t.Fatal(err)
		}
		b.start()
		e.add(t, e.samples, 10, "train") // burst 1: one plan, (5, 15]
		ps := b.waitPlans("retrain", 1)
		if in := input(t, ps[0]); in != "train@6-15" {
			t.Fatalf("plan 1 input %q; want train@6-15", in)
		}

		b.stop()
		b.start()
		e.add(t, e.samples, 7, "train") // burst 2: not enough
		e.add(t, e.samples, 4, "other")
		b.waitPlans("retrain", 1)

		// Burst 3: enough; the master dies right after the submit, before
		// the position is saved, and more samples arrive meanwhile.
		b.stop()
		b.crashAfter = 2
		b.start()
		e.add(t, e.samples, 3, "train")
		select {
		case <-b.crashed:
		case <-time.After(30 * time.Second):
			t.Fatal("the second plan was never submitted")
		}
		b.stop()
		e.add(t, e.samples, 2, "train")
		b.start()
		ps = b.waitPlans("retrain", 2)
		if in := input(t, ps[1]); in != "train@16-29" {
			t.Fatalf("plan 2 input %q; want train@16-29 (10 samples, the 2 later ones not in it)", in)
		}
		b.mu.Lock()
		submits := b.submits
		b.mu.Unlock()
		if submits < 3 {
			t.Fatalf("%d submits; want the crashed one repeated", submits)
		}
		d, err := e.samples.Dataset(e.ctx, "train@16-29")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := d.Count(e.ctx); err != nil || n != 10 {
			t.Fatalf("train@16-29 has %d samples (%v); want 10", n, err)
		}
		got, err := b.rules.Get(e.ctx, "retrain")
		if err != nil || got.LastPlan != ps[1].ID || got.UID != r.UID || !strings.HasPrefix(ps[1].ID, "retrain-") || len(ps[1].ID) != len("retrain-")+16 {
			t.Fatalf("rule after plan 2: %+v, %v; plan %s", got, err, ps[1].ID)
		}
		st, err := b.rules.State(e.ctx, got)
		if err != nil || st.Pending != 2 || st.Positions["train"] != 29 || st.Event != "" {
			t.Fatalf("state %+v, %v; want 2 pending after 29", st, err)
		}

		// Pause: nothing is submitted; resume: one plan for what waited.
		if err := b.rules.SetPaused(e.ctx, "retrain", true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // a few rescans: the controller stops
		e.add(t, e.samples, 15, "train")
		b.waitPlans("retrain", 2)
		if err := b.rules.SetPaused(e.ctx, "retrain", false); err != nil {
			t.Fatal(err)
		}
		ps = b.waitPlans("retrain", 3)
		if in := input(t, ps[2]); in != "train@30-46" {
			t.Fatalf("plan 3 input %q; want train@30-46 (2 + 15)", in)
		}
		for _, p := range ps {
			if p.Status == plan.Failed && strings.Contains(p.Note, "reject") {
				t.Fatalf("plan %s rejected: %s", p.ID, p.Note)
			}
		}
	})
}

// A rule of time alone (min_count 0, max_wait) submits once the oldest new
// sample has waited; a rule deleted and defined again under its name starts
// afresh with new plan ids; from_start counts the samples already there.
func TestRulesMaxWaitDeleteRedefine(t *testing.T) {
	b := newBench(t, storetest.Backends()[0])
	e := b.e
	e.add(t, e.samples, 2, "train")
	r1, err := b.rules.Define(e.ctx, stream.Rule{Name: "tick", Views: []string{"train"}, MaxWait: 300 * time.Millisecond, Plan: noopTemplate}, true)
	if err != nil {
		t.Fatal(err)
	}
	b.start()
	ps := b.waitPlans("retrain", 1)
	if in := input(t, ps[0]); in != "train@1-2" {
		t.Fatalf("from_start: input %q; want train@1-2", in)
	}
	if err := b.rules.Delete(e.ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rules.Get(e.ctx, "tick"); !errors.Is(err, stream.ErrRuleNotFound) {
		t.Fatalf("deleted rule: %v", err)
	}
	r2, err := b.rules.Define(e.ctx, stream.Rule{Name: "tick", Views: []string{"train"}, MaxWait: 300 * time.Millisecond, Plan: noopTemplate}, true)
	if err != nil {
		t.Fatal(err)
	}
	ps = b.waitPlans("retrain", 2) // the same samples, a new rule: a new plan id
	if ps[0].ID == ps[1].ID || r1.UID == r2.UID || input(t, ps[1]) != "train@1-2" {
		t.Fatalf("redefined rule: plans %s and %s, inputs %s", ps[0].ID, ps[1].ID, input(t, ps[1]))
	}
}

// Bad rules are refused with errors that say what is wrong, and nothing is
// written.
func TestDefineRefusesBadRules(t *testing.T) {
	e := setup(t, storetest.Backends()[0])
	rules, err := stream.OpenRules(e.ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.samples.Define(e.ctx, "other", dataset.Query{Tags: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	count := func(coll string) int64 {
		n, err := e.db.Database().Collection(coll).CountDocuments(e.ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	good := stream.Rule{Name: "r", Views: []string{"train"}, MinCount: 5, Plan: noopTemplate}
	for _, c := range []struct {
		what string
		edit func(r *stream.Rule)
		want string
		is   error
	}{
		{"unknown view", func(r *stream.Rule) { r.Views = []string{"nope"} }, `view "nope" is not a dataset of project`, dataset.ErrNotFound},
		{"no threshold", func(r *stream.Rule) { r.MinCount = 0 }, "min_count 0 and no max_wait", stream.ErrInvalidRule},
		{"negative", func(r *stream.Rule) { r.MaxWait = -time.Second }, "expected neither negative", stream.ErrInvalidRule},
		{"bad name", func(r *stream.Rule) { r.Name = "a b" }, "expected a name of 1 to 40", stream.ErrInvalidRule},
		{"long name", func(r *stream.Rule) { r.Name = strings.Repeat("a", 41) }, "expected a name of 1 to 40", stream.ErrInvalidRule},
		{"no view", func(r *stream.Rule) { r.Views = nil }, "no view", stream.ErrInvalidRule},
		{"twice", func(r *stream.Rule) { r.Views = []string{"train", "train"} }, "named twice", stream.ErrInvalidRule},
		{"dot", func(r *stream.Rule) { r.Views = []string{"a.b"} }, "without '.'", stream.ErrInvalidRule},
		{"new of two", func(r *stream.Rule) { r.Views = []string{"train", "other"} }, "${new} names the new samples of one view", stream.ErrInvalidRule},
		{"no plan", func(r *stream.Rule) { r.Plan = " " }, "no plan template", stream.ErrInvalidRule},
		{"not a plan", func(r *stream.Rule) { r.Plan = `{"name": "x", "tasks": []}` }, "at least one task", stream.ErrInvalidRule},
		{"unknown field", func(r *stream.Rule) {
			r.Plan = `{"name": "x", "tasks": [{"id": "a", "kind": "noop", "inptu": "${new}"}]}`
		}, "inptu", stream.ErrInvalidRule},
	} {
		r := good
		c.edit(&r)
		_, err := rules.Define(e.ctx, r, false)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
			t.Errorf("%s: %v; want an error saying %q", c.what, err, c.want)
		}
	}
	if n, m := count("stream_rules"), count("stream_positions"); n != 0 || m != 0 {
		t.Fatalf("refused rules wrote %d rules and %d positions", n, m)
	}
	if _, err := rules.Define(e.ctx, good, false); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Define(e.ctx, good, false); !errors.Is(err, stream.ErrRuleExists) {
		t.Fatalf("a second rule of the name: %v; want ErrRuleExists", err)
	}
	if n, m := count("stream_rules"), count("stream_positions"); n != 1 || m != 1 {
		t.Fatalf("%d rules and %d positions; want 1 of each", n, m)
	}
	// A plan file in YAML, placeholders in flow style, renders too.
	yamlRule := stream.Rule{Name: "y", Views: []string{"train"}, MaxWait: time.Hour,
		Plan: "name: y\ntasks:\n  - {id: a, kind: noop, input: ${new}, params: {of: ${view}}}\n"}
	if _, err := rules.Define(e.ctx, yamlRule, false); err != nil {
		t.Fatalf("a YAML plan template: %v", err)
	}
	if err := rules.SetPaused(e.ctx, "nope", true); !errors.Is(err, stream.ErrRuleNotFound) {
		t.Fatalf("pause of an unknown rule: %v", err)
	}
	if err := rules.Delete(e.ctx, "nope"); !errors.Is(err, stream.ErrRuleNotFound) {
		t.Fatalf("delete of an unknown rule: %v", err)
	}
}
