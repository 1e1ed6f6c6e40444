package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
)

// BenchmarkPages measures the pages over the embedded store (FerretDB over
// SQLite) holding 1,000 model versions (10 models of 100) and 100,000 events
// (a long run of 60,000 steps and 4 runs of 10,000), each with 4 values.
// Each page is rendered as a first visit does it, after one request has
// filled the events cache (scan_events measures a fill); bytes/page is what
// the browser receives. The series of the long run is downsampled to MaxPoints
// (1,000) per curve. docs/DESIGN.md records the numbers.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for m := range 10 {
		for v := range 100 {
			_, err := ms.Save(ctx, models.Spec{Name: fmt.Sprintf("model-%d", m), Params: map[string]any{"lr": 0.01},
				Metrics: map[string]float64{"accuracy": float64(v) / 100, "loss": 1 / float64(v+1)},
				Lineage: models.Lineage{Run: "long", Dataset: "train"}}, strings.NewReader("weights"))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for r, n := range map[string]int64{"long": 60000, "r1": 10000, "r2": 10000, "r3": 10000, "r4": 10000} {
		w, err := events.NewWriter(db, events.Options{Model: "model-0", Run: r, Buffer: 1 << 17, BatchSize: 2000})
		if err != nil {
			b.Fatal(err)
		}
		for i := int64(1); i <= n; i++ {
			w.Step(i, map[string]float64{"loss": 1 / float64(i), "accuracy": 1 - 1/float64(i), "lr": 0.01, "speed": 1000 + float64(i%100)})
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		if _, dropped := w.Stats(); dropped > 0 {
			b.Fatalf("run %s: %d events dropped", r, dropped)
		}
	}
	s, err := New(Config{Store: func(context.Context) (*store.DB, error) { return db, nil }})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	// What a cold cache costs: one scan of the events, which the run pages
	// share and which is redone at most every Refresh (or twice its time).
	b.Run("scan_events", func(b *testing.B) {
		for b.Loop() {
			if _, err := scanEvents(ctx, db); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, path := range []string{"/models", "/models/model-0", "/models/model-0/compare?v=1&v=100", "/runs", "/runs/long",
		"/api/series?run=long", "/api/series?run=long&run=r1&run=r2&run=r3&run=r4", "/plans"} {
		b.Run(strings.NewReplacer("/", "_", "?", "_", "&", "_", "=", "").Replace(path), func(b *testing.B) {
			var n int
			warm := httptest.NewRecorder()
			h.ServeHTTP(warm, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
				}
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n), "bytes/page")
		})
	}
}
