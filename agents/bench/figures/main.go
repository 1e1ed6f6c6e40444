// Command figures measures the workflow module and prints the tables of
// docs/BENCHMARKS.md (its workflow section), and draws the Figure 2 PNG:
//
//	go run ./agents/bench/figures -png docs/figures/workflow-agents.png
//
// Everything runs on an embedded nats-server (and embedded FerretDB for the
// MongoDB-recorded dispatch) in a temporary directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/tlgo/tl/agents/bench"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func main() {
	bench.AgentMain()
	png := flag.String("png", "", "write the Figure 2 plot to this PNG file")
	tasks := flag.Int("tasks", 2000, "tasks per dispatch run with plan records in memory")
	ftasks := flag.Int("ferret-tasks", 200, "tasks per dispatch run with plan records in FerretDB")
	reps := flag.Int("reps", 3, "repetitions per figure (the median is reported)")
	trials := flag.Int("trials", 5, "kills per failure-detection setting")
	flag.Parse()
	if err := run(context.Background(), *png, *tasks, *ftasks, *reps, *trials); err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(ctx context.Context, png string, tasks, ftasks, reps, trials int) error {
	dir, err := os.MkdirTemp("", "tl-figures")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	url := srv.URL()
	db, err := store.Open(ctx, store.Config{DataDir: filepath.Join(dir, "store")})
	if err != nil {
		return err
	}
	defer db.Close(context.Background())
	fmt.Printf("%s, GOMAXPROCS=%d, %s\n\n", runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))

	fmt.Println("Dispatch throughput (no-op tasks, plan submitted to all done; median of", reps, "runs):")
	fmt.Println()
	fmt.Println("| status store | agents | tasks | tasks/s |")
	fmt.Println("|---|---:|---:|---:|")
	for _, storeName := range []string{"memory", "FerretDB (SQLite)"} {
		for _, agents := range []int{1, 4} {
			var xs []float64
			n := tasks
			if storeName != "memory" {
				n = ftasks
			}
			for range reps {
				var st status.Store = status.NewMemory()
				if storeName != "memory" {
					if st, err = status.NewMongo(ctx, db); err != nil {
						return err
					}
				}
				r, err := bench.Dispatch(ctx, url, st, agents, n)
				if err != nil {
					return err
				}
				xs = append(xs, r.PerSecond())
			}
			fmt.Printf("| %s | %d | %d | %.0f |\n", storeName, agents, n, median(xs))
		}
	}

	fmt.Println()
	fmt.Println("Failure detection (kill -9 of the agent process to the next attempt's start on a waiting agent):")
	fmt.Println()
	fmt.Println("| ack wait | heartbeat | kills | min | median | max |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	for _, aw := range []time.Duration{2 * time.Second, 5 * time.Second} {
		ds, err := bench.FailureDetection(ctx, url, aw, trials)
		if err != nil {
			return err
		}
		var xs []float64
		for _, d := range ds {
			xs = append(xs, d.Seconds())
		}
		slices.Sort(xs)
		fmt.Printf("| %v | %v | %d | %.2f s | %.2f s | %.2f s |\n", aw, (aw / 3).Round(time.Millisecond), len(xs), xs[0], median(xs), xs[len(xs)-1])
	}

	cfg := bench.DefaultFig2
	counts := []int{1, 2, 4, 8}
	fmt.Println()
	fmt.Printf("Figure 2 shape (play %v per batch of %d samples x %d float32, train step %v per batch; trainer capacity %.0f samples/s; median of %d runs of %v):\n\n",
		cfg.PlayTime, cfg.BatchSize, cfg.Features, cfg.TrainTime, float64(cfg.BatchSize)/cfg.TrainTime.Seconds(), reps, cfg.Window)
	fmt.Println("| agents | batches/s | samples/s | trainer busy |")
	fmt.Println("|---:|---:|---:|---:|")
	var pts plotter.XYs
	for _, n := range counts {
		var bps, sps, busy []float64
		for range reps {
			p, err := bench.Figure2(ctx, url, []int{n}, cfg)
			if err != nil {
				return err
			}
			bps = append(bps, p[0].BatchesPerSec)
			sps = append(sps, p[0].SamplesPerSec)
			busy = append(busy, p[0].TrainerBusyPct)
		}
		fmt.Printf("| %d | %.1f | %.0f | %.0f%% |\n", n, median(bps), median(sps), median(busy))
		pts = append(pts, plotter.XY{X: float64(n), Y: median(sps)})
	}
	if png == "" {
		return nil
	}
	return drawFigure2(png, pts, cfg)
}

func drawFigure2(path string, pts plotter.XYs, cfg bench.Fig2Config) error {
	p := plot.New()
	p.Title.Text = "Training throughput vs. agents generating samples"
	p.X.Label.Text = "local agents"
	p.Y.Label.Text = "samples trained per second"
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max = 9
	capacity := float64(cfg.BatchSize) / cfg.TrainTime.Seconds()
	p.Y.Max = capacity * 1.25
	p.Add(plotter.NewGrid())

	perAgent := float64(cfg.BatchSize) / cfg.PlayTime.Seconds()
	ideal := plotter.XYs{{X: 0, Y: 0}, {X: capacity / perAgent, Y: capacity}, {X: 9, Y: capacity}}
	il, err := plotter.NewLine(ideal)
	if err != nil {
		return err
	}
	il.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	il.Color = color.Gray{Y: 120}
	p.Add(il)
	p.Legend.Add("model: min(agents x play rate, trainer capacity)", il)

	ln, sc, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	ln.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	ln.Width = vg.Points(1.5)
	sc.Shape = draw.CircleGlyph{}
	sc.Color = ln.Color
	sc.Radius = vg.Points(3)
	p.Add(ln, sc)
	p.Legend.Add("measured", ln, sc)
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(5)
	p.Legend.YOffs = vg.Points(5)
	p.NominalX("0", "1", "2", "3", "4", "5", "6", "7", "8", "")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(6*vg.Inch, 4*vg.Inch, path)
}
