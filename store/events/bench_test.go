package events_test

import (
	"testing"
	"time"

	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/storetest"
)

// Events logged and written per second, Close included: the rate the
// background writer sustains. "log-ns" is what one Log call costs the
// training loop.
func BenchmarkWriter(b *testing.B) {
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) {
		db := be.Open(b)
		ctx := storetest.Context(b)
		b.ResetTimer()
		w, err := events.NewWriter(db, events.Options{Buffer: b.N + 1}) // nothing dropped
		if err != nil {
			b.Fatal(err)
		}
		var logTime time.Duration
		values := map[string]float64{"loss": 0.5, "accuracy": 0.9, "speed": 1000}
		for i := range b.N {
			t0 := time.Now()
			w.Step(int64(i), values)
			logTime += time.Since(t0)
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
		if written, dropped := w.Stats(); written != int64(b.N) || dropped != 0 {
			b.Fatalf("written %d, dropped %d of %d", written, dropped, b.N)
		}
		b.ReportMetric(float64(logTime.Nanoseconds())/float64(b.N), "log-ns")
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
