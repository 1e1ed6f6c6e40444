package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
)

// BenchmarkPages measures the first render of the pages over the embedded
// store (FerretDB over SQLite) holding 1,000 model versions (10 models of
// 100) and 100,000 events (a long run of 60,000 steps and 4 runs of 10,000),
// each with 4 values. "cold" opens the store again (a new embedded server
// and connection over the same files) and a new Server for every render,
// as a fresh `tl ui` meets its first visitor; "warm" renders again on one
// server. A run's curve page is two requests: the page (its table of runs)
// and the curves the page's script fetches, downsampled to MaxPoints (1,000)
// per curve. ms-median is the median time of a render; bytes/page is what
// the browser receives; cpu-ms-median is the CPU time of the process (the
// embedded server included) in a render, steadier than wall time on a shared
// machine. docs/BENCHMARKS.md records the numbers.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
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
	for _, r := range []struct {
		run string
		n   int64
	}{{"long", 60000}, {"r1", 10000}, {"r2", 10000}, {"r3", 10000}, {"r4", 10000}} {
		w, err := events.NewWriter(db, events.Options{Model: "model-0", Run: r.run, Buffer: 1 << 17, BatchSize: 2000})
		if err != nil {
			b.Fatal(err)
		}
		for i := int64(1); i <= r.n; i++ {
			w.Step(i, map[string]float64{"loss": 1 / float64(i), "accuracy": 1 - 1/float64(i), "lr": 0.01, "speed": 1000 + float64(i%100)})
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		if _, dropped := w.Stats(); dropped > 0 {
			b.Fatalf("run %s: %d events dropped", r.run, dropped)
		}
	}
	if err := db.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("processor: %s", bench.CPUName())

	open := func(b *testing.B) (*store.DB, http.Handler) {
		db, err := store.Open(ctx, store.Config{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(Config{Store: func(context.Context) (*store.DB, error) { return db, nil }})
		if err != nil {
			b.Fatal(err)
		}
		return db, s.Handler()
	}
	get := func(b *testing.B, h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	pages := map[string][]string{
		"models":     {"/models"},
		"model":      {"/models/model-0"},
		"runs":       {"/runs"},
		"curve_long": {"/runs/long", "/api/series?run=long"},
		"curve_5":    {"/runs/long?run=r1&run=r2&run=r3&run=r4", "/api/series?run=long&run=r1&run=r2&run=r3&run=r4"},
	}
	report := func(b *testing.B, times, cpus []time.Duration, bytes int) {
		slices.Sort(times)
		slices.Sort(cpus)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median")
		b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms-max")
		b.ReportMetric(float64(cpus[len(cpus)/2].Microseconds())/1000, "cpu-ms-median")
		b.ReportMetric(float64(bytes), "bytes/page")
	}
	for _, name := range []string{"models", "model", "runs", "curve_long", "curve_5"} {
		paths := pages[name]
		b.Run("cold/"+name, func(b *testing.B) {
			var times, cpus []time.Duration
			n := 0
			for range b.N {
				b.StopTimer()
				db, h := open(b)
				b.StartTimer()
				t0, c0 := time.Now(), cpuTime()
				n = 0
				for _, p := range paths {
					n += get(b, h, p)
				}
				times, cpus = append(times, time.Since(t0)), append(cpus, cpuTime()-c0)
				b.StopTimer()
				if err := db.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			report(b, times, cpus, n)
		})
		b.Run("warm/"+name, func(b *testing.B) {
			db, h := open(b)
			defer db.Close(ctx)
			for _, p := range paths {
				get(b, h, p)
			}
			var times, cpus []time.Duration
			n := 0
			for range b.N {
				t0, c0 := time.Now(), cpuTime()
				n = 0
				for _, p := range paths {
					n += get(b, h, p)
				}
				times, cpus = append(times, time.Since(t0)), append(cpus, cpuTime()-c0)
			}
			report(b, times, cpus, n)
		})
	}
}

// cpuTime is the CPU time this process has used, the embedded server's included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
