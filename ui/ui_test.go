package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/sweep"
)

// evil is HTML that must come out escaped wherever a name, a tag or an error
// holds it.
const evil = `<script>alert("x")</script>`

// fixture is a store with what every page shows: two models (one with HTML
// in its name), versions with metrics, aliases and lineage, two runs with
// curves, samples and a dataset over them, and a plan with a failed task.
type fixture struct {
	db       *store.DB
	model    string // the model with versions v1..v3
	evilName string // a model named with HTML
	runA     string // 300 steps of loss, accuracy, lr, speed
	runB     string
	plan     string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	f := &fixture{db: db, model: "mnist-cnn", evilName: "m" + evil, runA: "run-a", runB: "run-b", plan: "sweep-1"}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 3; v++ {
		_, err := ms.Save(ctx, models.Spec{Name: f.model, Architecture: json.RawMessage(`{"layers":[]}`),
			Params:  map[string]any{"lr": 0.01 * float64(v), "note": evil},
			Metrics: map[string]float64{"accuracy": 0.8 + 0.05*float64(v), "loss": 0.5 / float64(v)},
			Lineage: models.Lineage{Run: f.runA, Dataset: "train", Task: "sweep-1/train", Parent: fmt.Sprintf("7:default:%s:v%d", f.model, v-1)}},
			bytes.NewReader(bytes.Repeat([]byte{byte(v)}, 1000*v)))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ms.Alias(ctx, f.model, "prod", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.Save(ctx, models.Spec{Name: f.evilName, Metrics: map[string]float64{"loss": 1}}, strings.NewReader("w")); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{f.runA, f.runB} {
		w, err := events.NewWriter(db, events.Options{Model: f.model, Run: run})
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(1); i <= 300; i++ {
			w.Step(i, map[string]float64{"loss": 2 / float64(i), "accuracy": 1 - 1/float64(i), "lr": 0.01, "speed": 1000})
		}
		w.Log(events.Event{Phase: events.Validation, Step: 300, Values: map[string]float64{"loss": 0.02}})
		if run == f.runA { // a grid of samples, as a GAN logs it
			var grid bytes.Buffer
			if err := png.Encode(&grid, image.NewGray(image.Rect(0, 0, 12, 8))); err != nil {
				t.Fatal(err)
			}
			w.Log(events.Event{Step: 150, Fields: map[string]any{ImageField: grid.Bytes()}})
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var samples []dataset.Sample
	for i := range 10 {
		img := make([]uint8, 28*28)
		for j := range img {
			img[j] = uint8(i*20 + j%7)
		}
		samples = append(samples, dataset.Sample{Key: fmt.Sprintf("s%02d", i), Tensor: dataset.Uint8Tensor([]int{28, 28}, img),
			Label: i % 3, LabelName: []string{"cat", "dog", evil}[i%3], Tags: []string{"train", "tag" + evil}})
	}
	if _, err := c.Insert(ctx, samples...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Define(ctx, "train", dataset.Query{Tags: []string{"train"}}); err != nil {
		t.Fatal(err)
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	spec := plan.Spec{Name: "sweep", Tasks: []plan.TaskSpec{
		{ID: "prep", Kind: "noop"},
		{ID: "trial-1", Kind: "train", Deps: []string{"prep"}},
		{ID: "trial-2", Kind: "train", Deps: []string{"prep"}},
	}}
	specJSON, _ := json.Marshal(spec)
	now := time.Now()
	if err := st.CreatePlan(ctx, &status.Plan{ID: f.plan, Name: "sweep", SpecJSON: string(specJSON), Status: plan.Running, Submitted: now, Updated: now},
		[]*status.Task{
			{Key: f.plan + "/prep", Plan: f.plan, ID: "prep", Kind: "noop", Queue: "cpu", Status: plan.Succeeded, Attempt: 1, MaxAttempts: 3, Updated: now, Output: `{}`},
			{Key: f.plan + "/trial-1", Plan: f.plan, ID: "trial-1", Kind: "train", Queue: "cpu", Status: plan.Succeeded, Attempt: 1, MaxAttempts: 3, Updated: now, Index: 1,
				Output: `{"accuracy":0.91,"loss":0.3}`},
			{Key: f.plan + "/trial-2", Plan: f.plan, ID: "trial-2", Kind: "train", Queue: "cpu", Status: plan.Failed, Attempt: 3, MaxAttempts: 3, Updated: now, Index: 2,
				Error: "diverged " + evil},
		}); err != nil {
		t.Fatal(err)
	}
	// A sweep of three trials, submitted through package sweep; its trials,
	// which the master's controller would record, are written here.
	sw, _, err := sweep.Submit(ctx, db, nil, &sweep.Spec{Name: "hp", Base: sweep.Base{Input: "train", Validation: "train", Model: f.model},
		Space:     map[string]sweep.Param{"lr": {LogUniform: []float64{1e-4, 1e-2}}, "note": {Choice: []any{evil}}},
		Algorithm: "random", Trials: 3, Metric: "val_accuracy"})
	if err != nil {
		t.Fatal(err)
	}
	trials := []sweep.Trial{
		{N: 0, Params: map[string]any{"lr": 0.001, "note": evil}, State: sweep.Done,
			Rungs: []sweep.Rung{{State: sweep.Done, Metric: 0.81, Version: 1, Run: f.runA, Total: 3, Seconds: 10}}},
		{N: 1, Params: map[string]any{"lr": 0.003, "note": evil}, State: sweep.Done,
			Rungs: []sweep.Rung{{State: sweep.Done, Metric: 0.93, Version: 2, Run: f.runB, Total: 3, Seconds: 12}}},
		{N: 2, Params: map[string]any{"lr": 0.0001, "note": evil}, State: sweep.Failed,
			Rungs: []sweep.Rung{{State: sweep.Failed, Error: "diverged " + evil}}},
	}
	if _, err := db.Collection(sweep.Collection).UpdateOne(ctx, bson.D{{Key: "project", Value: db.Project()}, {Key: "name", Value: sw.Name}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "trials", Value: trials},
			{Key: "best", Value: sweep.Best{Trial: 1, Metric: 0.93, Model: f.model, Version: 2}}}}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// serve starts a test server over db with cfg's other fields.
func serve(t testing.TB, db *store.DB, cfg Config) (*httptest.Server, *testworld.Buffer) {
	t.Helper()
	logs := &testworld.Buffer{}
	if cfg.Store == nil {
		cfg.Store = func(context.Context) (*store.DB, error) { return db, nil }
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, logs
}

type response struct {
	code int
	body string
	h    http.Header
}

func get(t testing.TB, ts *httptest.Server, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return roundTrip(t, ts, req, hdr...)
}

// roundTrip sends req with the headers hdr (name, value, ...), following no
// redirect.
func roundTrip(t testing.TB, ts *httptest.Server, req *http.Request, hdr ...string) response {
	t.Helper()
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, string(b), res.Header}
}

func (r response) must(t testing.TB, code int, path string, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("GET %s: %d, want %d; body:\n%s", path, r.code, code, short(r.body, 3000))
	}
	for _, s := range contains {
		if !strings.Contains(r.body, s) {
			t.Errorf("GET %s: the body lacks %q; body:\n%s", path, s, short(r.body, 3000))
		}
	}
}

// checkPage checks what every HTML page must have: the security headers, and
// no unescaped HTML from the data.
func checkPage(t testing.TB, path string, r response) {
	t.Helper()
	csp := r.h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("GET %s: CSP %q allows inline code", path, csp)
	}
	if r.h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: X-Content-Type-Options %q", path, r.h.Get("X-Content-Type-Options"))
	}
	if strings.Contains(r.body, evil) || strings.Contains(r.body, `<script>alert`) {
		t.Errorf("GET %s: unescaped HTML from the store in the page:\n%s", path, r.body)
	}
	if n := strings.Count(r.body, "<script"); n != strings.Count(r.body, `<script src="/`) {
		t.Errorf("GET %s: %d script elements, not all of them files of this server", path, n)
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{StoreName: f.db.URL()})
	escaped := `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
	for _, c := range []struct {
		path     string
		contains []string
	}{
		{"/models", []string{"mnist-cnn", "v3", "prod=v2", "accuracy", "0.95", "m" + escaped, "/models/m%3Cscript%3E"}},
		{"/models/mnist-cnn", []string{"v1", "v2", "v3", "prod", `parent <a href="/models/mnist-cnn">mnist-cnn v2</a>`, `href="/runs/run-a"`, `href="/datasets/train"`, "2.9 KiB", "compare-form"}},
		{"/models/mnist-cnn/compare?v=1&v=3", []string{"<th>v1</th>", "<th>v3</th>", "param lr", `class="best">0.95`, escaped}},
		{"/models/" + url.PathEscape(f.evilName), []string{"m" + escaped}},
		{"/runs", []string{"run-a", "run-b", `data-runs="run-b"`, "mnist-cnn", "1–300", `<span class="st st-closed">closed</span>`, "validation/loss <b>0.02</b>"}},
		{"/runs/run-b?run=run-a", []string{`data-runs="run-b,run-a"`}},
		{"/datasets", []string{"(all)", "train", `{&#34;tags&#34;:[&#34;train&#34;]}`, ">10<"}},
		{"/datasets/train", []string{"10</b> samples", "cat", "dog", escaped, "tag" + escaped, `sample.png?key=s00`, "s09"}},
		{"/plans", []string{"sweep-1", "2/3 done, 1 failed", "no NATS server was given"}},
		{"/plans/sweep-1", []string{`data-task="trial-2"`, "st-failed", "st-succeeded", "diverged " + escaped, "<th class=\"num\">accuracy</th>", "0.91", "Cancel and retry are off", "<svg"}},
		{"/agents", []string{"No workflow to show: no NATS server was given"}},
		{"/sweeps", []string{`href="/sweeps/hp"`, "val_accuracy (max)", "2/3", "0.93", "mnist-cnn v2"}},
		{"/sweeps/hp", []string{`<tr data-trial="1" class="best">`, "0.001", escaped, "diverged " + escaped, `href="/runs/run-a"`}},
	} {
		r := get(t, ts, c.path)
		r.must(t, http.StatusOK, c.path, c.contains...)
		checkPage(t, c.path, r)
		if !strings.Contains(r.body, `<script src="/static/app.js"`) {
			t.Errorf("GET %s: the page does not load app.js", c.path)
		}
		// The live part alone, as the page's poll asks for it.
		lr := get(t, ts, c.path, "X-TL-Live", "1")
		lr.must(t, http.StatusOK, c.path+" (live)")
		if strings.Contains(lr.body, "<html") || len(lr.body) == 0 {
			t.Errorf("GET %s (live): want the live part only, got %d bytes:\n%s", c.path, len(lr.body), short(lr.body, 500))
		}
	}
	if r := get(t, ts, "/"); r.code != http.StatusSeeOther || r.h.Get("Location") != "/models" {
		t.Errorf("GET /: %d to %q, want 303 to /models", r.code, r.h.Get("Location"))
	}
	// The footer names the store, without a password (the embedded one has none).
	if r := get(t, ts, "/models"); !strings.Contains(r.body, "store "+f.db.URL()) {
		t.Errorf("the footer does not name the store %s", f.db.URL())
	}
}

func TestAssets(t *testing.T) {
	f := &fixture{}
	ts, _ := serve(t, f.db, Config{})
	for path, want := range map[string]string{
		"/static/app.js":            "uPlot",
		"/static/app.css":           ".st-failed",
		"/vendor/uPlot.iife.min.js": "uPlot",
		"/vendor/uPlot.min.css":     ".uplot",
		"/vendor/VERSION":           "license MIT",
		"/vendor/LICENSE":           "MIT License",
	} {
		r := get(t, ts, path)
		r.must(t, http.StatusOK, path, want)
		if r.h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	if r := get(t, ts, "/vendor/refresh.sh"); r.code != http.StatusNotFound {
		t.Errorf("GET /vendor/refresh.sh: %d, want 404 (the script is not served)", r.code)
	}
}

func TestAPI(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{MaxPoints: 100})
	decode := func(path string, v any) {
		t.Helper()
		r := get(t, ts, path)
		r.must(t, http.StatusOK, path)
		if ct := r.h.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, r.body)
		}
	}
	var ms []modelRow
	decode("/api/models", &ms)
	if len(ms) != 2 || ms[0].Name != "m"+evil || ms[1].Name != f.model || ms[1].Latest != 3 || ms[1].Versions != 3 {
		t.Errorf("/api/models: %+v", ms)
	}
	var m modelPage
	decode("/api/models/"+f.model, &m)
	if len(m.Versions) != 3 || m.Versions[0].Version != 3 || m.Versions[1].Aliases[0] != "prod" || m.Versions[2].Size != 1000 ||
		m.Versions[0].Lineage.Parent != "7:default:"+f.model+":v2" {
		t.Errorf("/api/models/%s: %+v", f.model, m)
	}
	var runs []runRow
	decode("/api/runs", &runs)
	if len(runs) != 2 || runs[0].Events != 301 || runs[0].FirstStep != 1 || runs[0].LastStep != 300 || runs[0].Model != f.model {
		t.Errorf("/api/runs: %+v", runs)
	}
	var se struct{ Runs []runSeries }
	decode("/api/series?run=run-a&run=run-b", &se)
	if len(se.Runs) != 2 || se.Runs[0].Run != "run-a" || se.Runs[0].LastStep != 300 {
		t.Fatalf("/api/series: %+v", se)
	}
	loss := se.Runs[0].Curves["loss"]
	if loss == nil || len(loss.X) > 100 || len(loss.X) < 50 || !se.Runs[0].Sampled {
		t.Errorf("/api/series: loss of 300 points with MaxPoints 100: %d points (sampled %v)", len(loss.X), se.Runs[0].Sampled)
	}
	if loss.Y[0] != 2 || loss.X[len(loss.X)-1] != 300 {
		t.Errorf("/api/series: the downsampled curve lost its ends: first %v at %d, last at %d", loss.Y[0], loss.X[0], loss.X[len(loss.X)-1])
	}
	for _, k := range []string{"accuracy", "lr", "speed", "validation/loss"} {
		if se.Runs[0].Curves[k] == nil {
			t.Errorf("/api/series: no curve %s: %v", k, se.Runs[0].Curves)
		}
	}
	decode("/api/series?run=run-a&after=295", &se)
	if c := se.Runs[0].Curves["loss"]; len(c.X) != 6 || c.X[0] != 295 || se.Runs[0].Sampled {
		t.Errorf("/api/series after=295: %+v", c)
	}
	var sp sweepPage
	decode("/api/sweeps/hp", &sp)
	if len(sp.Trials) != 3 || sp.Trials[0].N != 1 || sp.Trials[1].N != 0 || sp.Trials[2].Metric != nil || !sp.Trials[0].Best ||
		sp.Sweep.Done != 2 || sp.Sweep.Mode != "max" || strings.Join(sp.Params, ",") != "lr,note" {
		t.Errorf("/api/sweeps/hp: trials not best first, or wrong: %+v", sp)
	}
	var ds []datasetRow
	decode("/api/datasets", &ds)
	if len(ds) != 2 || ds[0].Name != allName || ds[1].Name != "train" || ds[1].Samples != 10 {
		t.Errorf("/api/datasets: %+v", ds)
	}
	var d datasetPage
	decode("/api/datasets/train", &d)
	if d.Samples != 10 || len(d.Labels) != 3 || d.Labels[0].Count != 4 || len(d.Keys) != 10 || len(d.Tags) != 2 {
		t.Errorf("/api/datasets/train: %+v", d)
	}
	var ps struct {
		Plans    []planRow
		Workflow workflow
	}
	decode("/api/plans", &ps)
	if len(ps.Plans) != 1 || ps.Plans[0].Progress != "2/3 done, 1 failed" || ps.Workflow.Error == "" {
		t.Errorf("/api/plans: %+v", ps)
	}
	var pp struct {
		Tasks   []taskRow
		Columns []string
	}
	decode("/api/plans/"+f.plan, &pp)
	if len(pp.Tasks) != 3 || pp.Tasks[1].Deps[0] != "prep" || pp.Tasks[1].Numbers["accuracy"] != 0.91 || strings.Join(pp.Columns, ",") != "accuracy,loss" {
		t.Errorf("/api/plans/%s: %+v", f.plan, pp)
	}
	var wf workflow
	decode("/api/agents", &wf)
	if wf.Error != "no NATS server was given" {
		t.Errorf("/api/agents: %+v", wf)
	}
	for path, code := range map[string]int{
		"/api/models/nope":              404,
		"/api/datasets/nope":            404,
		"/api/plans/nope":               404,
		"/api/series":                   400,
		"/api/series?run=run-a&after=x": 400,
	} {
		r := get(t, ts, path)
		if r.code != code || !strings.Contains(r.body, `"error"`) {
			t.Errorf("GET %s: %d %s, want %d with an error", path, r.code, r.body, code)
		}
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{})
	for path, want := range map[string]string{
		"/models/nope":                    `model &#34;nope&#34; is not in project`,
		"/models/mnist-cnn/compare?v=9":   "has no version 9",
		"/models/mnist-cnn/compare?v=abc": "is not a number",
		"/runs/nope":                      "has no events",
		"/datasets/nope":                  "is not defined",
		"/plans/nope":                     "is not recorded",
		"/plans/" + url.PathEscape(evil):  "is not recorded",
		"/sweeps/nope":                    "is not recorded",
	} {
		r := get(t, ts, path)
		r.must(t, http.StatusNotFound, path, want, "Not found")
		checkPage(t, path, r)
	}
	if r := get(t, ts, "/datasets/train/sample.png?key=nope"); r.code != http.StatusNotFound {
		t.Errorf("a missing sample: %d, want 404", r.code)
	}
	if r := get(t, ts, "/nothing-here"); r.code != http.StatusNotFound {
		t.Errorf("an unknown path: %d, want 404", r.code)
	}
}

func TestThumbnail(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{})
	r := get(t, ts, "/datasets/train/sample.png?key=s03")
	r.must(t, http.StatusOK, "sample.png")
	if r.h.Get("Content-Type") != "image/png" {
		t.Fatalf("Content-Type %q", r.h.Get("Content-Type"))
	}
	img, err := png.Decode(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 28 || b.Dy() != 28 {
		t.Fatalf("thumbnail of %v, want 28x28", b)
	}
	// Pixel (x=5, y=0) of sample 3 is 3*20 + 5%7 = 65.
	if g, _, _, _ := img.At(5, 0).RGBA(); g>>8 != 65 {
		t.Errorf("pixel (5,0) = %d, want 65", g>>8)
	}
}

// A run's images (a GAN's grids) show on the runs page and are served as PNG.
func TestRunImages(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{})
	r := get(t, ts, "/runs?run=run-a&run=run-b")
	r.must(t, http.StatusOK, "/runs", `<img src="/runs/run-a/image.png?step=150"`, "run-a · step 150")
	checkPage(t, "/runs", r)
	r = get(t, ts, "/runs/run-a/image.png?step=150")
	r.must(t, http.StatusOK, "the image")
	img, err := png.Decode(strings.NewReader(r.body))
	if err != nil || img.Bounds().Dx() != 12 || img.Bounds().Dy() != 8 || r.h.Get("Content-Type") != "image/png" {
		t.Fatalf("the image: %v %v %q", img, err, r.h.Get("Content-Type"))
	}
	for path, code := range map[string]int{
		"/runs/run-a/image.png?step=151": 404,
		"/runs/run-b/image.png?step=150": 404,
		"/runs/run-a/image.png?step=x":   400,
	} {
		if r := get(t, ts, path); r.code != code {
			t.Errorf("GET %s: %d, want %d", path, r.code, code)
		}
	}
	if r := get(t, ts, "/runs?run=run-b"); strings.Contains(r.body, "image.png") {
		t.Error("run-b logged no image, but its page shows one")
	}
}

// The queues: who serves each, how many tasks wait, and the queue with
// waiting tasks that no agent serves.
func TestQueues(t *testing.T) {
	ctx := context.Background()
	st := status.NewMemory()
	now := time.Now()
	if err := st.CreatePlan(ctx, &status.Plan{ID: "p", Status: plan.Running, Submitted: now}, []*status.Task{
		{Key: "p/a", Plan: "p", ID: "a", Queue: "gpu", Status: plan.Queued},
		{Key: "p/b", Plan: "p", ID: "b", Queue: "gpu", Status: plan.Queued, Index: 1},
		{Key: "p/c", Plan: "p", ID: "c", Queue: "cpu", Status: plan.Running, Index: 2},
	}); err != nil {
		t.Fatal(err)
	}
	w := workflow{Agents: []queue.AgentInfo{{ID: "a1", Queues: []string{"cpu"}}, {ID: "a2", Queues: []string{"cpu", "io"}}}}
	qs, err := queues(ctx, st, w)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(qs)
	if want := "[{cpu [a1 a2] 0} {gpu [] 2} {io [a2] 0}]"; got != want {
		t.Errorf("queues: %s, want %s", got, want)
	}
	s, err := New(Config{Store: func(context.Context) (*store.DB, error) { return nil, errors.New("down") }})
	if err != nil {
		t.Fatal(err)
	}
	p := s.base(httptest.NewRequest(http.MethodGet, "/agents", nil), "Agents", "agents", conns{})
	p.D = map[string]any{"W": w, "Queues": qs, "StoreError": ""}
	rec := httptest.NewRecorder()
	s.render(rec, httptest.NewRequest(http.MethodGet, "/agents", nil), "agents", p)
	for _, want := range []string{`<tr data-queue="gpu" class="unserved"><td>gpu</td><td><span class="err">no agent serves it</span></td><td class="num">2</td>`,
		`<td>cpu</td><td>a1, a2</td>`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("the agents page lacks %q:\n%s", want, rec.Body.String())
		}
	}
}

func TestParseParent(t *testing.T) {
	for id, want := range map[string]string{
		"7:default:cnn:v3":    "cnn v3",
		"7:default:a:b:c:v12": "a:b:c v12",
		"7:default:cnn:v0":    "",
		"4:prod:cnn:v3":       "", // another project
		"cnn/v3":              "",
		"7:default:cnn:vx":    "",
		"x:default:cnn:v3":    "",
		"7:defaultcnn:v3":     "",
	} {
		got := ""
		if p, ok := parseParent(id, "default"); ok {
			got = fmt.Sprintf("%s v%d", p.Name, p.Version)
		}
		if got != want {
			t.Errorf("parseParent(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestTensorImage(t *testing.T) {
	for _, c := range []struct {
		t    *dataset.Tensor
		w, h int
		err  bool
	}{
		{dataset.Uint8Tensor([]int{2, 3}, make([]uint8, 6)), 3, 2, false},
		{dataset.Float32Tensor([]int{3, 2, 4}, make([]float32, 24)), 4, 2, false}, // CHW
		{dataset.Float32Tensor([]int{2, 4, 3}, make([]float32, 24)), 4, 2, false}, // HWC
		{dataset.Int32Tensor([]int{5}, make([]int32, 5)), 0, 0, true},
		{dataset.Uint8Tensor([]int{2, 3}, make([]uint8, 5)), 0, 0, true},
	} {
		img, err := tensorImage(c.t)
		if c.err {
			if err == nil {
				t.Errorf("shape %v: no error", c.t.Shape)
			}
			continue
		}
		if err != nil || img.Bounds().Dx() != c.w || img.Bounds().Dy() != c.h {
			t.Errorf("shape %v: %v, %v", c.t.Shape, img, err)
		}
	}
	// Float images in [0, 1] are scaled to 0-255, not stretched.
	img, err := tensorImage(dataset.Float32Tensor([]int{1, 2}, []float32{0.5, 0.5}))
	if err != nil {
		t.Fatal(err)
	}
	if g, _, _, _ := img.At(0, 0).RGBA(); g>>8 != 128 {
		t.Errorf("0.5 drawn as %d, want 128", g>>8)
	}
}

func TestDownsample(t *testing.T) {
	c := &curve{}
	for i := range 10000 {
		c.X = append(c.X, int64(i))
		c.Y = append(c.Y, float64(i%100))
	}
	c.Y[5000] = 1e6 // a spike
	d := downsample(c, 1000)
	if len(d.X) > 1000 || len(d.X) < 900 {
		t.Fatalf("%d points, want at most 1000 and most of them", len(d.X))
	}
	spike := false
	for i, x := range d.X {
		if i > 0 && x <= d.X[i-1] {
			t.Fatalf("steps not increasing at %d: %d after %d", i, x, d.X[i-1])
		}
		spike = spike || d.Y[i] == 1e6
	}
	if !spike {
		t.Error("the spike was lost")
	}
}

func TestToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.168.1.2:80", "[::]:8080", "example.com:8080"} {
		if _, err := New(Config{Addr: addr, Store: func(context.Context) (*store.DB, error) { return nil, nil }}); !errors.Is(err, ErrNoToken) {
			t.Errorf("New on %s without a token: %v, want ErrNoToken", addr, err)
		}
	}
	for _, addr := range []string{"", "127.0.0.1:8080", "localhost:0", "[::1]:9000"} {
		if _, err := New(Config{Addr: addr, Store: func(context.Context) (*store.DB, error) { return nil, nil }}); err != nil {
			t.Errorf("New on %q: %v", addr, err)
		}
	}
	f := newFixture(t)
	const token = "s3cret-token-value"
	ts, logs := serve(t, f.db, Config{Addr: "0.0.0.0:8080", Token: token})
	for _, path := range []string{"/models", "/api/models", "/static/app.js", "/plans/sweep-1"} {
		if r := get(t, ts, path); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", path, r.code)
		}
		if r := get(t, ts, path, "Authorization", "Bearer wrong"); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, r.code)
		}
		if r := get(t, ts, path, "Cookie", cookieName+"=wrong"); r.code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong cookie: %d, want 401", path, r.code)
		}
		if r := get(t, ts, path, "Authorization", "Bearer "+token); r.code != http.StatusOK {
			t.Errorf("GET %s with the token: %d, want 200", path, r.code)
		}
	}
	if r := get(t, ts, "/events?page=/models"); r.code != http.StatusUnauthorized {
		t.Errorf("the event stream without the token: %d, want 401", r.code)
	}
	if r := get(t, ts, "/models?token=wrong"); r.code != http.StatusUnauthorized {
		t.Errorf("?token=wrong: %d", r.code)
	}
	r := get(t, ts, "/models?x=1&token="+token)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/models?x=1" {
		t.Fatalf("?token=: %d to %q, want 303 to /models?x=1", r.code, r.h.Get("Location"))
	}
	if r := get(t, ts, "//evil.example/x?token="+token); r.code != http.StatusSeeOther || r.h.Get("Location") != "/evil.example/x" {
		t.Errorf("?token= on //evil.example/x: %d to %q, want a path of this server", r.code, r.h.Get("Location"))
	}
	ck := r.h.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") {
		t.Errorf("cookie %q: want HttpOnly and SameSite=Strict", ck)
	}
	r = get(t, ts, "/plans/sweep-1", "Cookie", cookieName+"="+token)
	r.must(t, http.StatusOK, "/plans/sweep-1 with the cookie", "Cancel plan", `name="csrf"`, ">Retry</button>")
	if strings.Contains(r.body, token) {
		t.Error("the page shows the token")
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log shows the token:\n%s", logs.String())
	}
}

func TestHostCheck(t *testing.T) {
	f := &fixture{}
	ts, _ := serve(t, f.db, Config{})
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/static/app.css", nil)
	req.Host = "evil.example:8080" // DNS rebinding
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a request for Host evil.example without a token: %d, want 403", res.StatusCode)
	}
	req.Host = "localhost:8080"
	if res, err = ts.Client().Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("Host localhost: %d", res.StatusCode)
	}
}

// post sends a control request with the given headers and form.
func post(t testing.TB, ts *httptest.Server, path string, form url.Values, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return roundTrip(t, ts, req, hdr...)
}

func TestControlRefused(t *testing.T) {
	f := newFixture(t)
	// Without a token: no control at all, even same-origin.
	open, _ := serve(t, f.db, Config{})
	origin := open.URL
	if r := post(t, open, "/plans/sweep-1/cancel", url.Values{}, "Origin", origin, "Sec-Fetch-Site", "same-origin"); r.code != http.StatusForbidden ||
		!strings.Contains(r.body, "--token") {
		t.Errorf("cancel without a token configured: %d %s, want 403 saying --token", r.code, r.body)
	}
	const token = "tok"
	s, err := New(Config{Token: token, Store: func(context.Context) (*store.DB, error) { return f.db, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	csrf := s.csrfToken()
	good := url.Values{"csrf": {csrf}}
	auth := []string{"Authorization", "Bearer " + token}
	for _, c := range []struct {
		name string
		form url.Values
		hdr  []string
		code int
		why  string
	}{
		{"no token", good, []string{"Origin", ts.URL}, 401, "token"},
		{"foreign Origin", good, append(auth, "Origin", "https://evil.example"), 403, "cross-origin"},
		{"cross-site fetch", good, append(auth, "Origin", ts.URL, "Sec-Fetch-Site", "cross-site"), 403, "cross-site"},
		{"same-site but another origin", good, append(auth, "Sec-Fetch-Site", "same-site"), 403, "cross-site"},
		{"no Origin nor Sec-Fetch-Site", good, auth, 403, "no Origin"},
		{"Origin null alone", good, append(auth, "Origin", "null"), 403, "no Origin"},
		{"same-origin fetch from a foreign Origin", good, append(auth, "Origin", "https://evil.example", "Sec-Fetch-Site", "same-origin"), 403, "cross-origin"},
		{"no CSRF token", url.Values{}, append(auth, "Origin", ts.URL), 403, "CSRF"},
		{"wrong CSRF token", url.Values{"csrf": {"00" + csrf[2:]}}, append(auth, "Origin", ts.URL), 403, "CSRF"},
		// All the checks pass; no NATS: the master cannot be reached.
		{"no NATS", good, append(auth, "Origin", ts.URL, "Sec-Fetch-Site", "same-origin"), 503, "no NATS"},
	} {
		r := post(t, ts, "/plans/sweep-1/cancel", c.form, c.hdr...)
		if r.code != c.code || !strings.Contains(r.body, c.why) {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, r.code, r.body, c.code, c.why)
		}
	}
	if r := get(t, ts, "/plans/sweep-1/cancel", auth...); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET of the cancel URL: %d, want 405", r.code)
	}
}

// TestNoCredentials: a password in the store's URL appears in no page, no
// API answer and no log line, whether the store answers or not.
func TestNoCredentials(t *testing.T) {
	const secret = "pa55w0rd-xyz"
	storeURL := "mongodb://alice:" + secret + "@db.internal:27017/tl"
	ts, logs := serve(t, nil, Config{StoreName: storeURL, NATS: nil, NoNATS: "nats://bob:" + secret + "@nats.internal:4222 does not answer",
		Store: func(context.Context) (*store.DB, error) {
			return nil, fmt.Errorf("store: server %s does not answer: dial tcp: connection refused", storeURL)
		}})
	for _, path := range []string{"/models", "/models/x", "/runs", "/runs/r", "/datasets", "/datasets/train", "/plans", "/plans/p",
		"/agents", "/api/models", "/api/runs", "/api/series?run=r", "/api/datasets", "/api/plans", "/api/agents", "/datasets/train/sample.png?key=k"} {
		r := get(t, ts, path)
		if strings.Contains(r.body, secret) {
			t.Errorf("GET %s shows the password:\n%s", path, r.body)
		}
		if path == "/models" {
			r.must(t, http.StatusServiceUnavailable, path, "The store is unavailable", "alice:xxxxx@db.internal", "connection refused")
			checkPage(t, path, r)
		}
	}
	if l := logs.String(); strings.Contains(l, secret) || !strings.Contains(l, "xxxxx") {
		t.Errorf("the log shows the password, or not the store's failure:\n%s", l)
	}
}

// flaky is a TCP proxy in front of a store that can be taken down and
// brought back on the same address.
type flaky struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newFlaky(t *testing.T, db *store.DB) *flaky {
	target := strings.TrimPrefix(db.URL(), "mongodb://")
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[:i]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flaky{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *flaky) url() string {
	return "mongodb://" + p.ln.Addr().String() + "/?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
}

func (p *flaky) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestDeadStore: a store that goes away makes the pages a clear error page
// (503), the server keeps serving, and the pages come back with the store;
// a store that is down at the start is opened once it answers.
func TestDeadStore(t *testing.T) {
	f := newFixture(t)
	p := newFlaky(t, f.db)
	p.setDown(true) // down from the start
	ts, _ := serve(t, nil, Config{Retry: 100 * time.Millisecond, Store: func(ctx context.Context) (*store.DB, error) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return store.Open(ctx, store.Config{URL: p.url(), Database: f.db.Database().Name()})
	}})
	r := get(t, ts, "/models")
	r.must(t, http.StatusServiceUnavailable, "/models (store down at start)", "The store is unavailable", "comes back by itself")
	checkPage(t, "/models", r)
	p.setDown(false)
	time.Sleep(150 * time.Millisecond) // Retry
	get(t, ts, "/models").must(t, http.StatusOK, "/models (store up)", f.model)
	p.setDown(true)
	for _, path := range []string{"/models", "/datasets/train", "/plans/sweep-1"} {
		get(t, ts, path).must(t, http.StatusServiceUnavailable, path+" (store gone)", "The store is unavailable")
	}
	// The runs pages read the runs' summaries: with the store gone they say
	// so (within the connection's timeouts).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := get(t, ts, "/runs")
		if r.code == http.StatusServiceUnavailable {
			r.must(t, http.StatusServiceUnavailable, "/runs (store gone)", "The store is unavailable")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/runs still answers %d 20s after the store went away", r.code)
		}
	}
	if r := get(t, ts, "/api/models"); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, `"error"`) {
		t.Errorf("/api/models with the store gone: %d %s", r.code, r.body)
	}
	get(t, ts, "/static/app.css").must(t, http.StatusOK, "/static/app.css (store gone)")
	p.setDown(false)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := get(t, ts, "/models")
		if r.code == http.StatusOK {
			r.must(t, http.StatusOK, "/models (store back)", f.model)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store is back but /models still answers %d:\n%s", r.code, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWorkflow runs an embedded NATS, a master and an agent in this process:
// the agents page shows the agent and the leading master, the plan page
// follows a plan's tasks, and cancel and retry from the page reach the master.
func TestWorkflow(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	quiet := slog.New(slog.DiscardHandler)
	st, err := status.NewMongo(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	testworld.RunMaster(t, master.Config{NATSURL: ns.URL(), Store: st, Tick: 200 * time.Millisecond, Log: quiet, LeaseTTL: 2 * time.Second, ID: "master-ui"})
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		t.Fatal(err)
	}
	testworld.RunAgent(t, agent.Config{NATSURL: ns.URL(), Queues: []string{plan.DefaultQueue}, Registry: reg, ID: "agent-ui",
		Grace: time.Second, RetryDelay: 100 * time.Millisecond, Log: quiet})

	const token = "workflow-token"
	s, err := New(Config{Token: token, Refresh: time.Second,
		Store: func(context.Context) (*store.DB, error) { return f.db, nil },
		NATS: func(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
			return queue.Connect(ctx, ns.URL(), "tl ui test", quiet)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	auth := []string{"Authorization", "Bearer " + token}

	waitFor := func(what, path string, ok func(body string) bool) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := get(t, ts, path, auth...)
			if r.code == http.StatusOK && ok(r.body) {
				return r.body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: GET %s after 30s: %d\n%s", what, path, r.code, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("the agent and the master", "/agents", func(b string) bool {
		return strings.Contains(b, "<td>agent-ui</td>") && strings.Contains(b, "Master <b>master-ui</b> leads") &&
			strings.Contains(b, `<span class="tag">cpu</span>`) && strings.Contains(b, `<td>cpu</td><td>agent-ui</td>`)
	})

	nc, js, err := queue.Connect(ctx, ns.URL(), "test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	spec, err := plan.Parse([]byte(`
name: ui
tasks:
  - {id: nap, kind: sleep, params: {duration: 200ms}}
  - {id: long, kind: sleep, params: {duration: 1m}, deps: [nap]}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		t.Fatal(err)
	}
	path := "/plans/" + id
	body := waitFor("nap succeeded, long running", path, func(b string) bool {
		return strings.Contains(b, `<g class="node st-succeeded" data-task="nap">`) && strings.Contains(b, `<g class="node st-running" data-task="long">`)
	})
	if !strings.Contains(body, "Cancel plan") || !strings.Contains(body, `id="plan-status">running`) {
		t.Fatalf("a running plan's page with the token has no cancel button:\n%s", body)
	}
	waitFor("the agent runs long", "/agents", func(b string) bool { return strings.Contains(b, id+"/long") })
	waitFor("the plans page", "/plans", func(b string) bool { return strings.Contains(b, id) && !strings.Contains(b, "Workflow:") })

	// A foreign page's POST is refused and changes nothing.
	form := url.Values{"csrf": {s.csrfToken()}}
	if r := post(t, ts, path+"/cancel", form, append(auth, "Origin", "https://evil.example")...); r.code != http.StatusForbidden {
		t.Fatalf("a cross-origin cancel: %d %s", r.code, r.body)
	}
	time.Sleep(500 * time.Millisecond)
	if b := get(t, ts, path, auth...).body; !strings.Contains(b, `id="plan-status">running`) {
		t.Fatalf("a refused cancel changed the plan:\n%s", b)
	}
	r := post(t, ts, path+"/cancel", form, append(auth, "Origin", ts.URL, "Sec-Fetch-Site", "same-origin")...)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != path+"?sent=cancel" {
		t.Fatalf("cancel: %d to %q: %s", r.code, r.h.Get("Location"), r.body)
	}
	get(t, ts, path+"?sent=cancel", auth...).must(t, http.StatusOK, path, "Cancel sent to the master.")
	waitFor("the plan cancelled", path, func(b string) bool {
		return strings.Contains(b, `id="plan-status">cancelled`) && strings.Contains(b, `<g class="node st-cancelled" data-task="long">`) &&
			strings.Contains(b, `name="task" value="long"`)
	})
	form.Set("task", "long")
	if r := post(t, ts, path+"/retry", form, append(auth, "Origin", ts.URL)...); r.code != http.StatusSeeOther {
		t.Fatalf("retry: %d %s", r.code, r.body)
	}
	// The master takes the retry: a fresh attempt budget (attempt N/4: 1 used
	// before, 3 more). (An agent that saw the cancel drops the plan's tasks
	// for an hour, so the task does not run again here: the agent's matter.)
	waitFor("long retried", path, func(b string) bool {
		return strings.Contains(b, `<title>long: `) && strings.Contains(b, `/4</title>`)
	})
}
