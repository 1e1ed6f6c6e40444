package events

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
)

// cpuTime is the CPU time this process has used (the embedded server runs
// in it): on a machine shared with other work it varies less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReadRun reads one run of 10,000 events (4 values each) from the
// embedded store (FerretDB over SQLite) holding 20,000: by the run field (what
// Find does), by an _id range over the run's prefix (what an index on _id
// answers on MongoDB), and what the dashboard reads instead, the run's
// summary and its downsampled curves (lookups by _id). FerretDB's SQLite
// backend pushes down an _id equality and nothing else, so the range scans
// like the field filter.
func BenchmarkReadRun(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close(context.Background()) })
	for _, run := range []string{"a", "b"} {
		w, err := NewWriter(db, Options{Model: "m", Run: run, Buffer: 1 << 15, BatchSize: 2000})
		if err != nil {
			b.Fatal(err)
		}
		for i := int64(1); i <= 10000; i++ {
			w.Step(i, map[string]float64{"loss": 1 / float64(i), "accuracy": 1 - 1/float64(i), "lr": 0.01, "speed": 1000})
		}
		if err := w.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	prefix := eventIDPrefix(db.Project(), "m", "a")
	reads := []struct {
		name string
		read func() (int, error)
	}{
		{"field", func() (int, error) {
			evs, err := Find(ctx, db, Query{Run: "a"})
			return len(evs), err
		}},
		{"id_range", func() (int, error) {
			dctx, cancel := store.Detach(ctx)
			defer cancel()
			cur, err := db.Collection(Collection).Find(dctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: prefix}, {Key: "$lt", Value: prefix + "\xff"}}}},
				options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				return 0, err
			}
			var evs []Event
			err = cur.All(dctx, &evs)
			return len(evs), err
		}},
		{"summary", func() (int, error) {
			s, err := RunSummary(ctx, db, "a")
			if err != nil {
				return 0, err
			}
			return int(s.Events), nil
		}},
		{"curves", func() (int, error) {
			cs, err := RunCurves(ctx, db, "a")
			if err != nil {
				return 0, err
			}
			return int(cs.Curves[0].Points), nil
		}},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				n, err := r.read()
				if err != nil || n != 10000 {
					b.Fatalf("%s: %d events, %v", r.name, n, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
