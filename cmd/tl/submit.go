package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

// errPlanFailed is returned by submit --wait when the plan does not succeed.
var errPlanFailed = errors.New("plan did not succeed")

// verdictPatience is how long submit waits for the master's check of a plan.
const verdictPatience = 5 * time.Second

const submitAbout = `Submits a plan file (YAML or JSON) to the master and prints the plan's id. The
file is checked first: unknown fields, bad ids, unknown dependencies and cycles
are reported with the task and field at fault. The master then checks the task
kinds and parameter fields against what the agents announced, and a plan it
rejects is an error (exit 1). The plan waits in the queue if the master is down,
and is checked when a master takes it. With --wait, follows the plan's progress until it ends; the exit
status is then 0 only if the plan succeeded. While nothing changes, --wait says
what the plan waits for (the master, a queue no agent serves, a running task)
at the start and every --report-every.

A plan:
  name: caption
  tasks:
    - {id: cnn, kind: train, queue: cuda, input: images, model: cnn, output: features}
    - {id: rnn, kind: train, deps: [cnn], input: features, model: rnn, output: captions,
       params: {epochs: 3}, max_attempts: 5, timeout: 2h}`

func newSubmitCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c     conn
		wait  bool
		every time.Duration
	)
	cmd := &cobra.Command{
		Use:     "submit PLAN",
		Short:   "submit a plan file (YAML or JSON); --wait follows it to the end",
		Long:    submitAbout,
		Example: "  tl submit plan.yaml --wait\n  tl submit --nats nats://host:4222 --mongo mongodb://host/tl plan.yaml",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return usageErrorf("--report-every %s: expected a positive duration", every)
			}
			return submit(cmd.Context(), &c, args[0], wait, every, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the plan until it ends")
	cmd.Flags().DurationVar(&every, "report-every", 30*time.Second, "with --wait: while nothing changes, say this often what the plan waits for")
	return cmd
}

func submit(ctx context.Context, c *conn, path string, wait bool, every time.Duration, stdout io.Writer) error {
	spec, err := readSpec(path, "plan", plan.Parse)
	if err != nil {
		return err
	}
	return c.withJS(ctx, func(js jetstream.JetStream) error {
		// The store is opened before the plan is sent when it is needed (--wait)
		// or named: a --mongo that does not answer fails the command first.
		var st status.Store
		if wait || (c.mongo != "" && !c.local) {
			db, s, err := c.store(ctx)
			if err != nil {
				return err
			}
			defer closeDB(db)
			st = s
		}
		id, verdict, err := submitChecked(ctx, js, spec, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "submitted plan %s (%d tasks)\n", id, len(spec.Tasks))
		printVerdict(stdout, verdict, " (tl status "+id+")")
		if !wait {
			return nil
		}
		return follow(ctx, st, js, id, every, stdout)
	})
}

// readSpec reads the spec file at path and parses it; what names the file
// in the error of a read that fails ("plan", "sweep spec").
func readSpec[S any](path, what string, parse func(data []byte, source string) (S, error)) (S, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var none S
		return none, fmt.Errorf("read %s: %w", what, err)
	}
	return parse(data, path)
}

// submitChecked submits a plan through the master, which checks it against
// what the agents announced (kinds, parameter fields) and answers; a master
// that is down checks it later (the verdict is then nil). A rejection names
// the plan by source: its file, or the command that wrote it.
func submitChecked(ctx context.Context, js jetstream.JetStream, spec *plan.Spec, source string) (string, *master.Verdict, error) {
	id, verdict, err := master.SubmitChecked(ctx, js, spec, verdictPatience)
	if errors.Is(err, master.ErrRejected) {
		return id, nil, fmt.Errorf("plan %s (%s): %w", id, source, err)
	}
	return id, verdict, err
}

// printVerdict prints the master's warnings about a plan or, when it did not
// answer (v nil), that the plan waits, followed by hint.
func printVerdict(out io.Writer, v *master.Verdict, hint string) {
	if v == nil {
		fmt.Fprintf(out, "the master did not answer within %s: the plan waits in the queue and is checked when a master takes it%s\n", verdictPatience, hint)
		return
	}
	printWarnings(out, v.Warnings)
}

// printWarnings prints each warning on a line of its own.
func printWarnings(out io.Writer, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
}

// sleep waits d, or less when ctx ends first (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// follow prints each task's changes until the plan ends. While nothing
// changes, it says what the plan waits for: at the start, a moment after each
// change, then every every.
func follow(ctx context.Context, st status.Store, js jetstream.JetStream, id string, every time.Duration, out io.Writer) error {
	seen := map[string]string{}
	nextReport := time.Now() // at the start
	for {
		p, err := st.Plan(ctx, id)
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			return err
		}
		var ts []*status.Task
		changed := false
		if p != nil {
			if ts, err = st.Tasks(ctx, id); err != nil {
				return err
			}
			for _, t := range ts {
				line := describeTask(t)
				if seen[t.ID] != line {
					seen[t.ID] = line
					changed = true
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
		if changed {
			// Report again once the change has settled, then every every.
			nextReport = time.Now().Add(min(every, 2*time.Second))
		}
		if !time.Now().Before(nextReport) {
			nextReport = time.Now().Add(every)
			for _, line := range waitReport(ctx, js, p, ts) {
				fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), line)
			}
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitReport says what an unfinished plan waits for: the master to take it,
// agents on its queues (naming the queues no agent serves), running tasks.
func waitReport(ctx context.Context, js jetstream.JetStream, p *status.Plan, ts []*status.Task) []string {
	if p == nil {
		line := "waiting for the master to take the plan"
		if l, err := master.Leader(ctx, js); err == nil && l == nil {
			line += "; no master leads (start one with: tl master)"
		}
		return []string{line}
	}
	agents, agentsErr := queue.ListAgents(ctx, js)
	lines := []string{fmt.Sprintf("waiting: plan %s is %s, %s", p.ID, p.Status, status.Progress(ts))}
	queued := map[string][]string{}
	var queues, pending, running []string
	for _, t := range ts {
		switch t.Status {
		case plan.Queued:
			if _, ok := queued[t.Queue]; !ok {
				queues = append(queues, t.Queue)
			}
			queued[t.Queue] = append(queued[t.Queue], t.ID)
		case plan.Pending:
			pending = append(pending, t.ID)
		case plan.Running:
			running = append(running, fmt.Sprintf("%s on %s", t.ID, t.Agent))
		}
	}
	unserved := unservedQueues(agents, queues)
	for _, q := range queues {
		what := fmt.Sprintf("task %s waits", queued[q][0])
		if len(queued[q]) > 1 {
			what = fmt.Sprintf("tasks %s wait", strings.Join(queued[q], ", "))
		}
		switch {
		case agentsErr != nil:
			lines = append(lines, fmt.Sprintf("  %s on queue %s (which agents serve it is unknown: %v)", what, q, agentsErr))
		case slices.Contains(unserved, q):
			lines = append(lines, fmt.Sprintf("  %s on queue %s; warning: %s (start one with: tl-agent --queues %s)", what, q, noAgentWarning(q), q))
		default:
			lines = append(lines, fmt.Sprintf("  %s on queue %s, served by %s", what, q, servedBy(agents, q)))
		}
	}
	if len(running) > 0 {
		lines = append(lines, "  running: "+strings.Join(running, ", "))
	}
	if len(pending) > 0 {
		lines = append(lines, "  pending on their dependencies: "+strings.Join(pending, ", "))
	}
	return lines
}

// servedBy lists the agents that serve q and what they do.
func servedBy(agents []queue.AgentInfo, q string) string {
	var s []string
	for _, a := range agents {
		if slices.Contains(a.Queues, q) {
			doing := "idle"
			if len(a.Running) > 0 {
				doing = "running " + strings.Join(a.Running, ", ")
			}
			s = append(s, fmt.Sprintf("%s (%d slot(s), %s)", a.ID, a.Slots, doing))
		}
	}
	return strings.Join(s, ", ")
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
