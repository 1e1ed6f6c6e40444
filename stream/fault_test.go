package stream_test

import (
	"context"
	"testing"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/stream"
)

func TestServerGoneThenResume(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := setup(t, b)
		p := storetest.NewProxy(t, e.db)
		remote, err := store.Open(e.ctx, store.Config{
			URL:      p.URL(),
			Database: e.db.Database().Name(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer remote.Close(context.Background())
		samples, err := dataset.Open(e.ctx, remote, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		train, err := samples.Dataset(e.ctx, "train")
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		cfg := stream.Config{Name: "retrain", Trigger: rec, Sources: []stream.Source{{Name: "samples", Dataset: train}}}
		ctl, err := stream.New(e.ctx, remote, cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.add(t, e.samples, 2, "train")
		if ev := step(t, e.ctx, ctl); ev == nil || ev.Total != 2 {
			t.Fatalf("event %+v", ev)
		}
		e.add(t, e.samples, 3, "train")
		p.Cut() // the server goes away
		if ev, err := ctl.Step(e.ctx); err == nil || ev != nil {
			t.Fatalf("step without a server: %+v, %v; want an error", ev, err)
		}
		if len(rec.events) != 1 {
			t.Fatalf("%d triggers; the failed poll triggered", len(rec.events))
		}
		// A controller on a working connection resumes at the stored position.
		ctl2 := e.controller(t, stream.Config{Name: cfg.Name, Trigger: rec}) // direct connection
		ev := step(t, e.ctx, ctl2)
		if ev == nil || ev.Changes[0].After != 2 || ev.Total != 3 {
			t.Fatalf("after the outage: %+v; want the 3 samples after seq 2", ev)
		}
	})
}
