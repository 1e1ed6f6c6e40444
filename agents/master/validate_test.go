package master_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

type fitParams struct {
	Epochs int     `json:"epochs"`
	LR     float64 `json:"lr"`
}

// announce puts an agent's announcement in the bucket, as agent.Run does.
func (w *world) announce(t *testing.T, id string, queues []string, reg *task.Registry) {
	t.Helper()
	kv, err := queue.AgentsKV(w.ctx, w.js)
	if err != nil {
		t.Fatal(err)
	}
	info := &queue.AgentInfo{ID: id, Queues: queues, Kinds: reg.Kinds(), Specs: reg.Specs(), Slots: 1, Seen: time.Now()}
	if err := queue.Announce(w.ctx, kv, info); err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, doc string) *plan.Spec {
	t.Helper()
	spec, err := plan.Parse([]byte(doc), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// With no agent announced, a plan with any kind is accepted, with a warning
// that its kinds are checked when its tasks run.
func TestSubmitWithoutAgentsWarns(t *testing.T) {
	w := start(t)
	id, v, err := master.SubmitChecked(w.ctx, w.js, parse(t, "name: any\ntasks: [{id: a, kind: whatever}]\n"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil || !v.Accepted || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "no agent has announced") {
		t.Fatalf("verdict %+v, want accepted with a warning that no agent announced", v)
	}
	w.wait(t, "the task queued", func() bool { return w.taskStatus(id, "a") == plan.Queued })
}

// Once agents announced their kinds, a plan naming another kind, or a field
// its kind's params type lacks, is rejected at submit: the submitter gets the
// reason with the valid kinds or fields, and the plan is recorded as failed
// with nothing queued.
func TestSubmitRejectsUnknownKindsAndFields(t *testing.T) {
	w := start(t)
	reg := task.NewRegistry()
	noop := func(_ ctxT, _ *task.Run) (rawT, error) { return nil, nil }
	if err := reg.RegisterWithParams("fit", noop, fitParams{}); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister("free", noop)
	w.announce(t, "a1", []string{"cpu"}, reg)

	cases := []struct {
		name, doc string
		want      []string
	}{
		{"kind", "name: k\ntasks: [{id: t1, kind: fti}]\n",
			[]string{`task "t1": kind "fti" is not run by any of the 1 agents announced`, "the kinds they run: fit, free"}},
		{"field", "name: f\ntasks: [{id: t1, kind: fit, params: {epochs: 2, epoch: 3}}]\n",
			[]string{`task "t1": params: unknown field "epoch" for kind fit, which takes epochs, lr`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, v, err := master.SubmitChecked(w.ctx, w.js, parse(t, c.doc), 30*time.Second)
			if !errors.Is(err, master.ErrRejected) {
				t.Fatalf("submit: %v, want an error wrapping ErrRejected", err)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if v == nil || v.Accepted || id == "" {
				t.Fatalf("verdict %+v for plan %q", v, id)
			}
			p, err := w.st.Plan(w.ctx, id)
			if err != nil || p.Status != plan.Failed || !strings.Contains(p.Note, c.want[0]) {
				t.Fatalf("record of the rejected plan: %+v, %v", p, err)
			}
			if n := w.queued(); n != 0 {
				t.Fatalf("%d tasks queued for a rejected plan", n)
			}
			// A retry of a rejected plan is dropped, not handled again and again.
			if err := master.Retry(w.ctx, w.js, id, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	w.wait(t, "the master stream to be empty", func() bool {
		s, err := w.js.Stream(w.ctx, queue.MasterStream)
		if err != nil {
			return false
		}
		info, err := s.Info(w.ctx)
		return err == nil && info.State.Msgs == 0
	})

	// A valid plan goes through; an untyped kind takes any params; a queue no
	// agent serves is a warning, not a rejection.
	id, v, err := master.SubmitChecked(w.ctx, w.js, parse(t, "name: ok\ntasks: [{id: a, kind: fit, params: {epochs: 2}}, {id: b, kind: free, queue: cuda, params: {x: 1}}]\n"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Accepted || len(v.Warnings) != 1 || !strings.Contains(v.Warnings[0], "queue cuda") {
		t.Fatalf("verdict %+v, want accepted with a warning about queue cuda", v)
	}
	w.wait(t, "both tasks queued", func() bool { return w.taskStatus(id, "a") == plan.Queued && w.taskStatus(id, "b") == plan.Queued })
}

type (
	ctxT = context.Context
	rawT = json.RawMessage
)
