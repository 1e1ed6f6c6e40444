package mltasks

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
)

// linear are n samples of 8 features whose target is a 2-vector, a fixed
// linear function of them plus noise of deviation 0.05 (a floor of 0.0025
// under the mean squared error). It returns the targets' variance.
func linear(prefix string, n int, seed uint64) ([]dataset.Sample, float64) {
	rng := tensor.NewRand(seed)
	w := [2][8]float32{{1, -2, 0.5, 0, 3, -1, 0.25, 2}, {-1, 0, 1.5, 2, -0.5, 1, -2, 0.75}}
	out := make([]dataset.Sample, n)
	var sum, sq float64
	for i := range out {
		x := make([]float32, 8)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		y := []float32{0.5, -1}
		for o := range y {
			for j := range x {
				y[o] += w[o][j] * x[j]
			}
			y[o] += float32(rng.NormFloat64()) * 0.05
			sum += float64(y[o])
			sq += float64(y[o]) * float64(y[o])
		}
		out[i] = dataset.Sample{Key: fmt.Sprintf("%s-%05d", prefix, i), Tensor: dataset.Float32Tensor([]int{8}, x),
			Target: dataset.Float32Tensor([]int{2}, y)}
	}
	m := sum / float64(2*n)
	return out, sq/float64(2*n) - m*m
}

// A view whose samples carry targets trains a regression: the default mlp
// gets one output per target value, the loss is the mean squared error
// (default), the metrics loss and mae, no accuracy; the validation and an
// evaluate task report the same. A scalar target fits an output of one
// value an example.
func TestTrainRegressionOnTargets(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	train, variance := linear("r", 480, 1)
	val, _ := linear("v", 120, 2)
	insert(t, db, "rtrain", train)
	insert(t, db, "rval", val)
	k := testKinds(t)
	res, err := trainTask(t, k, db, "reg", "rtrain", "reg", `{"epochs":30,"batch":32,"lr":0.003,"validation":"rval","early_stopping":{"metric":"val_mae","patience":30}}`)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	if _, ok := m["accuracy"]; ok || res.Accuracy != 0 {
		t.Errorf("metrics %v: a regression reports no accuracy", m)
	}
	// The targets' variance is about 17: a model that learned nothing has an
	// MSE near it, a linear one near the noise floor.
	if !(m["loss"] < variance/50 && m["val_loss"] < variance/50 && m["mae"] > 0 && m["val_mae"] < math.Sqrt(variance)/5) {
		t.Fatalf("metrics %v with targets of variance %.2f: want train and validation MSE under a fiftieth of it", m, variance)
	}
	t.Logf("target variance %.3f; %v", variance, m)
	ms, err := models.New(storetest.Context(t), db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ms.Get(storetest.Context(t), models.Ref{Name: "reg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Metrics["train_accuracy"]; ok || v.Metrics["train_mae"] == 0 || v.Metrics["val_mae"] == 0 || v.Params["loss"] != "mse" ||
		!strings.Contains(string(v.Architecture), `"units":2`) {
		t.Fatalf("version: metrics %v, params %v: want train_mae and val_mae, no accuracy, loss mse and 2 output units", v.Metrics, v.Params)
	}
	evs, err := events.Find(storetest.Context(t), db, events.Query{Model: "reg", Run: res.Run})
	if err != nil {
		t.Fatal(err)
	}
	trainMAE, valMAE := 0, 0
	for _, e := range evs {
		if _, ok := e.Values["mae"]; ok && e.Phase == events.Train {
			trainMAE++
		}
		if _, ok := e.Values["mae"]; ok && e.Phase == events.Validation {
			valMAE++
		}
	}
	if trainMAE != res.Epochs || valMAE != res.Epochs {
		t.Errorf("events with mae: %d train, %d validation; want one of each per epoch (%d)", trainMAE, valMAE, res.Epochs)
	}
	ev, err := evalTask(t, k, db, "rval", "reg", ``)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev["accuracy"]; ok || ev["examples"].(float64) != 120 || ev["loss"].(float64) > variance/50 ||
		ev["mae"].(float64) <= 0 || ev["metrics"].(map[string]any)["mae"] != ev["mae"] {
		t.Fatalf("evaluate: %v; want 120 examples, a low loss and mae, no accuracy", ev)
	}
	if v, err = ms.Get(storetest.Context(t), models.Ref{Name: "reg"}); err != nil || v.Metrics["rval_mae"] == 0 || v.Metrics["rval_loss"] == 0 {
		t.Fatalf("version metrics after evaluate %v (%v): want rval_mae and rval_loss", v.Metrics, err)
	}

	// A scalar target and a network with one output.
	scalar, _ := linear("s", 64, 3)
	for i := range scalar {
		scalar[i].Target = dataset.Float32Tensor([]int{}, scalar[i].Target.Float32[:1])
	}
	insert(t, db, "scalar", scalar)
	if res, err := trainTask(t, k, db, "sc", "scalar", "sc", `{"architecture":`+denseArch(8, 8, 1)+`,"epochs":2,"batch":16}`); err != nil || res.Steps != 8 {
		t.Fatalf("scalar targets: %+v, %v", res, err)
	}
}

// Bad regression input fails at once, naming the samples and shapes, and
// writes nothing. On every backend: the view summary groups on the target
// subdocument's fields and finds samples without one.
func TestBadRegressionInputWritesNothing(t *testing.T) {
	storetest.Run(t, badRegressionInput)
}

func badRegressionInput(t *testing.T, b storetest.Backend) {
	db := b.Open(t)
	k := testKinds(t)
	reg, _ := linear("r", 40, 1)
	insert(t, db, "reg", reg)
	cls, _ := linear("c", 30, 4) // the same features, labelled by class ids
	for i := range cls {
		cls[i].Target, cls[i].Label = nil, i%3
	}
	insert(t, db, "cls", cls)
	mixed, _ := linear("m", 6, 1)
	mixed[3].Target = nil
	insert(t, db, "mixed", mixed)
	shapes, _ := linear("s", 6, 1)
	shapes[2].Target = dataset.Float32Tensor([]int{3}, []float32{1, 2, 3})
	insert(t, db, "shapes", shapes)
	if _, err := trainTask(t, k, db, "cls", "cls", "cls", `{"architecture":`+denseArch(8, 4, 3)+`}`); err != nil {
		t.Fatal(err)
	}
	before := counts(t, db)

	cases := []struct {
		name, input, params string
		want                []string
	}{
		{"output shape", "reg", `{"architecture":` + denseArch(8, 4, 3) + `}`,
			[]string{`dataset "reg" sample "r-00000"`, "target float32 [2]", `output layer "logits"`, "(?, 3)", "expected (batch, 2)"}},
		{"mixed view", "mixed", ``, []string{`dataset "mixed" mixes labels`, `sample "m-00003" has a class id only`, `sample "m-00000" has a target float32 [2]`}},
		{"target shapes", "shapes", ``, []string{`dataset "shapes" mixes labels`, `"s-00002"`, "float32 [3]", "float32 [2]"}},
		{"mse on class ids", "cls", `{"loss":"mse"}`, []string{`sample "c-00000" has a class id only`, "loss mse needs"}},
		{"cross entropy on targets", "reg", `{"loss":"cross_entropy"}`, []string{`sample "r-00000" has a target float32 [2]`, "loss cross_entropy takes class ids"}},
		{"classes with targets", "reg", `{"classes":4}`, []string{"params.classes", "regression"}},
		{"accuracy of a regression", "reg", `{"early_stopping":{"metric":"accuracy"}}`, []string{"params.early_stopping.metric", `"accuracy", want one of loss, mae`}},
		{"validation without targets", "reg", `{"architecture":` + denseArch(8, 4, 2) + `,"validation":"cls"}`, []string{"params.validation", `dataset "cls"`, "class id only"}},
		{"unknown loss", "reg", `{"loss":"huber"}`, []string{"params.loss", `"huber"`, "mse"}},
	}
	for _, c := range cases {
		_, err := trainTask(t, k, db, "bad", c.input, "bad", c.params)
		if !task.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
	// A classifier evaluated on targets: its output is not the targets' shape.
	if _, err := evalTask(t, k, db, "reg", "cls", ``); !task.IsPermanent(err) || !strings.Contains(err.Error(), "expected (batch, 2)") {
		t.Errorf("evaluate a classifier on targets: %v", err)
	}
	if _, err := evalTask(t, k, db, "mixed", "cls", ``); err == nil || !strings.Contains(err.Error(), "mixes labels") {
		t.Errorf("evaluate on a mixed view: %v", err)
	}
	// A NaN target is refused at insert.
	coll, err := dataset.Open(storetest.Context(t), db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	nan := dataset.Sample{Key: "nan", Tensor: dataset.Float32Tensor([]int{8}, make([]float32, 8)), Target: dataset.Float32Tensor([]int{2}, []float32{1, float32(math.NaN())}), Tags: []string{"reg"}}
	if _, err := coll.Insert(storetest.Context(t), nan); err == nil || !strings.Contains(err.Error(), `sample "nan": target: element 1`) {
		t.Errorf("a NaN target: %v; want it refused at insert", err)
	}
	if _, err := coll.Get(storetest.Context(t), "nan"); err == nil {
		t.Error("the sample with a NaN target was stored")
	}
	if after := counts(t, db); after != before {
		t.Fatalf("model versions and events %v before, %v after: a bad task wrote", before, after)
	}
}

// Targets are fed as float32 rows of the output's shape (int32 and uint8
// targets by value); a sample inserted after the view was summarised whose
// label is unlike the view's fails the epoch, naming it.
func TestViewBatchesFeedTargets(t *testing.T) {
	ctx := storetest.Context(t)
	db := storetest.Backends()[0].Open(t)
	ids := []dataset.Sample{
		{Key: "a", Tensor: dataset.Float32Tensor([]int{2}, []float32{1, 2}), Target: dataset.Int32Tensor([]int{3}, []int32{4, -5, 6})},
		{Key: "b", Tensor: dataset.Float32Tensor([]int{2}, []float32{3, 4}), Target: dataset.Int32Tensor([]int{3}, []int32{7, 8, 9})},
	}
	insert(t, db, "ids", ids)
	coll, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds, info, err := openView(ctx, db, coll, "ids")
	if err != nil {
		t.Fatal(err)
	}
	if info.Target == nil || info.Target.Kind != "int32" || fmt.Sprint(info.Target.Shape) != "[3]" {
		t.Fatalf("view target %+v, want int32 [3]", info.Target)
	}
	v := newViewBatches(ds, info, tensor.Shape{-1, 2}, tensor.Float32, viewOptions{Batch: 4, Target: tensor.Shape{3}})
	if sp := v.Specs()[1]; sp.DType != tensor.Float32 || fmt.Sprint(sp.Shape) != fmt.Sprint(tensor.Shape{3}) {
		t.Fatalf("label spec %+v, want float32 (3)", sp)
	}
	it := v.Epoch(ctx, 0)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	if got := fmt.Sprint(it.Batch().Tensors[1].Float32s()); got != "[4 -5 6 7 8 9]" {
		t.Fatalf("targets fed %s, want [4 -5 6 7 8 9]", got)
	}
	it.Close()
	if _, err := coll.Insert(ctx, dataset.Sample{Key: "late", Tensor: dataset.Float32Tensor([]int{2}, []float32{0, 0}), Tags: []string{"ids"}}); err != nil {
		t.Fatal(err)
	}
	it = v.Epoch(ctx, 1)
	for it.Next() {
	}
	if err := it.Err(); !task.IsPermanent(err) || !strings.Contains(err.Error(), `sample "late" has a class id only`) || !strings.Contains(err.Error(), "int32 [3]") {
		t.Fatalf("a late sample without a target: %v", err)
	}
}

// A regression killed after a mid-epoch checkpoint resumes there, its
// running mae taken up from the checkpoint: the same weights, bitwise, and
// the same train_mae as a run never interrupted.
func TestRegressionResumesFromItsCheckpoint(t *testing.T) {
	ctx := storetest.Context(t)
	db := storetest.Backends()[0].Open(t)
	samples, _ := linear("r", 600, 1)
	insert(t, db, "train", samples)
	k := New(Options{CacheDir: t.TempDir(), Archs: map[string]Builder{"plain": plainArch}})
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := runTrain(ctx, t, k, db, "straight", "straight", resumeParams, &log); err != nil {
		t.Fatal(err)
	}
	kctx := killedAt(ctx, 14, nil)
	if _, err := runTrain(kctx, t, k, db, "resumed", "resumed", resumeParams, &log); !errors.Is(err, errKilled) {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := ms.GetCheckpoint(ctx, "p/resumed")
	if err != nil || ck.Step != 14 || ck.Values["mae"] == 0 {
		t.Fatalf("checkpoint %+v, %v; want step 14 with the running mae", ck, err)
	}
	out, err := runTrain(ctx, t, k, db, "resumed", "resumed", resumeParams, &log)
	if err != nil || out.ResumedFromStep == nil || *out.ResumedFromStep != 14 || out.Steps != 57 {
		t.Fatalf("resumed run: %+v, %v; want resumed from step 14, 57 steps", out, err)
	}
	if !bytes.Equal(loadWeights(t, ms, "resumed"), loadWeights(t, ms, "straight")) {
		t.Error("the resumed regression's weights differ from the uninterrupted run's")
	}
	a, errA := ms.Get(ctx, models.Ref{Name: "straight"})
	b, errB := ms.Get(ctx, models.Ref{Name: "resumed"})
	if errA != nil || errB != nil || a.Metrics["train_mae"] == 0 || a.Metrics["train_mae"] != b.Metrics["train_mae"] || a.Metrics["train_loss"] != b.Metrics["train_loss"] {
		t.Fatalf("metrics uninterrupted %v (%v), resumed %v (%v); want the same train_mae and train_loss", a.Metrics, errA, b.Metrics, errB)
	}
}

// Early stopping on mae minimises it, as on a loss.
func TestEarlyStoppingOnMAEMinimises(t *testing.T) {
	for _, m := range []string{"mae", "val_mae"} {
		p := newTrainParams()
		p.EarlyStopping = &EarlyStop{Metric: m}
		p.defaults()
		if p.EarlyStopping.Mode != "min" {
			t.Errorf("early stopping on %s: mode %q, want min", m, p.EarlyStopping.Mode)
		}
	}
}
