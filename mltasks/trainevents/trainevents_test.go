package trainevents_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/mltasks/trainevents"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// points makes n 2-D points in 3 separable classes.
func points(t *testing.T, n int, seed uint64) *feed.Tensors {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	centres := [3][2]float32{{2, 0}, {-1, 2}, {-1, -2}}
	x := tensor.New(tensor.Float32, n, 2)
	y := tensor.New(tensor.Int32, n)
	for i := range n {
		c := i % 3
		x.Float32s()[2*i] = centres[c][0] + float32(rng.NormFloat64())*0.5
		x.Float32s()[2*i+1] = centres[c][1] + float32(rng.NormFloat64())*0.5
		y.Int32s()[i] = int32(c)
	}
	s, err := feed.FromTensors(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A loop with the hook leaves the curves tl runs and tl curve read: train
// events every few steps with loss, speed and epoch, the epoch's accuracy at
// its last step, validation events per epoch, and the run's description.
func TestHookRecordsTheCurves(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := storetest.Context(t)
	g := graph.New(7)
	x := g.Placeholder("x", tensor.Float32, -1, 2)
	y := g.Placeholder("y", tensor.Int32, -1)
	w := g.Variable("w", tensor.Zeros(), 2, 3)
	b := g.Variable("b", tensor.Zeros(), 3)
	logits := graph.BiasAdd(graph.MatMul(x, w), b)
	loss := graph.SparseSoftmaxCrossEntropy(logits, y)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss)
	if err != nil {
		t.Fatal(err)
	}
	trainL, err := feed.NewLoader(points(t, 320, 1), 16, feed.Shuffle(3)) // 20 steps an epoch
	if err != nil {
		t.Fatal(err)
	}
	valL, err := feed.NewLoader(points(t, 90, 2), 30)
	if err != nil {
		t.Fatal(err)
	}
	loop, err := train.New(train.Config{Inputs: []*graph.Node{x, y}, Loss: loss, Update: update, Logits: logits, Labels: y, Options: graph.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	ev, err := loop.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	wr, err := events.NewWriter(db, events.Options{Model: "sectors", Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	loop.Use(train.Evaluate(ev, valL, "val_"), trainevents.Hook(wr, trainevents.Options{Every: 8, Fields: map[string]any{"task": "p/t"}}))
	if _, err := loop.Run(ctx, trainL, 3); err != nil {
		t.Fatal(err)
	}
	if err := wr.Close(ctx); err != nil {
		t.Fatal(err)
	}

	evs, err := events.Find(ctx, db, events.Query{Model: "sectors", Run: wr.Run()})
	if err != nil {
		t.Fatal(err)
	}
	var steps, accs, vals, described []int64
	for _, e := range evs {
		switch {
		case e.Phase == events.Validation:
			if e.Values["accuracy"] <= 0 || e.Values["loss"] <= 0 {
				t.Errorf("validation event at step %d: %v", e.Step, e.Values)
			}
			vals = append(vals, e.Step)
		case e.Fields["task"] == "p/t":
			described = append(described, e.Step)
		default:
			if ep, _ := e.Fields["epoch"].(float64); e.Values["loss"] <= 0 || e.Values["speed"] <= 0 || ep <= 0 {
				t.Errorf("train event at step %d lacks loss, speed or epoch: %v", e.Step, e.Values)
			}
			steps = append(steps, e.Step)
			if _, ok := e.Values["accuracy"]; ok {
				accs = append(accs, e.Step)
			}
		}
	}
	// Steps 8, 16 and the last (20) of each of the 3 epochs.
	wantSteps := []int64{8, 16, 20, 28, 36, 40, 48, 56, 60}
	if !slices.Equal(steps, wantSteps) || !slices.Equal(accs, []int64{20, 40, 60}) || !slices.Equal(vals, []int64{20, 40, 60}) || !slices.Equal(described, []int64{0}) {
		t.Fatalf("train events at %v (accuracy at %v), validation at %v, description at %v; want %v, [20 40 60], [20 40 60], [0]", steps, accs, vals, described, wantSteps)
	}
	last := evs[len(evs)-1]
	if last.Phase == events.Validation && last.Values["accuracy"] < 0.9 {
		t.Errorf("final validation accuracy %v, want over 0.9 on separable data", last.Values["accuracy"])
	}
	var png bytes.Buffer
	if err := eventplot.PNG(context.Background(), db, events.Query{Model: "sectors"}, &png, eventplot.Options{}); err != nil || png.Len() == 0 {
		t.Fatalf("the curves do not draw: %v (%d bytes)", err, png.Len())
	}
}

// unknownLength hides the number of batches of an epoch, as a stream does.
type unknownLength struct{ b feed.Batches }

func (u unknownLength) Specs() []feed.Spec                             { return u.b.Specs() }
func (unknownLength) Batches() int                                     { return -1 }
func (u unknownLength) Epoch(ctx context.Context, e int) feed.Iterator { return u.b.Epoch(ctx, e) }

// With epochs of unknown length (train.State.StepsPerEpoch -1), the epoch's
// last train point, with its accuracy and a whole epoch number, comes at
// its end, and nothing is divided by the unknown length.
func TestHookUnknownEpochLength(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := storetest.Context(t)
	g := graph.New(7)
	x := g.Placeholder("x", tensor.Float32, -1, 2)
	y := g.Placeholder("y", tensor.Int32, -1)
	w := g.Variable("w", tensor.Zeros(), 2, 3)
	b := g.Variable("b", tensor.Zeros(), 3)
	logits := graph.BiasAdd(graph.MatMul(x, w), b)
	loss := graph.SparseSoftmaxCrossEntropy(logits, y)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss)
	if err != nil {
		t.Fatal(err)
	}
	trainL, err := feed.NewLoader(points(t, 320, 1), 16, feed.Shuffle(3)) // 20 steps an epoch
	if err != nil {
		t.Fatal(err)
	}
	loop, err := train.New(train.Config{Inputs: []*graph.Node{x, y}, Loss: loss, Update: update, Logits: logits, Labels: y, Options: graph.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	wr, err := events.NewWriter(db, events.Options{Model: "stream", Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	loop.Use(trainevents.Hook(wr, trainevents.Options{Every: 8}))
	if _, err := loop.Run(ctx, unknownLength{trainL}, 2); err != nil {
		t.Fatal(err)
	}
	if err := wr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := events.Find(ctx, db, events.Query{Model: "stream", Run: wr.Run()})
	if err != nil {
		t.Fatal(err)
	}
	var steps, accs []int64
	var epochs []float64
	for _, e := range evs {
		steps = append(steps, e.Step)
		ep, _ := e.Fields["epoch"].(float64)
		epochs = append(epochs, ep)
		if _, ok := e.Values["accuracy"]; ok {
			accs = append(accs, e.Step)
		}
	}
	if !slices.Equal(steps, []int64{8, 16, 20, 28, 36, 40}) || !slices.Equal(accs, []int64{20, 40}) || !slices.Equal(epochs, []float64{0, 0, 1, 1, 1, 2}) {
		t.Fatalf("train events at %v (accuracy at %v, epochs %v); want [8 16 20 28 36 40], [20 40], [0 0 1 1 1 2]", steps, accs, epochs)
	}
}
