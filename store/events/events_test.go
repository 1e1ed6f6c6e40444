package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/storetest"
)

func TestWriteAndQuery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		if err := events.EnsureIndexes(ctx, db); err != nil {
			t.Fatal(err)
		}
		w, err := events.NewWriter(db, events.Options{Model: "cnn", BatchSize: 64, Interval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for step := int64(1); step <= 1000; step++ {
			if !w.Log(events.Event{Step: step, Values: map[string]float64{"loss": 1 / float64(step), "speed": 900},
				Fields: map[string]any{"host": "gpu-1"}}) {
				t.Fatalf("step %d dropped with an idle writer", step)
			}
			if step%100 == 0 {
				w.Log(events.Event{Phase: events.Validation, Step: step, Values: map[string]float64{"accuracy": float64(step) / 1000}})
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if written, dropped := w.Stats(); written != 1010 || dropped != 0 {
			t.Fatalf("Stats = %d written, %d dropped; want 1010, 0", written, dropped)
		}
		// A second run of another model.
		w2, err := events.NewWriter(db, events.Options{Model: "rnn", Run: "r2"})
		if err != nil {
			t.Fatal(err)
		}
		w2.Step(1, map[string]float64{"loss": 3})
		w2.Log(events.Event{Phase: "test", Step: 1, Values: map[string]float64{"accuracy": 0.5}})
		if err := w2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if w2.Log(events.Event{Step: 2}) {
			t.Fatal("Log after Close accepted an event")
		}

		all, err := events.Find(ctx, db, events.Query{Run: w.Run()})
		if err != nil || len(all) != 1010 {
			t.Fatalf("Find(run) = %d events, %v; want 1010", len(all), err)
		}
		if e := all[0]; e.Step != 1 || e.Model != "cnn" || e.Project != db.Project() || e.Values["speed"] != 900 || e.Fields["host"] != "gpu-1" || e.Time.IsZero() {
			t.Fatalf("first event read back as %+v", e)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Step < all[i-1].Step {
				t.Fatalf("events out of step order at %d", i)
			}
		}
		val, err := events.Find(ctx, db, events.Query{Model: "cnn", Phase: events.Validation, FromStep: 300, ToStep: 500})
		if err != nil || len(val) != 3 || val[0].Step != 300 || val[2].Values["accuracy"] != 0.5 {
			t.Fatalf("validation steps 300-500 = %v, %v; want steps 300, 400, 500", val, err)
		}
		if n, err := events.Find(ctx, db, events.Query{Model: "rnn"}); err != nil || len(n) != 2 {
			t.Fatalf("Find(model rnn) = %d, %v; want 2", len(n), err)
		}
		runs, err := events.Runs(ctx, db, "")
		if err != nil || len(runs) != 2 || runs[1] != "r2" {
			t.Fatalf("Runs = %v, %v", runs, err)
		}
		if ms, err := events.Models(ctx, db); err != nil || strings.Join(ms, ",") != "cnn,rnn" {
			t.Fatalf("Models = %v, %v; want cnn, rnn", ms, err)
		}
		if _, err := events.Find(ctx, db, events.Query{FromStep: 10, ToStep: 5}); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Fatalf("Find with an inverted range = %v, want an error", err)
		}
		// Another project sees none of it.
		other, _ := db.WithProject("other")
		if evs, err := events.Find(ctx, other, events.Query{}); err != nil || len(evs) != 0 {
			t.Fatalf("other project Find = %d, %v; want 0", len(evs), err)
		}
		if n, err := events.Delete(ctx, db, events.Query{Run: "r2"}); err != nil || n != 2 {
			t.Fatalf("Delete(r2) = %d, %v; want 2", n, err)
		}
		if _, err := events.Delete(ctx, db, events.Query{}); err == nil {
			t.Fatal("Delete with no run or model: want a refusal")
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// A server that goes away neither blocks Log nor loses what was accepted
// once it is back; overflow is dropped and counted.
func TestWriterSurvivesServerRestart(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		srvCfg := b.ServerConfig(t)
		srv, err := store.Open(ctx, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "mongodb://"), "/")
		dbName := storetest.TempName("ev_")
		client, err := store.Open(ctx, store.Config{URL: srv.URL(), Database: dbName})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close(context.Background())
		w, err := events.NewWriter(client, events.Options{Buffer: 100, BatchSize: 10, Interval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		w.Step(0, map[string]float64{"loss": 1})
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for i := 1; i <= 1000; i++ { // returns though nothing can be written
			if w.Step(int64(i), map[string]float64{"loss": 1}) {
				accepted++
			}
		}
		if accepted == 1000 || accepted == 0 {
			t.Fatalf("accepted %d of 1000 events with a 100-event buffer and no server", accepted)
		}
		if _, dropped := w.Stats(); dropped != int64(1000-accepted) {
			t.Fatalf("dropped = %d, want %d", dropped, 1000-accepted)
		}
		srvCfg.ListenAddr = addr
		srv2, err := store.Open(ctx, srvCfg)
		if err != nil {
			t.Skipf("cannot restart the server on %s (port taken meanwhile?): %v", addr, err)
		}
		defer srv2.Close(context.Background())
		if err := w.Close(ctx); err != nil {
			t.Fatalf("Close after the server came back: %v", err)
		}
		evs, err := events.Find(ctx, client, events.Query{Run: w.Run()})
		if err != nil || len(evs) != accepted+1 {
			t.Fatalf("after restart %d events stored, %v; want all %d accepted", len(evs), err, accepted+1)
		}
		if b.Name == "postgresql" {
			_ = client.Database().Drop(context.Background())
		}
	})
}

func TestCorruptEventIsReported(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		w, err := events.NewWriter(db, events.Options{Run: "r"})
		if err != nil {
			t.Fatal(err)
		}
		w.Step(1, map[string]float64{"loss": 1})
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); !errors.Is(err, events.ErrClosed) {
			t.Fatalf("Flush after Close = %v, want ErrClosed", err)
		}
		if _, err := db.Collection(events.Collection).InsertOne(ctx, bson.D{
			{Key: "project", Value: db.Project()}, {Key: "run", Value: "r"}, {Key: "step", Value: "two"}}); err != nil {
			t.Fatal(err)
		}
		_, err = events.Find(ctx, db, events.Query{Run: "r"})
		if err == nil || !strings.Contains(err.Error(), "not an event") {
			t.Fatalf("Find over a corrupt event = %v, want an error naming it", err)
		}
		// The good event is still there.
		if evs, err := events.Find(ctx, db, events.Query{Run: "r", FromStep: 1, ToStep: 1}); err != nil || len(evs) != 1 {
			t.Fatalf("Find(step 1) = %d, %v; want the stored event", len(evs), err)
		}
	})
}

// Close is bounded by its context even when the server has gone for good,
// and every event it could not write is counted as dropped.
func TestCloseWithServerGone(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		srv, err := store.Open(ctx, b.ServerConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		client, err := store.Open(ctx, store.Config{URL: srv.URL(), Database: storetest.TempName("gone_")})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close(context.Background())
		w, err := events.NewWriter(client, events.Options{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// FerretDB may finish a request on a connection it had accepted
		// after its Run returned: wait until the server no longer answers.
		gone := false
		for range 50 {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			err := client.Client().Ping(pctx, nil)
			pcancel()
			if err != nil {
				gone = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !gone {
			t.Fatal("the server still answers 10 s after Close")
		}
		for i := range 10 {
			w.Step(int64(i), map[string]float64{"loss": 1})
		}
		short, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- w.Close(short) }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Close with the server gone returned nil")
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("Close did not return long after its context ended")
		}
		if written, dropped := w.Stats(); written != 0 || dropped != 10 {
			t.Fatalf("Stats = %d written, %d dropped; want 0, 10", written, dropped)
		}
	})
}
