package mltasks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

func TestTrainThenEvaluate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		testworld.Bands(t, db, "train", "train", 600, 1)
		testworld.Bands(t, db, "test", "test", 200, 2)
		run := &task.Run{Task: &task.Task{ID: "t1", Kind: "train", Input: "train", Model: "bands",
			Params: json.RawMessage(`{"arch":"mlp","epochs":3,"batch":32,"lr":0.003,"alias":"candidate"}`)}, Attempt: 1, Services: db}
		out, err := testKinds(t).train(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Version  int64
			Accuracy float64
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res.Version != 1 || res.Accuracy < 0.9 {
			t.Fatalf("train result %s: want version 1 and training accuracy over 0.9", out)
		}
		ms, err := models.New(ctx, db, models.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ms.Get(ctx, models.Ref{Name: "bands", Alias: "candidate"})
		if err != nil || m.Version != 1 || m.Lineage.Dataset != "train" {
			t.Fatalf("alias candidate: %+v, %v", m, err)
		}

		ev := &task.Run{Task: &task.Task{ID: "e1", Kind: "evaluate", Input: "test", Model: "bands"}, Attempt: 1, Services: db}
		out, err = testKinds(t).evaluate(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var er struct {
			Accuracy float64
			Examples int
		}
		if err := json.Unmarshal(out, &er); err != nil {
			t.Fatal(err)
		}
		if er.Examples != 200 || er.Accuracy < 0.9 {
			t.Fatalf("evaluate result %s: want 200 examples at over 0.9 accuracy", out)
		}
		m, err = ms.Get(ctx, models.Ref{Name: "bands"})
		if err != nil || m.Metrics["test_accuracy"] != er.Accuracy {
			t.Fatalf("metrics on the model: %v, %v", m.Metrics, err)
		}
	})
}

func TestClearErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		cases := []struct {
			run  *task.Run
			want string
		}{
			{&task.Run{Task: &task.Task{ID: "a", Kind: "train", Input: "nope", Model: "m"}, Services: db}, `dataset "nope"`},
			{&task.Run{Task: &task.Task{ID: "b", Kind: "train", Model: "m"}, Services: db}, "needs an input dataset"},
			{&task.Run{Task: &task.Task{ID: "c", Kind: "train", Input: "x", Model: "m", Params: json.RawMessage(`{"arch":"resnet"}`)}, Services: db}, "unknown arch"},
			{&task.Run{Task: &task.Task{ID: "d", Kind: "train", Input: "x", Model: "m"}}, "needs the agent's store"},
			{&task.Run{Task: &task.Task{ID: "e", Kind: "evaluate", Input: "x", Model: "missing"}, Services: db}, "not found"},
		}
		for _, c := range cases {
			f := Train
			if c.run.Task.Kind == "evaluate" {
				f = Evaluate
			}
			_, err := f(ctx, c.run)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("task %s: error %v, want one containing %q", c.run.Task.ID, err, c.want)
			}
		}
	})
}

// A train task on the GPU queue trains on the device (a GPU, or the CPU
// emulator), and the weights it saves are the trained ones: an evaluation on
// the CPU reaches the same accuracy.
func TestTrainOnGPUQueue(t *testing.T) {
	dev := cudatest.Open(t)
	reg := task.NewRegistry()
	if err := RegisterWith(reg, Options{OpenDevice: func() (graph.Device, error) { return dev, nil }}); err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		testworld.Bands(t, db, "train", "train", 300, 1)
		testworld.Bands(t, db, "test", "test", 100, 2)
		run := &task.Run{Task: &task.Task{ID: "g1", Kind: "train", Queue: GPUQueue, Input: "train", Model: "bands",
			Params: json.RawMessage(`{"arch":"mlp","epochs":3,"batch":32,"lr":0.003}`)}, Attempt: 1, Services: db}
		f, err := reg.Lookup("train")
		if err != nil {
			t.Fatal(err)
		}
		out, err := f(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Accuracy float64 }
		if err := json.Unmarshal(out, &res); err != nil || res.Accuracy < 0.85 {
			t.Fatalf("train on %s: %s (%v): want training accuracy over 0.85", dev.Name(), out, err)
		}
		ev := &task.Run{Task: &task.Task{ID: "e1", Kind: "evaluate", Input: "test", Model: "bands"}, Attempt: 1, Services: db}
		out, err = testKinds(t).evaluate(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var er struct{ Accuracy float64 }
		if err := json.Unmarshal(out, &er); err != nil || er.Accuracy < 0.85 {
			t.Fatalf("the saved model evaluated on the CPU: %s (%v): want over 0.85", out, err)
		}
	})
}

// A task on the GPU queue on an agent whose GPU does not open fails with the
// reason, and trains nothing on the CPU instead.
func TestGPUQueueWithoutDevice(t *testing.T) {
	reg := task.NewRegistry()
	if err := RegisterWith(reg, Options{OpenDevice: func() (graph.Device, error) { return nil, errors.New("no GPU here") }}); err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db := b.Open(t)
		ctx := storetest.Context(t)
		testworld.Bands(t, db, "train", "train", 20, 1)
		run := &task.Run{Task: &task.Task{ID: "g2", Kind: "train", Queue: GPUQueue, Input: "train", Model: "m"}, Attempt: 1, Services: db}
		f, err := reg.Lookup("train")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f(ctx, run)
		if err == nil || !strings.Contains(err.Error(), "no usable GPU") || !strings.Contains(err.Error(), "no GPU here") {
			t.Fatalf("err = %v, want it to say the agent has no usable GPU and why", err)
		}
	})
}

// testKinds are the kinds with a dataset cache in the test's folder.
func testKinds(t testing.TB) *Kinds { return New(Options{CacheDir: t.TempDir()}) }
