package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
)

const rlAbout = `Starts distributed reinforcement learning (the paper's Figure 2, package
rl/dist) on the master: a plan of one rl-trainer task and --players rl-player
tasks, all on --queue. The agents that serve the queue run them: the run needs
players+1 task slots among them at once (say, tl-agent --slots 3 for two
players, or one tl-agent per player and one for the trainer). Players publish
trajectories on the JetStream stream TL_RL; the trainer trains on them, saves a
model version named after --run every --save-every updates (alias "latest",
which the players follow), records its curves as training events (tl runs RUN,
tl curve RUN), and ends at --target, --minutes or --updates; its task output
has the counts (published, trained, rejected) and the last version.

cartpole: a 4-64-64 tanh network, Gym's threshold 195 by default.
pong: 40x40 differenced frames, frame skip 4, 256 hidden units.

--envs must be a multiple of --batch, so that every trajectory published is
trained on.`

type rlFlags struct {
	run, queue                   string
	players, envs, unroll, batch int
	saveEvery, updates           int
	minutes, target, lr          float64
	seed                         uint64
	print, wait                  bool
	every                        time.Duration
}

func newRLCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c conn
		f rlFlags
	)
	cmd := &cobra.Command{
		Use:   "rl cartpole|pong",
		Short: "start distributed reinforcement learning: players and a trainer as tasks of agents",
		Long:  rlAbout,
		Example: "  tl rl cartpole --wait                       # 2 players, to a mean return of 195\n" +
			"  tl rl pong --players 4 --minutes 60 --wait\n  tl rl cartpole --print > rl.yaml             # the plan, to edit and tl submit",
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := rlPlan(args[0], &f, time.Now())
			if err != nil {
				return err
			}
			if f.print {
				_, err := io.WriteString(stdout, doc)
				return err
			}
			return submitRL(cmd.Context(), &c, doc, &f, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	fs := cmd.Flags()
	fs.StringVar(&f.run, "run", "", "run name: the model, the stream's subjects and the events' run (default ENV-YYYYMMDD-HHMMSS)")
	fs.StringVar(&f.queue, "queue", "cpu", "queue of the players and the trainer")
	fs.IntVar(&f.players, "players", 2, "player tasks")
	fs.IntVar(&f.envs, "envs", 16, "environments per player")
	fs.IntVar(&f.unroll, "unroll", 0, "steps per trajectory (default 16 for cartpole, 20 for pong)")
	fs.IntVar(&f.batch, "batch", 16, "trajectories per update")
	fs.IntVar(&f.saveEvery, "save-every", 10, "updates between saved versions (the players' refresh)")
	fs.IntVar(&f.updates, "updates", 0, "end after this many updates (0: no limit)")
	fs.Float64Var(&f.minutes, "minutes", 0, "end after this many minutes (default 10 for cartpole, 60 for pong)")
	fs.Float64Var(&f.target, "target", 0, "end when the mean return of the last 100 episodes reaches this (default 195 for cartpole, none for pong)")
	fs.Float64Var(&f.lr, "lr", 0, "Adam's learning rate (default 3e-3 for cartpole, 5e-4 for pong)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the weights, the environments and the sampling")
	fs.BoolVar(&f.print, "print", false, "print the plan (YAML) instead of submitting it")
	fs.BoolVar(&f.wait, "wait", false, "follow the plan until it ends")
	fs.DurationVar(&f.every, "report-every", 30*time.Second, "with --wait: while nothing changes, say this often what the plan waits for")
	return cmd
}

// rlPlan is the plan of a run, as YAML.
func rlPlan(game string, f *rlFlags, now time.Time) (string, error) {
	unroll, minutes, target, lr := 16, 10.0, 195.0, 3e-3
	switch game {
	case "cartpole":
	case "pong":
		unroll, minutes, target, lr = 20, 60, 0, 5e-4
	default:
		return "", usageErrorf("game %q: want cartpole or pong", game)
	}
	if f.unroll != 0 {
		unroll = f.unroll
	}
	if f.minutes != 0 || f.updates != 0 || f.target != 0 {
		minutes, target = f.minutes, f.target
	}
	if f.lr != 0 {
		lr = f.lr
	}
	run := f.run
	if run == "" {
		run = game + "-" + now.UTC().Format("20060102-150405")
	}
	switch {
	case !task.ValidName(run):
		return "", usageErrorf("--run %q: want letters, digits, '-' and '_'", run)
	case !task.ValidName(f.queue):
		return "", usageErrorf("--queue %q: want letters, digits, '-' and '_'", f.queue)
	case f.players < 1 || f.players > 1000:
		return "", usageErrorf("--players %d: want 1 to 1000", f.players)
	case f.envs < 1 || f.batch < 1 || unroll < 1 || f.saveEvery < 1:
		return "", usageErrorf("--envs %d, --batch %d, --unroll %d, --save-every %d: want positive numbers", f.envs, f.batch, unroll, f.saveEvery)
	case f.envs%f.batch != 0:
		return "", usageErrorf("--envs %d is not a multiple of --batch %d: the last trajectories of a player would not fill a batch and would not be trained on", f.envs, f.batch)
	case minutes < 0 || f.updates < 0 || lr <= 0:
		return "", usageErrorf("--minutes %g, --updates %d, --lr %g: want ≥ 0, ≥ 0, > 0", minutes, f.updates, lr)
	case minutes == 0 && f.updates == 0 && target == 0:
		return "", usageErrorf("give --minutes, --updates or --target: the run would never end")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# tl rl %s: one trainer and %d players (package rl/dist).\nname: rl-%s\ntasks:\n", game, f.players, run)
	fmt.Fprintf(&b, "  - {id: trainer, kind: rl-trainer, queue: %s, max_attempts: 10, params: {run: %s, env: %s, unroll: %d, batch: %d, lr: %g, save_every: %d, seed: %d",
		f.queue, run, game, unroll, f.batch, lr, f.saveEvery, f.seed)
	if minutes > 0 {
		fmt.Fprintf(&b, ", duration: %s", time.Duration(minutes*float64(time.Minute)))
	}
	if f.updates > 0 {
		fmt.Fprintf(&b, ", updates: %d", f.updates)
	}
	if target != 0 {
		fmt.Fprintf(&b, ", target: %g", target)
	}
	b.WriteString("}}\n")
	for i := 1; i <= f.players; i++ {
		fmt.Fprintf(&b, "  - {id: p%d, kind: rl-player, queue: %s, max_attempts: 10, params: {run: %s, envs: %d, seed: %d}}\n", i, f.queue, run, f.envs, f.seed+uint64(i))
	}
	return b.String(), nil
}

func submitRL(ctx context.Context, c *conn, doc string, f *rlFlags, stdout io.Writer) error {
	spec, err := plan.Parse([]byte(doc), "tl rl")
	if err != nil {
		return err
	}
	return c.withJS(ctx, func(js jetstream.JetStream) error {
		id, verdict, err := submitChecked(ctx, js, spec, "tl rl")
		if err != nil {
			return err
		}
		run := spec.Tasks[0].Params["run"]
		fmt.Fprintf(stdout, "submitted plan %s: 1 trainer and %d players of run %v (tl status %s; tl runs %v; tl curve %v)\n", id, len(spec.Tasks)-1, run, id, run, run)
		fmt.Fprintf(stdout, "the agents of queue %s need %d free task slots at once\n", f.queue, len(spec.Tasks))
		printVerdict(stdout, verdict, "")
		if !f.wait {
			return nil
		}
		return c.withRecords(ctx, func(_ *store.DB, st status.Store) error {
			return follow(ctx, st, js, id, f.every, stdout)
		})
	})
}
