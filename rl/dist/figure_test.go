package dist_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/dist"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
)

// FigureEnv names the PNG BenchmarkFigure2 writes.
const FigureEnv = "TL_RLDIST_FIGURE"

// point is one measurement: players (0: the trainer alone on a prefilled
// stream), the samples per second the trainer consumed, and the CPU seconds
// per wall second of the trainer's and the players' processes.
type point struct {
	players                 int
	rate, trainerCPU, plCPU float64
	serverCPU               float64 // this process: NATS, the store, the master
	samples                 float64 // trained on, the drain included
	wall                    float64 // seconds from the submit to the plan's end
	undrained               bool
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFigure2 measures the paper's Figure 2 for real on this machine:
// the samples per second the trainer consumes against 1, 2 and 4 player
// agent processes (CartPole, 16 environments each, unroll 16, batch 16),
// each point a fresh run of TL_RLDIST_SECONDS (default 20) seconds, and the
// trainer's own ceiling alone, on a stream filled beforehand. The chart goes
// to TL_RLDIST_FIGURE (default rl-dist-figure2.png in the test's folder).
//
//	TL_RLDIST_FIGURE=$PWD/docs/figures/rl-dist-figure2.png go test ./rl/dist -run '^$' -bench Figure2 -benchtime 1x -v
func BenchmarkFigure2(b *testing.B) {
	t := b
	path := os.Getenv(FigureEnv)
	if path == "" {
		path = filepath.Join(b.TempDir(), "rl-dist-figure2.png")
	}
	secs, _ := strconv.Atoi(os.Getenv("TL_RLDIST_SECONDS"))
	if secs <= 0 {
		secs = 20
	}
	var pts []point
	pts = append(pts, ceiling(t, secs))
	for _, n := range []int{1, 2, 4} {
		pts = append(pts, measure(t, n, secs))
	}
	for _, p := range pts {
		t.Logf("players %d: %.0f samples/s; CPU seconds per wall second: trainer %.2f, players %.2f, servers and master %.2f (total %.2f of %d cores); samples per CPU second: trainer %.0f, players %.0f",
			p.players, p.rate, p.trainerCPU/p.wall, p.plCPU/p.wall, p.serverCPU/p.wall, (p.trainerCPU+p.plCPU+p.serverCPU)/p.wall, runtime.NumCPU(),
			p.samples/p.trainerCPU, p.samples/p.plCPU)
	}
	for _, p := range pts {
		if p.players > 0 && p.undrained {
			t.Errorf("the run of %d players did not drain: its numbers are not steady-state ones", p.players)
		}
	}
	if err := drawFigure(path, pts); err != nil {
		t.Fatal(err)
	}
}

// run submits a run of secs seconds and returns the trainer's output.
func runFor(t testing.TB, w *world, players, secs int) (dist.TrainerOutput, *testworld.Proc, []*testworld.Proc, time.Duration) {
	doc := fmt.Sprintf("name: fig\ntasks:\n  - {id: trainer, kind: rl-trainer, queue: QT, params: {run: fig, env: cartpole, unroll: 16, batch: 16, save_every: 10, duration: %ds, drain: 1m}}\n", secs)
	for i := 1; i <= players; i++ {
		doc += fmt.Sprintf("  - {id: p%d, kind: rl-player, queue: QP, params: {run: fig, envs: 16, seed: %d}}\n", i, i)
	}
	tr := w.agent("trainer", w.qt)
	var ps []*testworld.Proc
	for i := 1; i <= players; i++ {
		ps = append(ps, w.agent(fmt.Sprintf("player%d", i), w.qp))
	}
	start := time.Now()
	id := w.submit(doc)
	w.eventually("the run", time.Duration(secs)*time.Second+3*time.Minute, func() (bool, string) {
		s, err := w.status.Plan(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		return s.Status.Terminal(), w.describe(id)
	})
	wall := time.Since(start)
	var out dist.TrainerOutput
	if err := json.Unmarshal([]byte(w.taskOf(id, "trainer").Output), &out); err != nil {
		t.Fatalf("trainer output: %v (%s)", err, w.describe(id))
	}
	return out, tr, ps, wall
}

// cpuOf stops p (SIGTERM) and returns its CPU time.
func cpuOf(p *testworld.Proc) time.Duration {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	<-p.Done
	if p.Cmd.ProcessState == nil {
		return 0
	}
	return p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
}

func measure(t testing.TB, n, secs int) point {
	w := newWorld(t)
	c0 := selfCPU()
	out, tr, ps, wall := runFor(t, w, n, secs)
	sc := selfCPU() - c0
	var pc time.Duration
	for _, p := range ps {
		pc += cpuOf(p)
	}
	tc := cpuOf(tr)
	t.Logf("%d players: %s", n, mustJSON(out))
	return point{players: n, rate: out.Rate, trainerCPU: tc.Seconds(), plCPU: pc.Seconds(), serverCPU: sc.Seconds(),
		samples: float64(out.Trained * 16), wall: wall.Seconds(), undrained: out.Undrained}
}

// ceiling fills the stream with trajectories of a random policy (version
// 0), then runs the trainer alone on them: its rate is the trainer's
// ceiling, stream and decoding included, with no player competing for the
// cores.
func ceiling(t testing.TB, secs int) point {
	w := newWorld(t)
	js := w.agentJS()
	net := func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
		h := layers.Dense(x, "fc1", 64, layers.Tanh)
		h = layers.Dense(h, "fc2", 64, layers.Tanh)
		return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
	}
	vec, err := env.NewVec(16, 1, func(int) env.Env { return cartpole.New() })
	if err != nil {
		t.Fatal(err)
	}
	pl, err := a2c.NewPlayer(a2c.Config{ObsShape: []int{4}, NumActions: 2, Net: net, Unroll: 16, Batch: 1, Threads: 1}, vec, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	// More than the trainer can take in secs seconds (its rate alone is
	// below 6,000 trajectories a second here).
	total := 6000 * secs
	for seq := 0; seq < total; {
		trs, err := pl.Unroll(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trs {
			b, _ := tr.MarshalBinary()
			m := &nats.Msg{Subject: queue.RLSubject("fig", "pre"), Data: b, Header: nats.Header{}}
			m.Header.Set(dist.HeaderPlayer, "pre")
			m.Header.Set(dist.HeaderSeq, strconv.Itoa(seq))
			if _, err := js.PublishMsgAsync(m); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("prefill not acknowledged")
	}
	c0 := selfCPU()
	out, tr, _, wall := runFor(t, w, 0, secs)
	sc := selfCPU() - c0
	tc := cpuOf(tr)
	t.Logf("trainer alone, %d trajectories in the stream: %s", total, mustJSON(out))
	if out.Trained >= int64(total) {
		t.Errorf("the trainer took all %d trajectories: the prefill was too small to measure its ceiling", total)
	}
	return point{players: 0, rate: out.Rate, trainerCPU: tc.Seconds(), serverCPU: sc.Seconds(), samples: float64(out.Trained * 16), wall: wall.Seconds()}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func drawFigure(path string, pts []point) error {
	p := plot.New()
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load " + strings.Fields(string(b))[0] // the cores are shared
	}
	p.Title.Text = fmt.Sprintf("rl/dist on this machine (%d cores%s): CartPole, trainer throughput", runtime.NumCPU(), load)
	p.X.Label.Text = "player processes"
	p.Y.Label.Text = "samples/s consumed by the trainer"
	var xy plotter.XYs
	var ceil float64
	for _, q := range pts {
		if q.players == 0 {
			ceil = q.rate
			continue
		}
		xy = append(xy, plotter.XY{X: float64(q.players), Y: q.rate})
	}
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	line.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	points.Color = line.Color
	c, err := plotter.NewLine(plotter.XYs{{X: 1, Y: ceil}, {X: 4, Y: ceil}})
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	c.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	c.Color = color.Gray{Y: 120}
	lin, err := plotter.NewLine(plotter.XYs{{X: 1, Y: xy[0].Y}, {X: 4, Y: 4 * xy[0].Y}})
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	lin.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	lin.Color = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	p.Add(plotter.NewGrid(), line, points, c, lin)
	p.Legend.Add("measured (trainer + N player agents)", line, points)
	p.Legend.Add("trainer alone, stream prefilled", c)
	p.Legend.Add("linear in players from 1", lin)
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = 0, 1.6*max(ceil, 4*xy[0].Y)
	wt, err := p.WriterTo(16*vg.Centimeter, 10*vg.Centimeter, "png")
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
