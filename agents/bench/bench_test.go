package bench_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/bench"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store/storetest"
)

func TestMain(m *testing.M) {
	bench.AgentMain()
	os.Exit(m.Run())
}

func natsServer(tb testing.TB) string {
	tb.Helper()
	s, err := queue.StartServer(context.Background(), queue.ServerConfig{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return s.URL()
}

// The harness itself works: a small run of each measurement.
func TestHarness(t *testing.T) {
	ctx := context.Background()
	url := natsServer(t)
	r, err := bench.Dispatch(ctx, url, status.NewMemory(), 2, 20)
	if err != nil || r.Tasks != 20 || r.PerSecond() <= 0 {
		t.Fatalf("Dispatch = %+v, %v", r, err)
	}
	cfg := bench.DefaultFig2
	cfg.Warmup, cfg.Window = 300*time.Millisecond, time.Second
	pts, err := bench.Figure2(ctx, url, []int{1, 2}, cfg)
	if err != nil || len(pts) != 2 || pts[0].SamplesPerSec <= 0 || pts[1].SamplesPerSec <= 0 {
		t.Fatalf("Figure2 = %+v, %v", pts, err)
	}
	ds, err := bench.FailureDetection(ctx, url, 2*time.Second, 1)
	if err != nil || len(ds) != 1 || ds[0] <= 0 || ds[0] > time.Minute {
		t.Fatalf("FailureDetection = %v, %v", ds, err)
	}
}

// BenchmarkDispatch: tasks per second through master, queue and agents (no-op tasks),
// with plan records in memory and in MongoDB (embedded FerretDB, SQLite).
func BenchmarkDispatch(b *testing.B) {
	url := natsServer(b)
	for _, store := range []string{"memory", "ferretdb"} {
		for _, agents := range []int{1, 4} {
			b.Run(fmt.Sprintf("store=%s/agents=%d", store, agents), func(b *testing.B) {
				var st status.Store = status.NewMemory()
				if store == "ferretdb" {
					s, err := status.NewMongo(context.Background(), storetest.Backends()[0].Open(b))
					if err != nil {
						b.Fatal(err)
					}
					st = s
				}
				b.ResetTimer()
				r, err := bench.Dispatch(context.Background(), url, st, agents, max(b.N, 10))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.PerSecond(), "tasks/s")
			})
		}
	}
}

// BenchmarkFailureDetection: kill -9 of an agent process to the task's restart on
// another agent, with a 2 s ack deadline (heartbeat every 667 ms).
func BenchmarkFailureDetection(b *testing.B) {
	url := natsServer(b)
	ds, err := bench.FailureDetection(context.Background(), url, 2*time.Second, b.N)
	if err != nil {
		b.Fatal(err)
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(len(ds)), "ms-to-redeliver")
}

// BenchmarkFigure2: the trainer's samples/s with 1, 2, 4 and 8 agents.
func BenchmarkFigure2(b *testing.B) {
	url := natsServer(b)
	for _, n := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			cfg := bench.DefaultFig2
			cfg.Window = 3 * time.Second
			for range b.N {
				pts, err := bench.Figure2(context.Background(), url, []int{n}, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(pts[0].SamplesPerSec, "samples/s")
			}
		})
	}
}

// ferretDB opens a fresh embedded FerretDB (SQLite) store of plan records.
func ferretDB(b *testing.B) status.Store {
	b.Helper()
	s, err := status.NewMongo(context.Background(), storetest.Backends()[0].Open(b))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRepeat: 100 plans of 200 no-op tasks one after the other through one
// master and 4 agents on one store: tasks/s of the first 10 plans, of the last
// 10, and last/first (flat is 1; the master used to slow 5x as history grew).
func BenchmarkRepeat(b *testing.B) {
	url := natsServer(b)
	for _, store := range []string{"memory", "ferretdb"} {
		b.Run("store="+store, func(b *testing.B) {
			for range b.N {
				var st status.Store = status.NewMemory()
				if store == "ferretdb" {
					st = ferretDB(b)
				}
				rs, err := bench.Repeat(context.Background(), url, st, 4, 200, 100)
				if err != nil {
					b.Fatal(err)
				}
				rate := func(rs []bench.DispatchResult) float64 {
					var n int
					var d time.Duration
					for _, r := range rs {
						n, d = n+r.Tasks, d+r.Elapsed
					}
					return float64(n) / d.Seconds()
				}
				first, last := rate(rs[:10]), rate(rs[len(rs)-10:])
				b.ReportMetric(first, "first10-tasks/s")
				b.ReportMetric(last, "last10-tasks/s")
				b.ReportMetric(last/first, "last/first")
				b.ReportMetric(rate(rs), "tasks/s")
			}
		})
	}
}

// BenchmarkBigPlan: a 10,000-task plan submitted with 4 agents serving its
// queue: seconds to its acceptance, and a 10-task plan's time submitted right
// after it on the same queue, against its time alone.
func BenchmarkBigPlan(b *testing.B) {
	url := natsServer(b)
	for _, store := range []string{"memory", "ferretdb"} {
		b.Run("store="+store, func(b *testing.B) {
			for range b.N {
				var st status.Store = status.NewMemory()
				if store == "ferretdb" {
					st = ferretDB(b)
				}
				r, err := bench.BigBeside(context.Background(), url, st, 4, 10000, 10)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.Accept.Seconds(), "s-to-accept")
				b.ReportMetric(r.SmallAlone.Seconds()*1000, "small-alone-ms")
				b.ReportMetric(r.SmallBeside.Seconds()*1000, "small-beside-ms")
				b.ReportMetric(float64(r.BigTasks)/r.Big.Seconds(), "big-tasks/s")
			}
		})
	}
}
