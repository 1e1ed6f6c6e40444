package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
)

// Options configure a run.
type Options struct {
	// Config is the learner's; each update takes Config.Batch trajectories of
	// Config.Unroll steps.
	Config a2c.Config
	// Env makes environment i of player p.
	Env func(p, i int) env.Env
	// Players is the number of player goroutines, Envs the environments each
	// steps in lock-step (default 1 and Config.Batch).
	Players, Envs int
	// Refresh: a player loads the latest weights every Refresh unrolls
	// (default 1).
	Refresh int
	// Seed seeds the environments and the players' sampling.
	Seed uint64
	// Updates and Duration stop the run (0: no limit; one of them, or a
	// cancelled context, must stop it).
	Updates  int
	Duration time.Duration
	// OnEpisode is called (from the learner's goroutine, in the order episodes
	// are received) for every finished episode, with the player and the policy
	// version that played its last step.
	OnEpisode func(player int, e env.Episode, version int64)
	// OnUpdate is called after every update; returning false stops the run.
	OnUpdate func(u Update) bool
}

// Update is what OnUpdate receives.
type Update struct {
	a2c.Stats
	Samples int64         // environment steps trained on so far
	Elapsed time.Duration // since the start
	Rate    float64       // samples per second over the run so far
}

// Result summarises a run.
type Result struct {
	Updates  int64
	Samples  int64
	Episodes int64
	Elapsed  time.Duration
	Final    *a2c.Params
}

type unroll struct {
	player int
	trs    []*a2c.Trajectory
	eps    []env.Episode
}

// Run trains until a limit is reached or ctx is cancelled, and returns what it
// did; the learner l keeps the trained weights.
func Run(ctx context.Context, l *a2c.Learner, o Options) (*Result, error) {
	cfg := l.Config()
	if o.Players == 0 {
		o.Players = 1
	}
	if o.Envs == 0 {
		o.Envs = cfg.Batch
	}
	if o.Refresh == 0 {
		o.Refresh = 1
	}
	if o.Env == nil {
		return nil, errors.New("local: Options.Env is nil")
	}
	if o.Updates == 0 && o.Duration == 0 && ctx.Done() == nil {
		return nil, errors.New("local: no Updates, no Duration and a context that cannot be cancelled: the run would never stop")
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var latest atomic.Pointer[a2c.Params]
	latest.Store(l.Params())
	ch := make(chan unroll, o.Players*2)
	errs := make(chan error, o.Players)
	var wg sync.WaitGroup
	for p := 0; p < o.Players; p++ {
		vec, err := env.NewVec(o.Envs, env.Mix(o.Seed, uint64(p), 1<<40), func(i int) env.Env { return o.Env(p, i) })
		if err != nil {
			return nil, fmt.Errorf("local: player %d: %w", p, err)
		}
		pc := cfg
		pc.Threads = 1
		pl, err := a2c.NewPlayer(pc, vec, env.Mix(o.Seed, uint64(p), 1<<41))
		if err != nil {
			return nil, fmt.Errorf("local: player %d: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pl.Close()
			if err := play(ctx, p, pl, &latest, o.Refresh, ch); err != nil {
				errs <- fmt.Errorf("local: player %d: %w", p, err)
				cancel()
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	start := time.Now()
	res := &Result{}
	batch := make([]*a2c.Trajectory, 0, cfg.Batch)
	for {
		var u unroll
		select {
		case <-ctx.Done():
			res.Elapsed, res.Final = time.Since(start), l.Params()
			select {
			case err := <-errs:
				return res, err
			default:
			}
			return res, nil
		case u = <-ch:
		}
		for _, e := range u.eps {
			res.Episodes++
			if o.OnEpisode != nil {
				o.OnEpisode(u.player, e, u.trs[0].Version)
			}
		}
		for _, tr := range u.trs {
			batch = append(batch, tr)
			if len(batch) < cfg.Batch {
				continue
			}
			st, err := l.Update(batch)
			batch = batch[:0]
			if err != nil {
				return res, err
			}
			latest.Store(l.Params())
			res.Updates++
			res.Samples += int64(cfg.Batch * cfg.Unroll)
			el := time.Since(start)
			more := o.OnUpdate == nil || o.OnUpdate(Update{Stats: st, Samples: res.Samples, Elapsed: el, Rate: float64(res.Samples) / el.Seconds()})
			if !more || (o.Updates > 0 && res.Updates >= int64(o.Updates)) {
				cancel()
				res.Elapsed, res.Final = time.Since(start), l.Params()
				return res, nil
			}
		}
	}
}

func play(ctx context.Context, p int, pl *a2c.Player, latest *atomic.Pointer[a2c.Params], refresh int, ch chan<- unroll) error {
	for n := 0; ; n++ {
		if n%refresh == 0 {
			if s := latest.Load(); s.Version != pl.Policy().Version() || n == 0 {
				if err := pl.Policy().Load(s); err != nil {
					return err
				}
			}
		}
		var eps []env.Episode
		trs, err := pl.Unroll(func(e env.Episode) { eps = append(eps, e) })
		if err != nil {
			return err
		}
		select {
		case ch <- unroll{player: p, trs: trs, eps: eps}:
		case <-ctx.Done():
			return nil
		}
	}
}
