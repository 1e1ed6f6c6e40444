package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readEvents sends the events of a stream to a channel until it ends.
func readEvents(t *testing.T, res *http.Response) <-chan sseEvent {
	t.Helper()
	out := make(chan sseEvent, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

func next(t *testing.T, evs <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("the stream ended before a %q event", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event in 20s", name)
		}
	}
}

// The event stream of a run page sends its live part and the run's curves at
// once, then the new points of a live run without being asked; a bad page
// is refused; shutting the server down ends the streams at once.
func TestStream(t *testing.T) {
	f := newFixture(t)
	ts, _ := serve(t, f.db, Config{Refresh: 100 * time.Millisecond})
	for _, page := range []string{"", "http://evil.example/runs", "/api/series", "/events?page=/runs", "/runs/run-a/image.png", "//evil.example/runs"} {
		if r := get(t, ts, "/events?page="+url.QueryEscape(page)); r.code != http.StatusBadRequest {
			t.Errorf("/events?page=%q: %d, want 400", page, r.code)
		}
	}

	w, err := events.NewWriter(f.db, events.Options{Model: f.model, Run: "live", Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	w.Step(1, map[string]float64{"loss": 1})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/events?page="+url.QueryEscape("/runs/live?run=run-a")+"&run=live", nil)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("/events: %d %q", res.StatusCode, ct)
	}
	evs := readEvents(t, res)
	var live struct {
		Status int    `json:"status"`
		HTML   string `json:"html"`
	}
	if err := json.Unmarshal([]byte(next(t, evs, "live").data), &live); err != nil {
		t.Fatal(err)
	}
	if live.Status != 200 || !strings.Contains(live.HTML, `href="/runs/live"`) || strings.Contains(live.HTML, "<html") {
		t.Errorf("first live event: %d %.200s", live.Status, live.HTML)
	}
	series := func() runSeries {
		t.Helper()
		var se struct{ Runs []runSeries }
		if err := json.Unmarshal([]byte(next(t, evs, "series").data), &se); err != nil || len(se.Runs) != 1 {
			t.Fatalf("series event: %+v, %v", se, err)
		}
		return se.Runs[0]
	}
	if s := series(); s.Run != "live" || s.LastStep != 1 || len(s.Curves["loss"].X) != 1 {
		t.Fatalf("first series event: %+v", s)
	}
	for i := int64(2); i <= 5; i++ {
		w.Step(i, map[string]float64{"loss": 1 / float64(i)})
	}
	// Both the curves and the runs table follow the run.
	gotSeries, gotTable := false, false
	timeout := time.After(20 * time.Second)
	for !gotSeries || !gotTable {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the stream ended")
			}
			switch ev.name {
			case "series":
				var se struct{ Runs []runSeries }
				if err := json.Unmarshal([]byte(ev.data), &se); err != nil || len(se.Runs) != 1 {
					t.Fatalf("series event: %+v, %v", se, err)
				}
				if s := se.Runs[0]; s.LastStep == 5 {
					if c := s.Curves["loss"]; len(c.X) != 5 || c.Y[4] != 0.2 {
						t.Errorf("series after 5 steps: %+v", c)
					}
					gotSeries = true
				}
			case "live":
				gotTable = gotTable || strings.Contains(ev.data, "1–5")
			}
		case <-timeout:
			t.Fatalf("in 20s after 4 more steps: new curves %v, new runs table %v", gotSeries, gotTable)
		}
	}
}

// ListenAndServe's shutdown ends the open event streams instead of waiting
// for them.
func TestStreamShutdown(t *testing.T) {
	f := newFixture(t)
	s, err := New(Config{Addr: "127.0.0.1:0", Refresh: 100 * time.Millisecond,
		Store: func(context.Context) (*store.DB, error) { return f.db, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, func(a string) { addrc <- a }) }()
	addr := <-addrc
	c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext}}
	res, err := c.Get("http://" + addr + "/events?page=/models")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	next(t, readEvents(t, res), "live")
	t0 := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("shutdown with a stream open took %v", d)
	}
}
