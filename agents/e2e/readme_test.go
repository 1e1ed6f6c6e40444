package e2e

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/store/models"
)

// readmePlan is the workflow plan of the repository's README, as written there.
func readmePlan(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(name: fashion\n.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("README.md has no ```yaml block starting with 'name: fashion' (the workflow plan)")
	}
	return string(m[1])
}

// mlAgent runs, in this process, an agent with the kinds a tl-agent has (the
// built-ins, train and evaluate) on queue cpu, and waits for its announcement.
func (e *env) mlAgent() {
	e.t.Helper()
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		e.t.Fatal(err)
	}
	if err := mltasks.Register(reg); err != nil {
		e.t.Fatal(err)
	}
	testworld.RunAgent(e.t, agent.Config{NATSURL: e.natsURL, Queues: []string{plan.DefaultQueue}, Registry: reg, Services: e.db,
		Log: testworld.Log(), ID: "ml-agent", Grace: time.Second, RetryDelay: 200 * time.Millisecond})
	saved := e.queue
	e.queue = plan.DefaultQueue
	e.waitAgents(1)
	e.queue = saved
}

// The README's plan, as written there, runs against a master and an agent once
// fashion-train and fashion-test exist; the model it trains then has training
// curves that tl runs and tl curve read (events.Find, eventplot).
func TestREADMEPlan(t *testing.T) {
	e := newEnv(t, false)
	testworld.Bands(t, e.db, "fashion-train", "train", 200, 1)
	testworld.Bands(t, e.db, "fashion-test", "test", 100, 2)
	e.runMaster()
	e.mlAgent()

	spec, err := plan.Parse([]byte(readmePlan(t)), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	id, v, err := master.SubmitChecked(context.Background(), e.js, spec, time.Minute)
	if err != nil {
		t.Fatalf("the README's plan was refused: %v", err)
	}
	if v == nil || !v.Accepted || len(v.Warnings) > 0 {
		t.Fatalf("verdict %+v: want accepted without warnings (the agent announced train and evaluate on queue cpu)", v)
	}
	p, ts := e.waitPlan(id)
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s (%s); tasks: %s", id, p.Status, p.Note, e.describe(id))
	}
	out := output(t, ts["train"])
	model, run := out["model"], out["run"]
	if model != "fashion-cnn" || run == nil {
		t.Fatalf("train output %v: want model fashion-cnn and its run", out)
	}

	ctx := context.Background()
	evs, err := events.Find(ctx, e.db, events.Query{Model: "fashion-cnn"})
	if err != nil {
		t.Fatal(err)
	}
	points := map[string]int{}
	for _, ev := range evs {
		if ev.Run != run {
			t.Errorf("event of run %s, want only %s", ev.Run, run)
		}
		for k := range ev.Values {
			points[ev.Phase+"/"+k]++
		}
	}
	// 200 samples in batches of 64: 4 steps an epoch, 3 epochs.
	if points["train/loss"] < 3 || points["train/accuracy"] != 3 || points["test/accuracy"] != 1 {
		t.Fatalf("points per curve %v: want train loss at least every epoch, train accuracy for each of the 3 epochs, and the evaluation's test point", points)
	}
	var png bytes.Buffer
	if err := eventplot.PNG(ctx, e.db, events.Query{Model: "fashion-cnn"}, &png, eventplot.Options{Values: []string{"loss", "accuracy"}}); err != nil {
		t.Fatalf("tl curve fashion-cnn would fail: %v", err)
	}
	if !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Fatal("the curve is not a PNG")
	}
	ms, err := models.New(ctx, e.db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ms.Get(ctx, models.Ref{Name: "fashion-cnn"})
	if err != nil || m.Lineage.Run != run || m.Metrics["fashion-test_accuracy"] <= 0 {
		t.Fatalf("model fashion-cnn: %+v, %v: want lineage run %v and a fashion-test accuracy", m, err, run)
	}
}

// A plan whose input dataset does not exist fails at its first attempt, with
// an error that names the dataset; the task downstream is blocked, nothing is
// retried.
func TestMissingDatasetFailsAtOnce(t *testing.T) {
	e := newEnv(t, false)
	testworld.Bands(t, e.db, "digits", "d", 20, 1)
	e.runMaster()
	e.mlAgent()
	spec, err := plan.Parse([]byte(`
name: missing
tasks:
  - {id: train, kind: train, input: fashion-train, model: m, params: {epochs: 1}}
  - {id: eval, kind: evaluate, deps: [train], input: fashion-test, model: m}
`), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := master.SubmitChecked(context.Background(), e.js, spec, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, ts := e.waitPlan(id)
	tr := ts["train"]
	if p.Status != plan.Failed || tr.Status != plan.Failed || tr.Attempt != 1 || ts["eval"].Status != plan.Blocked {
		t.Fatalf("plan %s %s: train %s after %d attempts, eval %s; want failed after 1 attempt, eval blocked", id, p.Status, tr.Status, tr.Attempt, ts["eval"].Status)
	}
	for _, want := range []string{`dataset "fashion-train" not found`, "the datasets there: digits"} {
		if !strings.Contains(tr.Error, want) || !strings.Contains(p.Note, want) {
			t.Errorf("task error %q / plan note %q lacks %q", tr.Error, p.Note, want)
		}
	}
	for _, h := range tr.History {
		if strings.Contains(h.Note, "will retry") {
			t.Errorf("the task was retried: %+v", h)
		}
	}
}
