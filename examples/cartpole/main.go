// Command cartpole trains an actor-critic with V-trace (rl/a2c) on CartPole
// (rl/env/cartpole) with N player goroutines and one learner in one process —
// the shape of the TensorLayer paper's Figure 2 — until the mean length of the
// last 100 episodes reaches 195 (Gym's threshold), and records the run's curves
// as training events in tl master's home.
//
//	go run ./examples/cartpole                       # 2 players, to 195
//	go run ./examples/cartpole --target 475 --plot cartpole.png
//
// Flags (go run ./examples/cartpole --help for all):
//
//	--players N      player goroutines (default 2), --envs E environments each
//	--unroll T       steps per trajectory, --batch B trajectories per update
//	--target R       stop at this mean return of the last 100 episodes (195)
//	--minutes M      or after M minutes, --updates U or after U updates
//	--plot FILE      the learning curve as a PNG
//	--home DIR       tl master's home ($TL_HOME, else ~/.tl): the curves go to
//	                 its store as NAME (--name, default cartpole): tl runs
//	                 cartpole, tl curve cartpole; --record=false records nothing
//	--no-vtrace      the uncorrected actor-critic, for comparison
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
	"github.com/tlgo/tl/rl/env/cartpole"
)

// net is 4-64-64 (tanh) with a policy head of 2 logits and a value head.
func net(x *layers.Layer) (*layers.Layer, *layers.Layer) {
	h := layers.Dense(x, "fc1", 64, layers.Tanh)
	h = layers.Dense(h, "fc2", 64, layers.Tanh)
	return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
}

func setup() rlmain.Setup {
	return rlmain.Setup{Program: "examples/cartpole", ObsShape: []int{4}, NumActions: 2, Net: net,
		Env:      func(int, int) env.Env { return cartpole.New() },
		Baseline: 22, HaveBaseline: true} // the random policy lasts about 22 steps
}

func defaults() rlmain.Flags {
	return rlmain.Flags{Name: "cartpole", Players: 2, Envs: 8, Unroll: 16, Batch: 16, Refresh: 1, Threads: 1,
		LR: 3e-3, Entropy: 0.01, Discount: 0.99, Minutes: 5, Target: 195, Seed: 1}
}

func main() {
	f := rlmain.Register(flag.CommandLine, defaults())
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := rlmain.Run(ctx, setup(), f, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cartpole:", err)
		os.Exit(1)
	}
	rlmain.Report(s, f, f.Home)
}
