package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// ScreenshotsEnv names a directory where TestBrowser writes a screenshot of
// each page (default: a temporary directory, removed after the test).
const ScreenshotsEnv = "TL_UI_SCREENSHOTS"

// chromium finds Debian's chromium (TL_CHROMIUM names another binary).
func chromium() (string, error) {
	if p := os.Getenv("TL_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH (apt-get install -y chromium)")
}

// TestBrowser loads every page in headless Chromium: no page logs a console
// error or breaks the CSP, the runs page draws its charts and adds the points
// a live run logs without a reload, and a plan's task changes colour when its
// record says it finished. A screenshot of each page is written.
func TestBrowser(t *testing.T) {
	bin, err := chromium()
	testenv.Require(t, "Chromium", err)
	f := newFixture(t)
	ctx := context.Background()

	// A run that goes on while the browser looks at it.
	w, err := events.NewWriter(f.db, events.Options{Model: f.model, Run: "live-run", Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 50; i++ {
		w.Step(i, map[string]float64{"loss": 1 / float64(i), "accuracy": 1 - 1/float64(i)})
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var logging sync.WaitGroup
	stop := make(chan struct{})
	logging.Go(func() {
		for i := int64(51); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				w.Step(i, map[string]float64{"loss": 1 / float64(i), "accuracy": 1 - 1/float64(i)})
			}
		}
	})
	t.Cleanup(func() { close(stop); logging.Wait(); _ = w.Close(context.Background()) })

	// trial-2 runs again, to finish while the plan page is open.
	st, err := status.NewMongo(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	setStatus := func(s plan.Status) {
		t.Helper()
		ts, err := st.Tasks(ctx, f.plan)
		if err != nil {
			t.Fatal(err)
		}
		tr := ts[2]
		tr.Status, tr.Error, tr.Updated = s, "", time.Now()
		if err := st.SaveTask(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(plan.Running)

	s, err := New(Config{Refresh: 300 * time.Millisecond, Store: func(context.Context) (*store.DB, error) { return f.db, nil }})
	if err != nil {
		t.Fatal(err)
	}
	// noStream refuses the event streams, to see the pages fall back to polling.
	var noStream atomic.Bool
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" && noStream.Load() {
			http.Error(w, "event streams are off in this test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()

	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		testenv.Require(t, "a working Chromium", fmt.Errorf("start %s: %w", bin, err))
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	messages := chromedp.Console(bctx) // subscribed from here on
	var reading sync.WaitGroup
	defer reading.Wait()
	defer cancelBrowser()
	reading.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s %s)", m, m.Source, m.URL))
				mu.Unlock()
			}
		}
	})
	checkProblems := func(page string) {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // the last messages in flight
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("%s: %s", page, p)
		}
		problems = nil
	}
	shoot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot of %s: %v", name, err)
		}
		p := filepath.Join(shots, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}

	// Every page loads, its script runs (the live dot turns green) and nothing
	// is logged as an error.
	for _, pg := range []struct{ name, path string }{
		{"models", "/models"},
		{"model", "/models/" + f.model},
		{"compare", "/models/" + f.model + "/compare?v=1&v=2&v=3"},
		{"datasets", "/datasets"},
		{"dataset", "/datasets/train"},
		{"plans", "/plans"},
		{"agents", "/agents"},
		{"sweeps", "/sweeps"},
		{"sweep", "/sweeps/hp"},
		{"notfound", "/models/nope"},
	} {
		ready := chromedp.CSS("#live-dot.ok")
		if pg.name == "notfound" { // a 404 page does not poll
			ready = chromedp.CSS(".error-box")
		}
		err := chromedp.Do(bctx,
			chromedp.Navigate(srv.URL+pg.path),
			chromedp.WaitVisible(ready),
			chromedp.Sleep(700*time.Millisecond), // a poll or two
		)
		if err != nil {
			t.Fatalf("%s: %v", pg.path, err)
		}
		title, err := chromedp.Run(bctx, chromedp.Title())
		if err != nil {
			t.Fatalf("%s: %v", pg.path, err)
		}
		thumbs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll(".thumbs img")).filter(i => i.complete && i.naturalWidth === 28).length`))
		if err != nil {
			t.Fatalf("%s: %v", pg.path, err)
		}
		if !strings.HasSuffix(title, "· tl") {
			t.Errorf("%s: title %q", pg.path, title)
		}
		if pg.name == "dataset" && thumbs != 10 {
			t.Errorf("%s: %d thumbnails drawn from their PNGs, want 10", pg.path, thumbs)
		}
		shoot(pg.name)
		if pg.name != "notfound" { // the 404 itself is logged by Chromium
			checkProblems(pg.path)
		}
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		problems = nil
		mu.Unlock()
	}

	// On a phone's screen no page is wider than the screen: wide tables
	// scroll in their own box.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/models", "/models/" + f.model, "/runs", "/datasets/train", "/plans/" + f.plan, "/agents"} {
		if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("#live-dot.ok")),
			chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatalf("%s on a phone: %v", path, err)
		}
		w, err := chromedp.Run(bctx, chromedp.Evaluate[[]float64](`[document.documentElement.scrollWidth, window.innerWidth]`))
		if err != nil {
			t.Fatal(err)
		}
		if len(w) != 2 || w[0] > w[1] {
			t.Errorf("%s on a phone: the page is %v px wide on a %v px screen", path, w[0], w[1])
		}
		if path == "/runs" {
			shoot("runs-phone")
		}
	}
	if err := chromedp.Do(bctx, chromedp.EmulateReset()); err != nil {
		t.Fatal(err)
	}
	checkProblems("phone")

	// The runs page: two runs overlaid, a chart per metric drawn on a canvas,
	// and the live run's new steps arrive without a reload.
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/runs/live-run?run=run-a"),
		chromedp.WaitVisible(chromedp.CSS(`#charts .chart[data-metric="loss"] canvas`)),
		chromedp.Sleep(300*time.Millisecond),
	); err != nil {
		t.Fatalf("runs page: %v", err)
	}
	eval(`window.__noReload = true`)
	charts := eval(`document.querySelectorAll("#charts .chart").length`)
	inked := eval(`(() => { const c = document.querySelector('#charts .chart[data-metric="loss"] canvas');
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
		for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`)
	series := eval(`document.querySelectorAll('#charts .chart[data-metric="loss"] .u-legend .u-series').length`)
	overlaid := eval(`document.getElementById("charts").dataset.runs`)
	points := func() float64 {
		v, _ := eval(`Number(document.querySelector('#charts .chart[data-metric="loss"]').dataset.points)`).(float64)
		return v
	}
	before := points()
	if c, _ := charts.(float64); c < 2 || inked.(float64) < 500 || series.(float64) != 3 || overlaid != "live-run,run-a" || before < 50 {
		t.Errorf("runs page: %v charts, %v inked pixels in the loss chart, %v legend entries (want step and 2 runs), runs %q, %v points",
			charts, inked, series, overlaid, before)
	}
	deadline := time.Now().Add(20 * time.Second)
	for points() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the loss chart has %v points, as it had 20s ago: the live run's new steps did not arrive", points())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if eval(`window.__noReload === true`) != true {
		t.Fatal("the runs page was reloaded")
	}
	if how := eval(`document.body.dataset.live`); how != "sse" {
		t.Errorf("the runs page stays live by %v, want server-sent events (sse)", how)
	}
	shoot("runs")
	checkProblems("/runs")

	// The plan page: trial-2 is running (blue); when its record says it
	// succeeded, its node turns green without a reload.
	cls := func() string {
		v, _ := eval(`document.querySelector('g.node[data-task="trial-2"]').getAttribute("class")`).(string)
		return v
	}
	fill := func() string {
		v, _ := eval(`getComputedStyle(document.querySelector('g.node[data-task="trial-2"] rect')).fill`).(string)
		return v
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/plans/"+f.plan),
		chromedp.WaitVisible(chromedp.CSS(`#live-dot.ok`)),
	); err != nil {
		t.Fatalf("plan page: %v", err)
	}
	eval(`window.__noReload = true`)
	if c := cls(); !strings.Contains(c, "st-running") {
		t.Fatalf("trial-2's node has class %q, want st-running", c)
	}
	fill1 := fill()
	setStatus(plan.Succeeded)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(cls(), "st-succeeded") {
		if time.Now().After(deadline) {
			t.Fatalf("trial-2 succeeded 10s ago but its node still has class %q", cls())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fill2 := fill(); fill1 == fill2 || eval(`window.__noReload === true`) != true {
		t.Errorf("trial-2's colour %q before and %q after it finished, or the page was reloaded", fill1, fill2)
	}
	// The tasks table sorts by a column on a click, and keeps that order
	// across live updates.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#tasks thead th:nth-child(1)`)),
		chromedp.Click(chromedp.CSS(`#tasks thead th:nth-child(1)`)),
		chromedp.Sleep(800*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	if order := eval(`Array.from(document.querySelectorAll("#tasks tbody tr")).map(r => r.dataset.task).join(",")`); order != "trial-2,trial-1,prep" {
		t.Errorf("tasks sorted by id, descending: %q", order)
	}
	if how := eval(`document.body.dataset.live`); how != "sse" {
		t.Errorf("the plan page stays live by %v, want server-sent events (sse)", how)
	}
	shoot("plan")
	checkProblems("/plans/" + f.plan)

	// Without event streams the runs page polls, and the live run's points
	// still arrive.
	noStream.Store(true)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/runs/live-run"),
		chromedp.WaitVisible(chromedp.CSS(`#charts .chart[data-metric="loss"] canvas`)),
	); err != nil {
		t.Fatalf("runs page without event streams: %v", err)
	}
	eval(`window.__noReload = true`)
	before = points()
	deadline = time.Now().Add(20 * time.Second)
	for points() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("without event streams the loss chart has %v points, as it had 20s ago", points())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if how := eval(`document.body.dataset.live`); how != "poll" || eval(`window.__noReload === true`) != true {
		t.Errorf("without event streams the runs page is live by %v (want poll), or was reloaded", how)
	}
	noStream.Store(false)
	mu.Lock()
	problems = nil // Chromium logs the refused stream
	mu.Unlock()

	// With a token: the first visit's ?token= becomes a cookie, and the cancel
	// button's POST passes the same-origin and CSRF checks (there is no NATS
	// here, so the answer is that the master cannot be reached).
	const token = "browser-token"
	s2, err := New(Config{Token: token, Store: func(context.Context) (*store.DB, error) { return f.db, nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(s2.Handler())
	defer srv2.Close()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv2.URL+"/plans/"+f.plan+"?token="+token),
		chromedp.WaitVisible(chromedp.CSS(`button.danger`)),
	); err != nil {
		t.Fatalf("plan page with a token: %v", err)
	}
	if loc := eval(`location.search`); loc != "" {
		t.Errorf("the token stays in the address bar: %q", loc)
	}
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`button.danger`)),
		chromedp.Sleep(500*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	if body := eval(`document.body.innerText`); !strings.Contains(fmt.Sprint(body), "the master cannot be reached") {
		t.Errorf("the cancel button's POST: %q, want it past the checks (the master cannot be reached)", body)
	}
	mu.Lock()
	problems = nil // the 503 of that POST
	mu.Unlock()
}
