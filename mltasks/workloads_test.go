package mltasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
)

// insert stores samples tagged tag and defines the view tag over them.
func insert(t *testing.T, db *store.DB, tag string, samples []dataset.Sample) {
	t.Helper()
	ctx := storetest.Context(t)
	coll, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range samples {
		samples[i].Tags = append(samples[i].Tags, tag)
	}
	if len(samples) > 0 {
		if _, err := coll.Insert(ctx, samples...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.Define(ctx, tag, dataset.Query{Tags: []string{tag}}); err != nil {
		t.Fatal(err)
	}
}

// quadrants are n 32×32×3 images (the CIFAR-10 shape) in 4 classes: class k
// brightens quadrant k, over noise.
func quadrants(prefix string, n int, seed uint64) []dataset.Sample {
	rng := tensor.NewRand(seed)
	out := make([]dataset.Sample, n)
	for i := range out {
		k := i % 4
		img := make([]uint8, 32*32*3)
		for j := range img {
			img[j] = uint8(rng.IntN(100))
		}
		r0, c0 := 16*(k/2), 16*(k%2)
		for r := r0; r < r0+16; r++ {
			for c := c0; c < c0+16; c++ {
				for ch := range 3 {
					img[(r*32+c)*3+ch] = 150 + uint8(rng.IntN(100))
				}
			}
		}
		out[i] = dataset.Sample{Key: fmt.Sprintf("%s-%05d", prefix, i), Tensor: dataset.Uint8Tensor([]int{32, 32, 3}, img), Label: k}
	}
	return out
}

// features are n float32 vectors of 12 values in 3 classes: class k has
// feature k raised.
func features(prefix string, n int, seed uint64) []dataset.Sample {
	rng := tensor.NewRand(seed)
	out := make([]dataset.Sample, n)
	for i := range out {
		k := i % 3
		v := make([]float32, 12)
		for j := range v {
			v[j] = float32(rng.NormFloat64()) * 0.3
		}
		v[k] += 2
		out[i] = dataset.Sample{Key: fmt.Sprintf("%s-%05d", prefix, i), Tensor: dataset.Float32Tensor([]int{12}, v), Label: k}
	}
	return out
}

// trainOutput is a train task's output.
type trainOutput struct {
	Model        string
	Version      int64
	Run          string
	Epochs       int
	Steps        int
	Examples     int
	Seconds      float64
	StoppedEarly bool `json:"stopped_early"`
	Metrics      map[string]float64
	Accuracy     float64
	Loss         float64
}

func trainTask(t *testing.T, k *Kinds, db *store.DB, id, input, model, params string) (trainOutput, error) {
	t.Helper()
	run := &task.Run{Task: &task.Task{Plan: "p", ID: id, Kind: "train", Input: input, Model: model, Params: json.RawMessage(params)}, Attempt: 1, Services: db}
	out, err := k.train(storetest.Context(t), run)
	var res trainOutput
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("train output %s: %v", out, jerr)
		}
	}
	return res, err
}

func evalTask(t *testing.T, k *Kinds, db *store.DB, input, model, params string) (map[string]any, error) {
	t.Helper()
	run := &task.Run{Task: &task.Task{Plan: "p", ID: "eval-" + input, Kind: "evaluate", Input: input, Model: model, Params: json.RawMessage(params)}, Attempt: 1, Services: db}
	out, err := k.evaluate(storetest.Context(t), run)
	if err != nil {
		return nil, err
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// A CNN learns 32×32×3 images (the CIFAR-10 shape) streamed from the store,
// the second epoch from the local disk cache; the version it saves carries
// its architecture, and evaluate rebuilds it.
func TestTrainCNNOnCIFARShapedImages(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "qtrain", quadrants("tr", 320, 1))
	insert(t, db, "qtest", quadrants("te", 80, 2))
	cache := t.TempDir()
	k := New(Options{CacheDir: cache})
	res, err := trainTask(t, k, db, "cnn", "qtrain", "quad", `{"arch":"cnn","epochs":3,"batch":32,"lr":0.002,"validation":"qtest"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 1 || res.Epochs != 3 || res.Steps != 30 || res.Examples != 320 || res.StoppedEarly {
		t.Fatalf("output %+v: want version 1, 3 epochs of 10 steps over 320 examples", res)
	}
	for _, m := range []string{"loss", "accuracy", "val_loss", "val_accuracy"} {
		if _, ok := res.Metrics[m]; !ok {
			t.Errorf("output metrics %v lack %s", res.Metrics, m)
		}
	}
	if res.Metrics["val_accuracy"] < 0.9 || res.Accuracy != res.Metrics["accuracy"] {
		t.Fatalf("output %+v: want a validation accuracy over 0.9", res)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*", "*", "*", "*", "*"))
	if len(files) == 0 {
		t.Fatalf("nothing in the dataset cache %s: the epochs did not read through it", cache)
	}
	ev, err := evalTask(t, New(Options{CacheDir: "-"}), db, "qtest", "quad", ``)
	if err != nil {
		t.Fatal(err)
	}
	if ev["examples"].(float64) != 80 || ev["accuracy"].(float64) < 0.9 || ev["metrics"].(map[string]any)["accuracy"] != ev["accuracy"] {
		t.Fatalf("evaluate: %v; want 80 examples at over 0.9, and the metrics", ev)
	}
}

// An MLP learns float32 feature vectors; the classes come from the labels.
func TestTrainMLPOnFeatureVectors(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "ftrain", features("f", 300, 1))
	k := testKinds(t)
	res, err := trainTask(t, k, db, "mlp", "ftrain", "feat", `{"epochs":4,"batch":30,"lr":0.003,"optimizer":"momentum","schedule":"cosine","weight_decay":0.0001}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accuracy < 0.9 || res.Steps != 40 {
		t.Fatalf("output %+v: want 40 steps to a training accuracy over 0.9", res)
	}
	ms, err := models.New(storetest.Context(t), db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ms.Get(storetest.Context(t), models.Ref{Name: "feat"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Architecture), `"units":3`) || m.Params["optimizer"] != "momentum" || m.Params["schedule"] != "cosine" {
		t.Fatalf("version: architecture %s, params %v: want 3 output units and the optimizer and schedule", m.Architecture, m.Params)
	}
}

// counts are the model versions and events in the store.
func counts(t *testing.T, db *store.DB) [2]int64 {
	t.Helper()
	ctx := storetest.Context(t)
	var c [2]int64
	for i, name := range []string{models.ModelsCollection, events.Collection} {
		n, err := db.Collection(name).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		c[i] = n
	}
	return c
}

// Every bad input fails the task at once (task.Permanent), says what is
// wrong, naming the sample, layer or variable, and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	k := testKinds(t)
	insert(t, db, "feat", features("f", 60, 1))
	insert(t, db, "empty", nil)
	mixed := features("m", 5, 1)
	mixed = append(mixed, dataset.Sample{Key: "m-odd", Tensor: dataset.Float32Tensor([]int{13}, make([]float32, 13)), Label: 1})
	insert(t, db, "mixed", mixed)
	high := features("h", 6, 1)
	high[4].Label = 7
	insert(t, db, "high", high)
	neg := features("n", 6, 1)
	neg[2].Label = -1
	insert(t, db, "neg", neg)
	if _, err := trainTask(t, k, db, "small", "feat", "small", `{"architecture":`+denseArch(12, 4, 3)+`}`); err != nil {
		t.Fatal(err)
	}
	before := counts(t, db)

	cases := []struct {
		name, input, params string
		want                []string
	}{
		{"empty view", "empty", ``, []string{`dataset "empty" has no samples`}},
		{"mixed shapes", "mixed", ``, []string{`dataset "mixed" mixes sample shapes`, `"m-odd"`, `"m-00000"`, "[13]", "[12]"}},
		{"input shape", "feat", `{"architecture":` + denseArch(10, 4, 3) + `}`, []string{`sample "f-00000"`, "float32 [12]", `input "x"`, "(?, 10)"}},
		{"label over the classes", "high", `{"classes":3}`, []string{`sample "h-00004"`, "out of range", "3 classes"}},
		{"negative label", "neg", ``, []string{`sample "n-00002"`, "out of range"}},
		{"unknown layer", "feat", `{"architecture":{"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,12],"dtype":"float32"}},{"name":"y","kind":"Teleport","inputs":[0],"config":{}}]}}`, []string{"params.architecture", "Teleport"}},
		{"weights that do not fit", "feat", `{"architecture":` + denseArch(12, 5, 3) + `,"init":{"model":"small"}}`, []string{"model small v1", "fc1/W: file (12, 4), network (12, 5)"}},
		{"no such init", "feat", `{"init":{"model":"nope"}}`, []string{"params.init", "nope"}},
		{"arch for images", "feat", `{"arch":"cnn"}`, []string{"arch cnn takes images", `sample "f-00000"`}},
		{"early stopping on no metric", "feat", `{"early_stopping":{"metric":"f1"}}`, []string{"params.early_stopping.metric", `"f1", want one of loss, accuracy`}},
		{"schedule object", "feat", `{"schedule":{"name":"step","evry":3}}`, []string{"schedule", `unknown field "evry"`}},
		{"bad params", "feat", `{"optimizer":"lion","schedule":"sometimes","early_stopping":{"metric":"val_loss"}}`, []string{"params.optimizer", "params.schedule", "params.early_stopping.metric"}},
		{"bad width and dropout", "feat", `{"width":-1,"dropout":1}`, []string{"params.width: -1", "params.dropout: 1, want a drop probability in [0, 1)"}},
		{"width with an architecture", "feat", `{"architecture":` + denseArch(12, 5, 3) + `,"width":2}`, []string{"an architecture JSON fixes its own sizes"}},
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
	if _, err := evalTask(t, k, db, "mixed", "small", ``); err == nil || !strings.Contains(err.Error(), "mixes sample shapes") {
		t.Errorf("evaluate on a mixed view: %v", err)
	}
	if after := counts(t, db); after != before {
		t.Fatalf("model versions and events %v before, %v after: a bad task wrote", before, after)
	}
}

// denseArch is a layers JSON: an input of in values, a hidden layer, logits.
func denseArch(in, hidden, classes int) string {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, in)
	h := layers.Dense(x, "fc1", hidden, layers.ReLU)
	net := layers.Dense(h, "logits", classes)
	b, err := net.MarshalJSON()
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A fine-tune starts from the saved weights: at a learning rate too small
// to learn anything it is as accurate as its parent at once, and its
// lineage names the parent.
func TestFineTuneFromAVersion(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "feat", features("f", 300, 1))
	k := testKinds(t)
	parent, err := trainTask(t, k, db, "p", "feat", "feat", `{"epochs":4,"batch":30,"lr":0.003}`)
	if err != nil {
		t.Fatal(err)
	}
	child, err := trainTask(t, k, db, "c", "feat", "feat", `{"epochs":1,"batch":30,"lr":1e-7,"init":{"model":"feat","version":1}}`)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := trainTask(t, k, db, "f", "feat", "fresh", `{"epochs":1,"batch":30,"lr":1e-7}`)
	if err != nil {
		t.Fatal(err)
	}
	if parent.Accuracy < 0.9 || child.Accuracy < 0.9 || fresh.Accuracy > 0.8 {
		t.Fatalf("accuracy: parent %v, fine-tune %v, fresh at the same rate %v; want the fine-tune as good as its parent", parent.Accuracy, child.Accuracy, fresh.Accuracy)
	}
	ms, err := models.New(storetest.Context(t), db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ms.Get(storetest.Context(t), models.Ref{Name: "feat", Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ms.Get(storetest.Context(t), models.Ref{Name: "feat", Version: child.Version})
	if err != nil {
		t.Fatal(err)
	}
	if child.Version != 2 || c.Lineage.Parent != p.ID || string(c.Architecture) != string(p.Architecture) {
		t.Fatalf("fine-tune v%d: parent %q (want %q), same architecture %v", child.Version, c.Lineage.Parent, p.ID, string(c.Architecture) == string(p.Architecture))
	}
}

// A builder registered in the agent's binary is an arch; the version keeps
// its architecture JSON, so an agent without the builder evaluates it.
func TestRegisteredBuilder(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "feat", features("f", 300, 1))
	k := testKinds(t)
	err := k.RegisterArch("wide", func(g *graph.Graph, in ArchInput) (*layers.Layer, error) {
		x := layers.Input(g, "features", append([]int{-1}, in.Shape...)...)
		h := layers.Dense(x, "wide1", 64, layers.ReLU)
		net := layers.Dense(h, "out", in.Classes)
		return net, net.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainTask(t, k, db, "w", "feat", "wide", `{"arch":"wide","epochs":3,"batch":30,"lr":0.003,"classes":5}`)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evalTask(t, testKinds(t), db, "feat", "wide", ``)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accuracy < 0.9 || ev["accuracy"].(float64) < 0.9 {
		t.Fatalf("train %+v, evaluate %v: want both over 0.9", res, ev)
	}
	ms, _ := models.New(storetest.Context(t), db, models.Options{})
	m, err := ms.Get(storetest.Context(t), models.Ref{Name: "wide"})
	if err != nil || m.Params["arch"] != "wide" || !strings.Contains(string(m.Architecture), `"wide1"`) || !strings.Contains(string(m.Architecture), `"units":5`) {
		t.Fatalf("version: %v, params %v, architecture %s", err, m.Params, m.Architecture)
	}
}

// Early stopping ends the run when its metric stops improving; a step
// budget ends it mid-epoch without counting as early stopping.
func TestEarlyStoppingAndStepBudget(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "feat", features("f", 120, 1))
	k := testKinds(t)
	// No epoch improves the loss by 10: the run stops after patience 2.
	res, err := trainTask(t, k, db, "es", "feat", "es", `{"epochs":20,"batch":30,"early_stopping":{"metric":"loss","patience":2,"min_delta":10}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !res.StoppedEarly || res.Epochs != 3 || res.Steps != 12 {
		t.Fatalf("early stopping: %+v; want stopped early after 3 epochs (the first, then 2 without progress), 12 steps", res)
	}
	res, err = trainTask(t, k, db, "budget", "feat", "budget", `{"steps":6,"batch":30}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedEarly || res.Steps != 6 || res.Epochs != 1 {
		t.Fatalf("step budget: %+v; want 6 steps, 1 epoch completed, not stopped early", res)
	}
}

// The train kind's cache folder belongs to one store: another store's
// samples never come out of it, not even those of a store that replaced
// another (its first sample is younger).
func TestCacheFolderPerStore(t *testing.T) {
	k := New(Options{CacheDir: "/cache"})
	a, b := storetest.Backends()[0].Open(t), storetest.Backends()[0].Open(t)
	if ra, rb := k.cacheRoot(a, ""), k.cacheRoot(b, ""); ra == rb || !strings.HasPrefix(ra, "/cache/") {
		t.Fatalf("cache roots %q and %q: want two folders under /cache", ra, rb)
	}
	if k.cacheRoot(a, "2026-12-07T09:00:00Z") == k.cacheRoot(a, "2026-12-07T09:00:01Z") {
		t.Fatal("one cache folder for stores whose first samples differ")
	}
	first, err := firstSampleTime(storetest.Context(t), a)
	if err != nil || first != "" {
		t.Fatalf("first sample of an empty store: %q, %v", first, err)
	}
	insert(t, a, "feat", features("f", 3, 1))
	if first, err = firstSampleTime(storetest.Context(t), a); err != nil || first == "" {
		t.Fatalf("first sample: %q, %v", first, err)
	}
	if New(Options{CacheDir: "-"}).cacheRoot(a, first) != "" {
		t.Fatal(`CacheDir "-" still caches`)
	}
}

// params.device chooses the device whatever the queue: cuda asks for the
// GPU (and fails, saying so, on an agent without one), cpu trains on the CPU
// even on the cuda queue.
func TestDeviceParam(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "feat", features("f", 60, 1))
	k := New(Options{CacheDir: t.TempDir(), OpenDevice: func() (graph.Device, error) { return nil, errors.New("no GPU here") }})
	_, err := trainTask(t, k, db, "g", "feat", "g", `{"device":"cuda"}`)
	if err == nil || !strings.Contains(err.Error(), "asks for params.device cuda") || !strings.Contains(err.Error(), "no GPU here") {
		t.Fatalf("device cuda without a GPU: %v", err)
	}
	run := &task.Run{Task: &task.Task{Plan: "p", ID: "c", Kind: "train", Queue: GPUQueue, Input: "feat", Model: "c", Params: json.RawMessage(`{"device":"cpu"}`)}, Attempt: 1, Services: db}
	if _, err := k.train(storetest.Context(t), run); err != nil {
		t.Fatalf("device cpu on the cuda queue: %v", err)
	}
}

// Token sequences (int32 ids) feed an int32 input (an embedding), and raw
// bytes of a known size feed an input of as many values, scaled to [0, 1].
func TestTokenAndByteSamples(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	rng := tensor.NewRand(3)
	var toks, raw []dataset.Sample
	for i := range 240 {
		k := i % 3
		ids := make([]int32, 6)
		for j := range ids {
			ids[j] = int32(3 + rng.IntN(7))
		}
		ids[rng.IntN(6)] = int32(k) // the class's word, somewhere
		toks = append(toks, dataset.Sample{Key: fmt.Sprintf("t-%04d", i), Tensor: dataset.Int32Tensor([]int{6}, ids), Label: k})
		b := make([]byte, 12)
		for j := range b {
			b[j] = byte(rng.IntN(60))
		}
		b[4*k], b[4*k+1] = 250, 250
		raw = append(raw, dataset.Sample{Key: fmt.Sprintf("b-%04d", i), Bytes: b, Label: k})
	}
	insert(t, db, "tokens", toks)
	insert(t, db, "bytes", raw)

	g := graph.New(1)
	x := layers.IntInput(g, "ids", -1, 6)
	h := layers.Embedding(x, "emb", 10, 8)
	h = layers.Flatten(h, "flat")
	net := layers.Dense(h, "logits", 3)
	tokArch, err := net.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	g = graph.New(1)
	bx := layers.Input(g, "pixels", -1, 3, 4)
	bnet := layers.Dense(layers.Flatten(bx, "flat"), "logits", 3)
	byteArch, err := bnet.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	k := testKinds(t)
	for _, c := range []struct{ view, arch string }{{"tokens", string(tokArch)}, {"bytes", string(byteArch)}} {
		res, err := trainTask(t, k, db, c.view, c.view, c.view, `{"epochs":8,"batch":24,"lr":0.01,"architecture":`+c.arch+`}`)
		if err != nil {
			t.Fatalf("%s: %v", c.view, err)
		}
		if res.Accuracy < 0.9 {
			t.Errorf("%s: %+v, want a training accuracy over 0.9", c.view, res)
		}
	}
	// A float32 input does not take token ids, nor an int32 input bytes.
	_, err = trainTask(t, k, db, "x", "bytes", "x", `{"architecture":`+string(tokArch)+`}`)
	if err == nil || !strings.Contains(err.Error(), `sample "b-0000"`) {
		t.Fatalf("bytes into an int32 input: %v", err)
	}
}

// params.width scales the built-in builders' hidden sizes and params.dropout
// sets (or, at 0, removes) their dropout layer: what a search varies.
func TestWidthAndDropout(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	insert(t, db, "ftrain", features("f", 120, 1))
	k := testKinds(t)
	ms, err := models.New(storetest.Context(t), db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		params      string
		units       []string // in the saved architecture
		absent      string
		width, drop any
	}{
		{`{"epochs":1,"width":0.5,"dropout":0}`, []string{`"units":128`, `"units":64`}, `"dropout"`, 0.5, 0.0},
		{`{"epochs":1,"width":2,"dropout":0.3}`, []string{`"units":512`, `"units":256`, `"keep":0.7`}, "", 2.0, 0.3},
		{`{"epochs":1}`, []string{`"units":256`, `"units":128`, `"keep":0.8`}, "", nil, nil},
	} {
		// A task per case: a task saves one version whatever its deliveries.
		res, err := trainTask(t, k, db, fmt.Sprintf("w%d", i), "ftrain", "wd", c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.params, err)
		}
		m, err := ms.Get(storetest.Context(t), models.Ref{Name: "wd", Version: res.Version})
		if err != nil {
			t.Fatal(err)
		}
		arch := string(m.Architecture)
		for _, u := range c.units {
			if !strings.Contains(arch, u) {
				t.Errorf("%s: the architecture lacks %s:\n%s", c.params, u, arch)
			}
		}
		if c.absent != "" && strings.Contains(arch, c.absent) {
			t.Errorf("%s: the architecture has %s:\n%s", c.params, c.absent, arch)
		}
		if m.Params["width"] != c.width || m.Params["dropout"] != c.drop {
			t.Errorf("%s: the version's params %v; want width %v, dropout %v", c.params, m.Params, c.width, c.drop)
		}
	}
}
