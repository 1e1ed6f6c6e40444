package stream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/stream"
)

// clock is a manual clock starting now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recorder is a Trigger that records events and fails while fail > 0.
type recorder struct {
	mu     sync.Mutex
	events []stream.Event
	fail   int
}

func (r *recorder) Trigger(_ context.Context, ev stream.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.fail > 0 {
		r.fail--
		return errors.New("queue unavailable")
	}
	return nil
}

type env struct {
	ctx     context.Context
	db      *store.DB
	samples *dataset.Collection
	train   *dataset.Dataset
	n       int
}

func setup(t *testing.T, b storetest.Backend) *env {
	ctx := storetest.Context(t)
	db := b.Open(t)
	c, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	train, err := c.Define(ctx, "train", dataset.Query{Tags: []string{"train"}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{ctx: ctx, db: db, samples: c, train: train}
}

// add inserts n samples with the tag into c.
func (e *env) add(t *testing.T, c *dataset.Collection, n int, tag string) {
	t.Helper()
	ss := make([]dataset.Sample, n)
	for i := range ss {
		e.n++
		ss[i] = dataset.Sample{Key: fmt.Sprintf("s%05d", e.n), Bytes: []byte{byte(e.n)}, Tags: []string{tag}}
	}
	if _, err := c.Insert(e.ctx, ss...); err != nil {
		t.Fatal(err)
	}
}

func (e *env) controller(t *testing.T, cfg stream.Config) *stream.Controller {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "retrain"
	}
	if cfg.Sources == nil {
		cfg.Sources = []stream.Source{{Name: "samples", Dataset: e.train}}
	}
	ctl, err := stream.New(e.ctx, e.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ctl
}

func step(t *testing.T, ctx context.Context, ctl *stream.Controller) *stream.Event {
	t.Helper()
	ev, err := ctl.Step(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestCountThresholdAndRestart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		rec := &recorder{}
		ctl := e.controller(t, stream.Config{Trigger: rec, MinCount: 5})
		e.add(t, e.samples, 3, "train")
		if ev := step(t, e.ctx, ctl); ev != nil {
			t.Fatalf("3 new samples triggered %+v; threshold is 5", ev)
		}
		e.add(t, e.samples, 4, "other") // outside the view: they do not count
		e.add(t, e.samples, 2, "train")
		ev := step(t, e.ctx, ctl)
		if ev == nil || ev.Total != 5 || ev.Reason != "count" || len(ev.Changes) != 1 {
			t.Fatalf("event %+v; want 5 new samples by count", ev)
		}
		if ch := ev.Changes[0]; ch.After != 0 || ch.UpTo != 9 || ch.Dataset != "train" || ch.Oldest.IsZero() {
			t.Fatalf("change %+v; want (0, 9] of train", ch)
		}
		if p := ctl.Position()["samples"]; p != 9 {
			t.Fatalf("position %d, want 9", p)
		}
		if ev := step(t, e.ctx, ctl); ev != nil {
			t.Fatalf("nothing new, yet triggered %+v", ev)
		}

		// A restarted controller resumes at its stored position.
		ctl2 := e.controller(t, stream.Config{Trigger: rec, MinCount: 5})
		if p := ctl2.Position()["samples"]; p != 9 {
			t.Fatalf("restarted at %d, want 9", p)
		}
		e.add(t, e.samples, 5, "train")
		ev = step(t, e.ctx, ctl2)
		if ev == nil || ev.Changes[0].After != 9 || ev.Changes[0].UpTo != 14 || ev.Total != 5 {
			t.Fatalf("after restart: %+v; want (9, 14]", ev)
		}
		// New samples all outside the view move the position without a task.
		e.add(t, e.samples, 3, "other")
		if ev := step(t, e.ctx, ctl2); ev != nil {
			t.Fatalf("samples outside the view triggered %+v", ev)
		}
		if p := ctl2.Position()["samples"]; p != 17 {
			t.Fatalf("position %d after unrelated samples, want 17", p)
		}
		if len(rec.events) != 2 {
			t.Fatalf("%d triggers, want 2", len(rec.events))
		}
		// The old instance's view of the position is stale: it must not win.
		e.add(t, e.samples, 5, "train")
		if _, err := ctl.Step(e.ctx); !errors.Is(err, stream.ErrConflict) {
			t.Fatalf("stale controller: %v; want ErrConflict", err)
		}
	})
}

func TestTimeThreshold(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		clk := newClock()
		rec := &recorder{}
		ctl := e.controller(t, stream.Config{Trigger: rec, MinCount: 100, MaxWait: time.Minute, Now: clk.Now})
		e.add(t, e.samples, 2, "train")
		if ev := step(t, e.ctx, ctl); ev != nil {
			t.Fatalf("triggered at once: %+v", ev)
		}
		clk.Add(2 * time.Minute)
		ev := step(t, e.ctx, ctl)
		if ev == nil || ev.Reason != "time" || ev.Total != 2 {
			t.Fatalf("after MaxWait: %+v; want 2 samples by time", ev)
		}
	})
}

func TestFailedTriggerIsRetriedNotLost(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		clk := newClock()
		rec := &recorder{fail: 2}
		cfg := stream.Config{Trigger: rec, Poll: time.Second, Now: clk.Now}
		ctl := e.controller(t, cfg)
		e.add(t, e.samples, 3, "train")
		if _, err := ctl.Step(e.ctx); err == nil {
			t.Fatal("a failed trigger returned no error")
		}
		if ev, err := ctl.Step(e.ctx); ev != nil || err != nil || len(rec.events) != 1 {
			t.Fatalf("retried before the backoff: %v %v", ev, err)
		}
		e.add(t, e.samples, 2, "train") // arrives meanwhile: not in the retried event
		clk.Add(time.Second)
		if _, err := ctl.Step(e.ctx); err == nil {
			t.Fatal("second failure returned no error")
		}
		clk.Add(2 * time.Second)
		ev := step(t, e.ctx, ctl)
		if ev == nil || ev.Attempt != 3 || ev.Total != 3 {
			t.Fatalf("third attempt: %+v; want the same 3 samples, attempt 3", ev)
		}
		for _, r := range rec.events {
			if r.ID != ev.ID || r.Changes[0].UpTo != 3 {
				t.Fatalf("attempts differ: %+v vs %+v", r, ev)
			}
		}
		if p := ctl.Position()["samples"]; p != 3 {
			t.Fatalf("position %d, want 3", p)
		}
		ev = step(t, e.ctx, ctl)
		if ev == nil || ev.Total != 2 || ev.Attempt != 1 {
			t.Fatalf("next event %+v; want the 2 later samples", ev)
		}

		// A controller that dies with a failed trigger loses nothing: its
		// successor triggers the same range again, with the same ID.
		rec.fail = 1
		e.add(t, e.samples, 1, "train")
		if _, err := ctl.Step(e.ctx); err == nil {
			t.Fatal("want a failure")
		}
		failed := rec.events[len(rec.events)-1]
		ctl2 := e.controller(t, cfg)
		ev = step(t, e.ctx, ctl2)
		if ev == nil || ev.ID != failed.ID {
			t.Fatalf("after restart: %+v; want event %s again", ev, failed.ID)
		}
	})
}

func TestInsertInFlightHoldsPosition(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		clk := newClock()
		rec := &recorder{}
		ctl := e.controller(t, stream.Config{Trigger: rec, GapGrace: time.Minute, Now: clk.Now})
		e.add(t, e.samples, 2, "train") // seqs 1, 2
		// A writer reserves seq 3 and has not written it yet (or died).
		counters := e.db.Database().Collection("dataset_counters")
		if _, err := counters.UpdateOne(e.ctx, bson.D{{Key: "_id", Value: "samples/" + e.db.Project()}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}}}); err != nil {
			t.Fatal(err)
		}
		e.add(t, e.samples, 2, "train") // seqs 4, 5
		ev := step(t, e.ctx, ctl)
		if ev == nil || ev.Changes[0].UpTo != 2 || ev.Total != 2 {
			t.Fatalf("event %+v; want (0, 2]: seq 3 is still in flight", ev)
		}
		if ev := step(t, e.ctx, ctl); ev != nil {
			t.Fatalf("passed an in-flight seq within the grace period: %+v", ev)
		}
		clk.Add(2 * time.Minute)
		ev = step(t, e.ctx, ctl)
		if ev == nil || ev.Changes[0].After != 2 || ev.Changes[0].UpTo != 5 || ev.Total != 2 {
			t.Fatalf("after the grace period: %+v; want (2, 5]", ev)
		}
	})
}

func TestSamplesAndPredictions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		preds, err := dataset.Open(e.ctx, e.db, dataset.Options{Collection: "predictions"})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		ctl := e.controller(t, stream.Config{Trigger: rec, MinCount: 3, Sources: []stream.Source{
			{Name: "samples", Dataset: e.train},
			{Name: "predictions", Dataset: preds.All()},
		}})
		e.add(t, e.samples, 1, "train")
		e.add(t, preds, 2, "model-v1")
		ev := step(t, e.ctx, ctl)
		if ev == nil || ev.Total != 3 || len(ev.Changes) != 2 || ev.Changes[0].Source != "predictions" || ev.Changes[0].Count != 2 {
			t.Fatalf("event %+v; want 1 sample and 2 predictions", ev)
		}
		if p := ctl.Position(); p["samples"] != 1 || p["predictions"] != 2 {
			t.Fatalf("positions %v", p)
		}
	})
}

func TestRunLoop(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		got := make(chan stream.Event, 10)
		ctl := e.controller(t, stream.Config{Poll: 10 * time.Millisecond, MinCount: 2,
			Trigger: stream.TriggerFunc(func(_ context.Context, ev stream.Event) error { got <- ev; return nil })})
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- ctl.Run(ctx) }()
		e.add(t, e.samples, 2, "train")
		select {
		case ev := <-got:
			if ev.Total != 2 {
				t.Fatalf("event %+v", ev)
			}
		case <-e.ctx.Done():
			t.Fatal("no event from Run")
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	e := setup(t, storetest.Backends()[0])
	elsewhere, err := e.db.WithProject("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	other, err := dataset.Open(e.ctx, elsewhere, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]stream.Config{
		"no trigger":    {Name: "x", Sources: []stream.Source{{Name: "s", Dataset: e.train}}},
		"no sources":    {Name: "x", Trigger: &recorder{}, Sources: []stream.Source{}},
		"dotted source": {Name: "x", Trigger: &recorder{}, Sources: []stream.Source{{Name: "a.b", Dataset: e.train}}},
		"other project": {Name: "x", Trigger: &recorder{}, Sources: []stream.Source{{Name: "s", Dataset: other.All()}}},
	} {
		if _, err := stream.New(e.ctx, e.db, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
