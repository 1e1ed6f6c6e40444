package mltasks

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// A train task records its curves under the model, linked both ways to the
// version it saved; the evaluate task adds its result to the same run.
func TestTrainRecordsItsCurves(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := storetest.Context(t)
	testworld.Bands(t, db, "train", "train", 320, 1)
	testworld.Bands(t, db, "val", "val", 100, 2)
	run := &task.Run{Task: &task.Task{Plan: "p", ID: "t1", Kind: "train", Input: "train", Model: "bands",
		Params: json.RawMessage(`{"arch":"mlp","epochs":2,"batch":32,"lr":0.003,"validation":"val","log_every":4}`)}, Attempt: 1, Agent: "a1", Services: db}
	out, err := testKinds(t).train(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Version int64
		Run     string
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Run == "" {
		t.Fatalf("train output %s (%v): want a run", out, err)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ms.Get(ctx, models.Ref{Name: "bands", Version: res.Version})
	if err != nil {
		t.Fatal(err)
	}
	if m.Lineage.Run != res.Run || m.Metrics["val_accuracy"] <= 0 {
		t.Fatalf("version %d: lineage run %q (want %q), metrics %v (want val_accuracy)", m.Version, m.Lineage.Run, res.Run, m.Metrics)
	}
	if _, err := Evaluate(ctx, &task.Run{Task: &task.Task{Plan: "p", ID: "e1", Kind: "evaluate", Input: "val", Model: "bands"}, Attempt: 1, Services: db}); err != nil {
		t.Fatal(err)
	}

	runs, err := events.Runs(ctx, db, "bands")
	if err != nil || len(runs) != 1 || runs[0] != res.Run {
		t.Fatalf("runs of bands: %v, %v; want [%s]", runs, err, res.Run)
	}
	evs, err := events.Find(ctx, db, events.Query{Model: "bands", Run: res.Run})
	if err != nil {
		t.Fatal(err)
	}
	var trainPts, valPts, testPts int
	var version any
	for _, e := range evs {
		switch {
		case e.Fields["model_version"] != nil && e.Phase == events.Train:
			version = e.Fields["model_version"]
		case e.Phase == events.Train && e.Values["loss"] > 0:
			trainPts++
		case e.Phase == events.Validation:
			valPts++
		case e.Phase == events.Test:
			testPts++
			if e.Step != 20 || e.Values["accuracy"] <= 0 {
				t.Errorf("test event %+v: want step 20 (the run's last) and an accuracy", e)
			}
		}
	}
	// 10 steps an epoch, an event every 4 and at the epoch's end: 3 a epoch.
	if trainPts != 6 || valPts != 2 || testPts != 1 || version != int64(res.Version) {
		t.Fatalf("%d train points, %d validation, %d test, version field %v (%T); want 6, 2, 1, %d", trainPts, valPts, testPts, version, version, res.Version)
	}
	var png bytes.Buffer
	if err := eventplot.Render(evs, &png, eventplot.Options{}); err != nil {
		t.Fatalf("the curves do not draw: %v", err)
	}
}

// What retrying cannot cure fails at once (task.Permanent), and says what is
// missing and what exists.
func TestPermanentErrors(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := storetest.Context(t)
	testworld.Bands(t, db, "have", "have", 20, 1)
	cases := []struct {
		kind, input, model, params string
		want                       []string
	}{
		{"train", "fashion-train", "m", ``, []string{`dataset "fashion-train" not found`, "the datasets there: have"}},
		{"train", "have", "m", `{"epochs":0}`, []string{"params.epochs: 0"}},
		{"train", "have", "m", `{"epoch":2}`, []string{`unknown field "epoch"`, "kind train takes"}},
		{"train", "have", "m", `{"arch":"resnet"}`, []string{`unknown arch "resnet"`}},
		{"train", "", "m", ``, []string{"needs an input dataset"}},
		{"evaluate", "have", "missing", ``, []string{"not found", "tl models"}},
		{"evaluate", "nope", "missing", `{"limit":-1}`, []string{"limit -1"}},
	}
	for _, c := range cases {
		f := Train
		if c.kind == "evaluate" {
			f = Evaluate
		}
		_, err := f(ctx, &task.Run{Task: &task.Task{Plan: "p", ID: "x", Kind: c.kind, Input: c.input, Model: c.model, Params: json.RawMessage(c.params)}, Attempt: 1, Services: db})
		if !task.IsPermanent(err) {
			t.Errorf("%s %s/%s %s: %v, want a permanent error", c.kind, c.input, c.model, c.params, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %s %s: error %q lacks %q", c.kind, c.input, c.params, err, w)
			}
		}
	}
}

// The kinds announce their parameter fields, for the master's check at submit.
func TestKindsAnnounceTheirParams(t *testing.T) {
	reg := task.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	for _, s := range reg.Specs() {
		if !s.Typed {
			t.Errorf("kind %s is not typed", s.Kind)
		}
		if s.Kind != "train" {
			continue
		}
		for _, f := range []string{"arch", "architecture", "batch", "epochs", "limit", "log_every", "lr", "seed", "validation",
			"optimizer", "schedule", "steps", "early_stopping", "weight_decay", "device", "init", "alias", "classes"} {
			if !slices.Contains(s.Params, f) {
				t.Errorf("train's fields %v lack %s", s.Params, f)
			}
		}
	}
}
