package events_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/storetest"
)

// The writer keeps a summary and downsampled curves per run: listing runs
// and drawing curves read those, and a run resumed by a second writer (a test
// phase after training) adds to them.
func TestSummaries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		w, err := events.NewWriter(db, events.Options{Model: "cnn", Run: "long", BatchSize: 700, Buffer: 1 << 14})
		if err != nil {
			t.Fatal(err)
		}
		const n = 5000
		for i := int64(1); i <= n; i++ {
			loss := 1 / float64(i)
			if i == 2345 {
				loss = 50 // a spike the downsampled curve must keep
			}
			e := events.Event{Step: i, Values: map[string]float64{"loss": loss, "lr": 0.1}}
			if i == 1 {
				e.Fields = map[string]any{"task": "plan-1/train", "dataset": "mnist", "big": []int{1, 2}}
			}
			w.Log(e)
		}
		w.Log(events.Event{Step: 100, Fields: map[string]any{events.ImageField: []byte("\x89PNG-at-100")}})
		w.Log(events.Event{Phase: events.Validation, Step: n, Values: map[string]float64{"accuracy": 0.9}})
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := events.RunSummary(ctx, db, "long")
		if err != nil {
			t.Fatal(err)
		}
		if s.Events != n+2 || s.FirstStep != 1 || s.LastStep != n || s.Model != "cnn" || s.Status != events.StatusRunning ||
			s.Fields["task"] != "plan-1/train" || s.Fields["dataset"] != "mnist" || s.Fields["big"] != nil {
			t.Fatalf("summary while running: %+v", s)
		}
		if v, ok := s.LastValue("validation/accuracy"); !ok || v != 0.9 {
			t.Errorf("last validation/accuracy = %v %v, want 0.9", v, ok)
		}
		if v, _ := s.LastValue("loss"); v != 1.0/n {
			t.Errorf("last loss = %v, want %v", v, 1.0/n)
		}
		if !slices.Equal(s.Phases, []events.PhaseCount{{Phase: "train", Events: n + 1}, {Phase: "validation", Events: 1}}) {
			t.Errorf("phases = %+v", s.Phases)
		}
		img, err := events.Image(ctx, db, "long", 100)
		if err != nil || string(img) != "\x89PNG-at-100" {
			t.Errorf("Image(long, 100) = %q, %v", img, err)
		}
		if _, err := events.Image(ctx, db, "long", 101); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("Image at a step without one = %v, want ErrNotFound", err)
		}
		cs, err := events.RunCurves(ctx, db, "long")
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]events.Curve{}
		for _, c := range cs.Curves {
			byName[c.Name] = c
		}
		loss := byName["loss"]
		if len(loss.Steps) > events.CurvePoints+2 || len(loss.Steps) < events.CurvePoints/2 || loss.Points != n || !loss.Sampled() {
			t.Fatalf("loss curve: %d points of %d (sampled %v)", len(loss.Steps), loss.Points, loss.Sampled())
		}
		if loss.Steps[0] != 1 || loss.Values[0] != 1 || loss.Steps[len(loss.Steps)-1] != n || !slices.Contains(loss.Values, 50) {
			t.Errorf("loss curve lost its first point, last point or spike: %v ... %v", loss.Steps[:3], loss.Steps[len(loss.Steps)-3:])
		}
		if !slices.IsSorted(loss.Steps) {
			t.Error("loss curve out of step order")
		}
		if a := byName["validation/accuracy"]; len(a.Steps) != 1 || a.Sampled() {
			t.Errorf("validation/accuracy curve: %+v", a)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// A second writer on the run, as the evaluate task does.
		w2, err := events.NewWriter(db, events.Options{Model: "cnn", Run: "long"})
		if err != nil {
			t.Fatal(err)
		}
		w2.Log(events.Event{Phase: events.Test, Step: n, Values: map[string]float64{"accuracy": 0.95}, Fields: map[string]any{"model_version": int64(3)}})
		if err := w2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		s, err = events.RunSummary(ctx, db, "long")
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := s.LastValue("test/accuracy"); s.Events != n+3 || v != 0.95 || s.ModelVersion != 3 || s.Status != events.StatusClosed || len(s.Images) != 1 {
			t.Errorf("summary after a test phase: %+v", s)
		}
		cs, _ = events.RunCurves(ctx, db, "long")
		if len(cs.Curves) != 4 || cs.Curves[0].Name != "loss" || cs.Curves[0].Points != n || cs.Model != "cnn" || cs.LastStep != n {
			t.Errorf("curves after a test phase: %+v", cs)
		}
		// A short run: its curves are exact.
		w3, _ := events.NewWriter(db, events.Options{Model: "rnn", Run: "short"})
		for i := int64(1); i <= 900; i++ {
			w3.Step(i, map[string]float64{"loss": float64(i % 7)})
		}
		if err := w3.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cs, _ = events.RunCurves(ctx, db, "short")
		if c := cs.Curves; len(c) != 1 || len(c[0].Steps) != 900 || c[0].Sampled() || c[0].Values[899] != 900%7 {
			t.Errorf("short run: %+v", c)
		}
		sums, err := events.Summaries(ctx, db, "")
		if err != nil || len(sums) != 2 || sums[0].Run != "long" || sums[1].Run != "short" {
			t.Fatalf("Summaries = %+v, %v", sums, err)
		}
		if ms, err := events.Models(ctx, db); err != nil || !slices.Equal(ms, []string{"cnn", "rnn"}) {
			t.Errorf("Models = %v, %v", ms, err)
		}
		// Deleting part of a run rebuilds its summary; all of it removes it.
		if n, err := events.Delete(ctx, db, events.Query{Run: "short", FromStep: 451}); err != nil || n != 450 {
			t.Fatalf("Delete(short, from 451) = %d, %v", n, err)
		}
		if s, err := events.RunSummary(ctx, db, "short"); err != nil || s.Events != 450 || s.LastStep != 450 {
			t.Errorf("summary after deleting half: %+v, %v", s, err)
		}
		if _, err := events.Delete(ctx, db, events.Query{Model: "rnn"}); err != nil {
			t.Fatal(err)
		}
		if _, err := events.RunSummary(ctx, db, "short"); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("summary of a deleted run: %v, want ErrNotFound", err)
		}
		if _, err := events.RunCurves(ctx, db, "short"); !errors.Is(err, events.ErrNotFound) {
			t.Errorf("curves of a deleted run: %v, want ErrNotFound", err)
		}
		// Another project sees none of it.
		other, _ := db.WithProject("other")
		if sums, err := events.Summaries(ctx, other, ""); err != nil || len(sums) != 0 {
			t.Errorf("other project: %d summaries, %v", len(sums), err)
		}
	})
}

// Events written before summaries existed (an ObjectID _id, no summary) are
// summarised by the first reader, once; Find reads them as before.
func TestBackfill(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var docs []any
		for i := int64(1); i <= 30; i++ {
			d := bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "project", Value: db.Project()}, {Key: "model", Value: "old"},
				{Key: "run", Value: "r-old"}, {Key: "phase", Value: "train"}, {Key: "step", Value: i},
				{Key: "time", Value: t0.Add(time.Duration(i) * time.Second)}, {Key: "values", Value: bson.D{{Key: "loss", Value: 10 / float64(i)}}}}
			if i == 20 {
				d = append(d, bson.E{Key: "fields", Value: bson.D{{Key: events.ImageField, Value: []byte("img20")}}})
			}
			docs = append(docs, d)
		}
		if _, err := db.Collection(events.Collection).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
		sums, err := events.Summaries(ctx, db, "old")
		if err != nil || len(sums) != 1 {
			t.Fatalf("Summaries after old events = %+v, %v", sums, err)
		}
		s := sums[0]
		if v, _ := s.LastValue("loss"); s.Run != "r-old" || s.Events != 30 || s.LastStep != 30 || !s.Start.Equal(t0.Add(time.Second)) || math.Abs(v-10.0/30) > 1e-12 {
			t.Errorf("backfilled summary: %+v", s)
		}
		if img, err := events.Image(ctx, db, "r-old", 20); err != nil || !bytes.Equal(img, []byte("img20")) {
			t.Errorf("image of an old run: %q, %v", img, err)
		}
		cs, err := events.RunCurves(ctx, db, "r-old")
		if err != nil || len(cs.Curves) != 1 || len(cs.Curves[0].Steps) != 30 || cs.LastStep != 30 {
			t.Errorf("curves of an old run: %+v, %v", cs, err)
		}
		if evs, err := events.Find(ctx, db, events.Query{Run: "r-old", FromStep: 5, ToStep: 6}); err != nil || len(evs) != 2 {
			t.Errorf("Find of old events: %d, %v", len(evs), err)
		}
		// Backfill again summarises the run with old events again, to the
		// same summary.
		if n, err := events.Backfill(ctx, db); err != nil || n != 1 {
			t.Errorf("Backfill again = %d, %v; want the one old run again", n, err)
		}
		if again, err := events.RunSummary(ctx, db, "r-old"); err != nil || again.Events != 30 || len(again.Images) != 1 {
			t.Errorf("summary after a second Backfill: %+v, %v", again, err)
		}
	})
}
