// Package rlmain is the shared body of examples/cartpole and examples/pong: flags,
// an in-process actor-learner run (rl/local) with N player goroutines and one
// learner, the run's curves recorded as training events in tl master's home (or
// a MongoDB), and a PNG of the learning curve against wall time.
package rlmain

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tlgo/tl/examples/internal/home"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/local"
	"github.com/tlgo/tl/store/events"
)

// Setup is what an example fixes: its environment and network.
type Setup struct {
	Name       string // model name in the events (default flag --name)
	Program    string // "examples/cartpole"
	Env        func(p, i int) env.Env
	ObsShape   []int
	NumActions int
	Net        a2c.Net
	Fields     map[string]any // recorded with the run (frame size, skip...)
	// Baseline is the random policy's mean return, drawn on the plot when
	// HaveBaseline.
	Baseline     float64
	HaveBaseline bool
}

// Flags are the common flags.
type Flags struct {
	Name                                  string
	Players, Envs, Unroll, Batch, Refresh int
	Threads                               int
	LR, Entropy, Discount                 float64
	Minutes                               float64
	Updates                               int
	Target                                float64
	Seed                                  uint64
	NoCorrection                          bool
	Plot                                  string
	Record                                bool
	Home, Mongo                           string
	Every                                 time.Duration
}

// Register adds the common flags to fs with an example's defaults.
func Register(fs *flag.FlagSet, d Flags) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Name, "name", d.Name, "model name under which the run's curves are recorded (tl runs NAME, tl curve NAME)")
	fs.IntVar(&f.Players, "players", d.Players, "player goroutines, each with its own environments and copy of the policy")
	fs.IntVar(&f.Envs, "envs", d.Envs, "environments per player, stepped in lock-step")
	fs.IntVar(&f.Unroll, "unroll", d.Unroll, "steps per trajectory (T)")
	fs.IntVar(&f.Batch, "batch", d.Batch, "trajectories per update")
	fs.IntVar(&f.Refresh, "refresh", d.Refresh, "players load the latest weights every N unrolls")
	fs.IntVar(&f.Threads, "threads", d.Threads, "the learner's kernel threads (0: all cores)")
	fs.Float64Var(&f.LR, "lr", d.LR, "Adam's learning rate")
	fs.Float64Var(&f.Entropy, "entropy", d.Entropy, "entropy bonus weight")
	fs.Float64Var(&f.Discount, "discount", d.Discount, "discount γ")
	fs.Float64Var(&f.Minutes, "minutes", d.Minutes, "stop after this many minutes (0: no limit)")
	fs.IntVar(&f.Updates, "updates", d.Updates, "stop after this many updates (0: no limit)")
	fs.Float64Var(&f.Target, "target", d.Target, "stop when the mean return of the last 100 episodes reaches this (0: never)")
	fs.Uint64Var(&f.Seed, "seed", d.Seed, "seed of the weights, the environments and the sampling")
	fs.BoolVar(&f.NoCorrection, "no-vtrace", false, "take every importance ratio as 1 (the uncorrected actor-critic)")
	fs.StringVar(&f.Plot, "plot", d.Plot, "write the learning curve (mean return of the last 100 episodes against seconds) to this PNG")
	fs.BoolVar(&f.Record, "record", true, "record the run's curves as training events (tl runs NAME, tl curve NAME)")
	fs.StringVar(&f.Home, "home", home.Default(), "tl master's home, whose store records the curves [TL_HOME]")
	fs.StringVar(&f.Mongo, "mongo", os.Getenv("TL_MONGO_URL"), "record in this MongoDB instead of the home's store [TL_MONGO_URL]")
	fs.DurationVar(&f.Every, "log-every", 10*time.Second, "progress line interval")
	return f
}

// Summary is what a run reached.
type Summary struct {
	Updates, Samples, Episodes int64
	Elapsed                    time.Duration
	FirstReturn100, Return100  float64 // mean return of the first and last 100 episodes
	BestReturn100              float64
	Rate                       float64 // samples per second
	Run                        string  // events run ID ("" when not recorded)
}

// Run trains and records.
func Run(ctx context.Context, s Setup, f *Flags, log *slog.Logger) (*Summary, error) {
	if f.Minutes <= 0 && f.Updates <= 0 && f.Target <= 0 {
		return nil, fmt.Errorf("%s: give --minutes, --updates or --target, or the run never stops", s.Program)
	}
	cfg := a2c.Config{ObsShape: s.ObsShape, NumActions: s.NumActions, Net: s.Net, Unroll: f.Unroll, Batch: f.Batch,
		LR: float32(f.LR), EntropyCost: float32(f.Entropy), Discount: float32(f.Discount), NoCorrection: f.NoCorrection,
		Seed: f.Seed, Threads: f.Threads}
	l, err := a2c.New(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()

	var w *events.Writer
	if f.Record {
		db, where, closeDB, err := home.OpenRecordStore(ctx, f.Home, f.Mongo, log)
		if err != nil {
			return nil, fmt.Errorf("%w (--record=false trains without recording)", err)
		}
		defer closeDB()
		if w, err = events.NewWriter(db, events.Options{Model: f.Name}); err != nil {
			return nil, err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := w.Close(cctx); err != nil {
				log.Warn("training events not all written", "run", w.Run(), "err", err)
			}
		}()
		fields := map[string]any{"program": s.Program, "players": f.Players, "envs": f.Envs, "unroll": f.Unroll,
			"batch": f.Batch, "lr": f.LR, "entropy": f.Entropy, "discount": f.Discount, "seed": f.Seed, "vtrace": !f.NoCorrection}
		for k, v := range s.Fields {
			fields[k] = v
		}
		w.Log(events.Event{Phase: "config", Fields: fields})
		log.Info("recording", "model", f.Name, "run", w.Run(), "store", where)
	}

	sum := &Summary{FirstReturn100: -1e300, BestReturn100: -1e300}
	var returns []float64
	var curve []point // for the plot, every tenth of a second at most
	mean100 := func() float64 {
		xs := returns[max(0, len(returns)-100):]
		t := 0.0
		for _, x := range xs {
			t += x
		}
		return t / float64(max(len(xs), 1))
	}
	lastLog := time.Now()
	start := time.Now()
	opts := local.Options{Config: cfg, Env: s.Env, Players: f.Players, Envs: f.Envs, Refresh: f.Refresh, Seed: f.Seed,
		Updates: f.Updates, Duration: time.Duration(f.Minutes * float64(time.Minute)),
		OnEpisode: func(_ int, e env.Episode, _ int64) {
			returns = append(returns, e.Return)
			if len(returns) == 100 {
				sum.FirstReturn100 = mean100()
			}
			if len(returns) >= 100 {
				sum.BestReturn100 = max(sum.BestReturn100, mean100())
			}
		},
		OnUpdate: func(u local.Update) bool {
			m := mean100()
			vals := map[string]float64{"policy_loss": float64(u.PolicyLoss), "value_loss": float64(u.ValueLoss),
				"entropy": float64(u.Entropy), "grad_norm": float64(u.GradNorm), "mean_rho": float64(u.MeanRho),
				"lag": u.MeanLag, "samples_per_s": u.Rate, "episodes": float64(len(returns)), "samples": float64(u.Samples)}
			if len(returns) > 0 {
				vals["return_100"] = m
			}
			if w != nil {
				w.Step(u.Version, vals)
			}
			if len(returns) > 0 {
				sec := u.Elapsed.Seconds()
				if n := len(curve); n == 0 || sec-curve[n-1].sec >= 0.1 {
					curve = append(curve, point{sec, m})
				}
			}
			if time.Since(lastLog) >= f.Every {
				lastLog = time.Now()
				log.Info("progress", "update", u.Version, "samples", u.Samples, "samples/s", int(u.Rate), "episodes", len(returns),
					"return_100", fmt.Sprintf("%.2f", m), "entropy", fmt.Sprintf("%.3f", u.Entropy), "lag", fmt.Sprintf("%.1f", u.MeanLag))
			}
			return !(f.Target != 0 && len(returns) >= 100 && m >= f.Target)
		},
	}
	res, err := local.Run(ctx, l, opts)
	if err != nil {
		return nil, err
	}
	sum.Updates, sum.Samples, sum.Episodes, sum.Elapsed = res.Updates, res.Samples, res.Episodes, time.Since(start)
	sum.Return100 = mean100()
	sum.Rate = float64(res.Samples) / res.Elapsed.Seconds()
	if w != nil {
		sum.Run = w.Run()
	}
	if f.Plot != "" && len(curve) > 0 {
		title := fmt.Sprintf("%s: %d players, %.0f samples/s", f.Name, f.Players, sum.Rate)
		if err := drawCurve(f.Plot, title, curve, s.Baseline, s.HaveBaseline); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// Report prints a run's summary.
func Report(s *Summary, f *Flags, home string) {
	fmt.Printf("%d updates, %d samples (%.0f/s), %d episodes in %s; mean return of the last 100 episodes %.2f (first 100: %.2f, best: %.2f)\n",
		s.Updates, s.Samples, s.Rate, s.Episodes, s.Elapsed.Round(time.Second), s.Return100, s.FirstReturn100, s.BestReturn100)
	if s.Run != "" {
		fmt.Printf("recorded as run %s of %s: tl runs %s; tl curve %s\n", s.Run, f.Name, f.Name, f.Name)
	}
	if f.Plot != "" {
		fmt.Println("learning curve:", f.Plot)
	}
}
