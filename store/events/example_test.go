package events_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// Log a run's steps without waiting on the database, then query a range.
func ExampleWriter() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tl-events-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)

	w, err := events.NewWriter(db, events.Options{Model: "mlp", Run: "run-1"})
	if err != nil {
		log.Fatal(err)
	}
	for step := int64(1); step <= 100; step++ {
		w.Step(step, map[string]float64{"loss": 1 / float64(step), "speed": 5000})
		if step%50 == 0 {
			w.Log(events.Event{Phase: events.Validation, Step: step, Values: map[string]float64{"accuracy": 0.9}})
		}
	}
	if err := w.Close(ctx); err != nil { // writes what is still queued
		log.Fatal(err)
	}

	evs, err := events.Find(ctx, db, events.Query{Run: "run-1", Phase: events.Train, FromStep: 10, ToStep: 12})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range evs {
		fmt.Printf("step %d loss %.3f\n", e.Step, e.Values["loss"])
	}
	written, dropped := w.Stats()
	fmt.Println("written", written, "dropped", dropped)
	// Output:
	// step 10 loss 0.100
	// step 11 loss 0.091
	// step 12 loss 0.083
	// written 102 dropped 0
}
