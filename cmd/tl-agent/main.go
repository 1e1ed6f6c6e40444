// Command tl-agent is the workflow agent for CPU and GPU nodes: it pulls tasks from
// the NATS JetStream queues of its capabilities (cpu, cuda, ...), runs the task
// functions compiled into it, and reports to the master. See `tl-agent --help`.
//
// It runs only functions registered in this binary (no code is loaded from the
// queue or the database): the built-in kinds of package agents/builtin and the
// machine-learning kinds train and evaluate of package mltasks, and the
// reinforcement-learning kinds rl-player and rl-trainer of package rl/dist. To run your
// own kinds, build your own agent around agents/agent.Main.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/rl/dist"
)

func main() {
	reg := task.NewRegistry()
	for _, register := range []func(*task.Registry) error{builtin.Register, mltasks.Register, dist.Register} {
		if err := register(reg); err != nil {
			fmt.Fprintln(os.Stderr, "tl-agent:", err)
			os.Exit(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGINT or SIGTERM stops pulling and gives running tasks
	// --grace; a second one exits at once (their messages are redelivered
	// after --ack-wait).
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "tl-agent: %v: stopping (interrupt again to stop at once)\n", s)
		cancel()
		s = <-sig
		fmt.Fprintf(os.Stderr, "tl-agent: %v again: stopping at once\n", s)
		os.Exit(130)
	}()
	os.Exit(agent.Main(ctx, "tl-agent", os.Args[1:], reg, os.Stderr))
}
