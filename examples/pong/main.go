// Command pong trains an actor-critic with V-trace (rl/a2c) on Pong from pixels
// (rl/env/pong: Atari Pong's rules, frames downsampled and differenced as in
// Karpathy's "Pong from pixels") with N player goroutines and one learner in one
// process — the shape of the TensorLayer paper's Figure 2 — and records the
// run's curves (mean return of the last 100 games, losses, entropy, samples per
// second, the players' lag) as training events in tl master's home.
//
//	nice go run ./examples/pong --minutes 60 --plot pong.png
//
// A game is to 21 points, so a return is between −21 and +21; the random policy
// scores about −20. The defaults are chosen for a 2-core machine: 40×40 frames
// (the court downsampled by 4), frame differences, each action held for 4
// frames, and a network of one hidden layer of 256 ReLU units over the frame
// (Karpathy's shape) with policy and value heads.
//
// Flags (go run ./examples/pong --help for all):
//
//	--size S         frame side, 80 or 40 (default 40), --skip K frames per action
//	--hidden H       hidden units (default 256)
//	--players N      player goroutines (default 2), --envs E games each
//	--unroll T       steps per trajectory, --batch B trajectories per update
//	--minutes M      stop after M minutes (default 60), --target R at a mean return R
//	--plot FILE      the learning curve as a PNG
//	--home DIR       tl master's home ($TL_HOME, else ~/.tl): the curves go to
//	                 its store as NAME (--name, default pong): tl runs pong,
//	                 tl curve pong; --record=false records nothing
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/tlgo/tl/examples/internal/rlmain"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/pong"
)

type game struct {
	size, skip, hidden int
}

func (g game) setup() (rlmain.Setup, error) {
	o := pong.Options{Size: g.size, Diff: true, FrameSkip: g.skip}
	probe, err := pong.New(o)
	if err != nil {
		return rlmain.Setup{}, err
	}
	hidden := g.hidden
	net := func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
		h := layers.Flatten(x, "flatten")
		h = layers.Dense(h, "fc1", hidden, layers.ReLU)
		return layers.Dense(h, "logits", 3), layers.Dense(h, "value", 1)
	}
	return rlmain.Setup{Program: "examples/pong", ObsShape: probe.ObsShape(), NumActions: 3, Net: net,
		Fields:   map[string]any{"size": g.size, "skip": g.skip, "hidden": hidden, "diff": true},
		Baseline: -17.86, HaveBaseline: g.skip == 4, // TestRandomPolicyBaseline in rl/env/pong
		Env: func(int, int) env.Env {
			e, _ := pong.New(o) // the options were checked above
			return e
		}}, nil
}

func defaults() rlmain.Flags {
	return rlmain.Flags{Name: "pong", Players: 2, Envs: 8, Unroll: 20, Batch: 16, Refresh: 1, Threads: 1,
		LR: 5e-4, Entropy: 0.01, Discount: 0.99, Minutes: 60, Seed: 1}
}

func main() {
	var g game
	flag.IntVar(&g.size, "size", 40, "frame side in pixels (80: the court halved, Karpathy's; 40: quartered)")
	flag.IntVar(&g.skip, "skip", 4, "frames each action is held (frame skip)")
	flag.IntVar(&g.hidden, "hidden", 256, "hidden units")
	f := rlmain.Register(flag.CommandLine, defaults())
	flag.Parse()
	s, err := g.setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pong:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sum, err := rlmain.Run(ctx, s, f, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pong:", err)
		os.Exit(1)
	}
	rlmain.Report(sum, f, f.Home)
}
