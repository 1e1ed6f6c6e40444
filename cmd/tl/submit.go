package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
)

// errPlanFailed is returned by submit --wait when the plan does not succeed.
var errPlanFailed = errors.New("plan did not succeed")

func cmdSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("submit", "[flags] PLAN", `Submits a plan file (YAML or JSON) to the master and prints the plan's id. The
file is checked first: unknown fields, bad ids, unknown dependencies and cycles
are reported with the task and field at fault. The plan waits in the queue if the
master is down. With --wait, follows the plan's progress until it ends; the exit
status is then 0 only if the plan succeeded.

A plan:
  name: caption
  tasks:
    - {id: cnn, kind: train, queue: cuda, input: images, model: cnn, output: features}
    - {id: rnn, kind: train, deps: [cnn], input: features, model: rnn, output: captions,
       params: {epochs: 3}, max_attempts: 5, timeout: 2h}`, stderr)
	var c conn
	c.flags(fs)
	wait := fs.Bool("wait", false, "follow the plan until it ends")
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	spec, err := plan.Parse(data, path)
	if err != nil {
		return err
	}
	nc, js, err := c.js(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "submitted plan %s (%d tasks)\n", id, len(spec.Tasks))
	if !*wait {
		return nil
	}
	db, st, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeDB(db)
	return follow(ctx, st, id, stdout)
}

// follow prints each task's changes until the plan ends.
func follow(ctx context.Context, st status.Store, id string, out io.Writer) error {
	seen := map[string]string{}
	announced := false
	for {
		p, err := st.Plan(ctx, id)
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			return err
		}
		if p == nil {
			if !announced {
				fmt.Fprintln(out, "waiting for the master to take the plan...")
				announced = true
			}
		} else {
			ts, err := st.Tasks(ctx, id)
			if err != nil {
				return err
			}
			for _, t := range ts {
				line := describeTask(t)
				if seen[t.ID] != line {
					seen[t.ID] = line
					fmt.Fprintf(out, "%s  %s: %s\n", time.Now().Format("15:04:05"), t.ID, line)
				}
			}
			if p.Status.Terminal() {
				fmt.Fprintf(out, "plan %s %s\n", id, p.Status)
				if p.Note != "" && p.Note != string(p.Status) {
					fmt.Fprintln(out, p.Note)
				}
				if p.Status != plan.Succeeded {
					return fmt.Errorf("plan %s %s: %w", id, p.Status, errPlanFailed)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// describeTask is one line about a task for a person.
func describeTask(t *status.Task) string {
	s := string(t.Status)
	if t.Attempt > 0 {
		s += fmt.Sprintf(", attempt %d of %d", t.Attempt, t.AttemptBase+t.MaxAttempts)
	}
	if t.Agent != "" && t.Status != plan.Pending && t.Status != plan.Queued {
		s += " on " + t.Agent
	}
	if t.Status == plan.Queued {
		s += " on queue " + t.Queue
	}
	if t.BlockedBy != "" {
		s += " by failed task " + t.BlockedBy
	}
	if t.Error != "" && t.Status != plan.Succeeded {
		s += ": " + t.Error
	}
	return s
}
