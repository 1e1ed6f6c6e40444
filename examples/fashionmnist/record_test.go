package main

import (
	"context"
	"io"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// With a store, the run records its curves (train loss every few steps, the
// test evaluation after every epoch) and saves the model as a version linked
// to the run, for tl models, tl runs and tl curve.
func TestRunRecordsCurvesAndVersion(t *testing.T) {
	needData(t)
	db := storetest.Backends()[0].Open(t)
	ctx := context.Background()
	res, err := run(ctx, options{Model: "mlp", Epochs: 2, Batch: 64, LR: 1e-3, DataDir: formats.FashionMNISTDir, Limit: 1280, Seed: 1,
		Log: quiet(), DB: db, Name: "fashionmnist-mlp"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 1 || res.Run == "" {
		t.Fatalf("result %+v: want version 1 and a run", res)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ms.Get(ctx, models.Ref{Name: "fashionmnist-mlp"})
	if err != nil || m.Lineage.Run != res.Run || m.Metrics["test_accuracy"] != res.TestAccuracy {
		t.Fatalf("saved version %+v, %v: want lineage run %s and test accuracy %v", m, err, res.Run, res.TestAccuracy)
	}
	evs, err := events.Find(ctx, db, events.Query{Model: "fashionmnist-mlp", Run: res.Run})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		for k := range e.Values {
			n[e.Phase+"/"+k]++
		}
	}
	// 20 steps an epoch: an event every step (fewer than 50 steps), 2 epochs.
	if n["train/loss"] != 40 || n["train/accuracy"] != 2 || n["test/accuracy"] != 2 || n["train/lr"] != 40 {
		t.Fatalf("points per curve: %v; want 40 train losses and learning rates, 2 train and 2 test accuracies", n)
	}
	if err := eventplot.Render(evs, io.Discard, eventplot.Options{}); err != nil {
		t.Fatalf("the curves do not draw: %v", err)
	}
}
