package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

const statusAbout = `Without PLAN, lists the plans (newest first) with their progress. With PLAN,
shows each task: status, attempt, agent, error or output (numbers rounded), and
what a failure blocks. Also says which master leads, lists the agents that are
up, and warns about queues that no agent serves. With no master running, it
reads the plans from the store in HOME.`

func newStatusCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c           conn
		asJSON, all bool
	)
	cmd := &cobra.Command{
		Use:   "status [PLAN]",
		Short: "list plans, or show one plan's tasks, attempts, errors; and agents",
		Long:  statusAbout,
		Args:  nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showStatus(cmd.Context(), &c, args, asJSON, all, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	cmd.Flags().BoolVar(&all, "all", true, "list finished plans too (--all=false: only running ones)")
	return cmd
}

func showStatus(ctx context.Context, c *conn, args []string, asJSON, all bool, stdout io.Writer) error {
	db, st, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeDB(db)
	var agents []queue.AgentInfo
	lead := leadership{home: c.home}
	switch {
	case c.nats == "" && c.mongo != "":
		lead.err = fmt.Errorf("%s given without --nats: pass --nats to see the master and the agents", c.mongoFrom)
	case c.nats == "":
		// No master runs on HOME (the store was opened from its files).
	default:
		nc, js, err := c.js(ctx)
		if err != nil {
			if !c.local {
				return err // an explicit --nats is used or the command fails
			}
			lead.err = err
			break
		}
		agents, _ = queue.ListAgents(ctx, js)
		if l, err := master.Leader(ctx, js); err == nil {
			lead.known, lead.Leader = true, l
		} else {
			lead.err = err
		}
		nc.Close()
	}
	if len(args) == 0 {
		ps, err := st.Plans(ctx, !all)
		if err != nil {
			return err
		}
		if asJSON {
			rules, _ := ruleLines(ctx, db)
			return writeJSON(stdout, map[string]any{"plans": ps, "master": lead.Leader, "agents": agents, "stream_rules": rules})
		}
		if err := listPlans(ctx, st, ps, agents, stdout); err != nil {
			return err
		}
		showStreamRules(ctx, db, stdout)
		lead.show(stdout)
		return nil
	}
	id := args[0]
	p, err := st.Plan(ctx, id)
	if errors.Is(err, status.ErrNotFound) {
		return fmt.Errorf("plan %s is not recorded: a wrong id, or the master has not taken it yet (is `tl master` running?): %w", id, err)
	}
	if err != nil {
		return fmt.Errorf("status of %s: %w", id, err)
	}
	ts, err := st.Tasks(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, map[string]any{"plan": p, "tasks": ts, "master": lead.Leader, "agents": agents})
	}
	showPlan(p, ts, agents, stdout)
	lead.show(stdout)
	return nil
}

// leadership is what the lease says of the masters (known: NATS answered).
type leadership struct {
	known  bool
	Leader *master.LeaderInfo
	err    error  // why NATS told nothing; nil and !known: no master runs on home
	home   string // --home
}

func (l leadership) show(out io.Writer) {
	switch {
	case !l.known && l.err != nil:
		fmt.Fprintf(out, "master: unknown (%v)\n", l.err)
	case !l.known:
		fmt.Fprintf(out, "master: none runs on %s (start one with: tl master --home %s)\n", l.home, l.home)
	case l.Leader == nil:
		fmt.Fprintln(out, "master: none leads (start one with: tl master)")
	default:
		fmt.Fprintf(out, "master: %s leads (host %s, pid %d) since %s\n", l.Leader.ID, l.Leader.Host, l.Leader.PID, l.Leader.Since.Local().Format(time.DateTime))
	}
}

// table starts a table of tl's layout (columns two spaces apart) with its
// header line; Flush writes it.
func table(out io.Writer, header string) *tabwriter.Writer {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	return w
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func listPlans(ctx context.Context, st status.Store, ps []*status.Plan, agents []queue.AgentInfo, out io.Writer) error {
	if len(ps) == 0 {
		fmt.Fprintln(out, "no plans (submit one with: tl submit PLAN.yaml)")
	} else {
		w := table(out, "PLAN\tSTATUS\tTASKS\tSUBMITTED")
		for _, p := range ps {
			ts, err := st.Tasks(ctx, p.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.ID, p.Status, status.Progress(ts), p.Submitted.Local().Format(time.DateTime))
		}
		w.Flush()
	}
	showAgents(agents, nil, out)
	return nil
}

func showPlan(p *status.Plan, ts []*status.Task, agents []queue.AgentInfo, out io.Writer) {
	fmt.Fprintf(out, "plan %s (%s): %s, %s\n", p.ID, p.Name, p.Status, status.Progress(ts))
	fmt.Fprintf(out, "submitted %s", p.Submitted.Local().Format(time.DateTime))
	if !p.Finished.IsZero() {
		fmt.Fprintf(out, ", finished %s (%v)", p.Finished.Local().Format(time.DateTime), p.Finished.Sub(p.Submitted).Round(time.Millisecond))
	}
	fmt.Fprintln(out)
	if p.Note != "" && p.Note != string(p.Status) {
		fmt.Fprintln(out, p.Note)
	}
	fmt.Fprintln(out)
	w := table(out, "TASK\tKIND\tQUEUE\tSTATUS\tATTEMPT\tAGENT\tDETAIL")
	for _, t := range ts {
		att := ""
		if t.Attempt > 0 {
			att = fmt.Sprintf("%d/%d", t.Attempt, t.AttemptBase+t.MaxAttempts)
		}
		detail := ""
		switch {
		case t.BlockedBy != "":
			detail = "blocked by " + t.BlockedBy
		case t.Error != "" && t.Status != plan.Succeeded:
			detail = oneLine(t.Error)
		case t.Status == plan.Succeeded:
			detail = oneLine(roundJSON(t.Output))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Queue, t.Status, att, t.Agent, detail)
	}
	w.Flush()
	var waiting []string
	for _, t := range ts {
		if t.Status == plan.Queued {
			waiting = append(waiting, t.Queue)
		}
	}
	showAgents(agents, waiting, out)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

// showAgents lists the agents and warns about queues with work and no agent.
func showAgents(agents []queue.AgentInfo, waiting []string, out io.Writer) {
	fmt.Fprintln(out)
	if len(agents) == 0 {
		fmt.Fprintln(out, "agents: none up (start one with: tl-agent)")
	} else {
		fmt.Fprintln(out, "agents:")
		for _, a := range agents {
			doing := "idle"
			if len(a.Running) > 0 {
				doing = "running " + strings.Join(a.Running, ", ")
			}
			fmt.Fprintf(out, "  %s  queues %s, %d slot(s), %d done, %s\n", a.ID, strings.Join(a.Queues, ","), a.Slots, a.Done, doing)
		}
	}
	for _, q := range unservedQueues(agents, waiting) {
		fmt.Fprintf(out, "warning: %s\n", noAgentWarning(q))
	}
}

// unservedQueues returns the queues of waiting (once each, in order) that no
// agent serves.
func unservedQueues(agents []queue.AgentInfo, waiting []string) []string {
	served := map[string]bool{}
	for _, a := range agents {
		for _, q := range a.Queues {
			served[q] = true
		}
	}
	var out []string
	for _, q := range waiting {
		if !served[q] && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// noAgentWarning says that tasks wait on a queue no agent serves.
func noAgentWarning(q string) string {
	return fmt.Sprintf("tasks wait on queue %s, which no agent serves", q)
}

func newCancelCmd(stdout, _ io.Writer) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "cancel PLAN",
		Short: "cancel a plan",
		Long: `Cancels a plan: its queued tasks are taken off the queues, running ones are
stopped by their agents, and nothing more is scheduled. 'tl retry' runs the
cancelled tasks again.`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return command(cmd.Context(), &c, "cancel", args[0], func(ctx context.Context, js jetstream.JetStream) (*master.Verdict, error) {
				return master.CancelChecked(ctx, js, args[0], answerPatience)
			}, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	return cmd
}

func newRetryCmd(stdout, _ io.Writer) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "retry PLAN [TASK...]",
		Short: "run a plan's failed, blocked or cancelled tasks again",
		Long: `Runs a plan's failed, blocked and cancelled tasks again (only the TASKs named,
and what they block, if any are given), each with a fresh attempt budget.`,
		Args: nargs(1, -1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return command(cmd.Context(), &c, "retry", args[0], func(ctx context.Context, js jetstream.JetStream) (*master.Verdict, error) {
				return master.RetryChecked(ctx, js, args[0], args[1:], answerPatience)
			}, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	return cmd
}

// answerPatience is how long tl cancel and tl retry wait for the master's answer.
const answerPatience = 5 * time.Second

// reportAnswer says what became of a cancel or retry: done, with the master's
// warnings, or sent and waiting for a master that did not answer in time.
func reportAnswer(w io.Writer, what, id string, v *master.Verdict) {
	if v == nil {
		fmt.Fprintf(w, "%s of %s sent; the master did not answer within %s (it acts on it when it runs)\n", what, id, answerPatience)
		return
	}
	fmt.Fprintf(w, "%s of %s done\n", what, id)
	for _, warn := range v.Warnings {
		fmt.Fprintf(w, "  note: %s\n", warn)
	}
}

// command sends a command (what: cancel, retry) about plan id to the master
// over NATS and says what became of it. A --mongo given with it must answer
// too: an explicit URL is used or the command fails.
func command(ctx context.Context, c *conn, what, id string, send func(context.Context, jetstream.JetStream) (*master.Verdict, error), out io.Writer) error {
	if err := c.resolve(); err != nil {
		return err
	}
	if c.mongo != "" && !c.local {
		db, err := c.open(ctx)
		if err != nil {
			return err
		}
		closeDB(db)
	}
	var v *master.Verdict
	err := c.withJS(ctx, func(js jetstream.JetStream) (err error) {
		v, err = send(ctx, js)
		return err
	})
	if errors.Is(err, master.ErrRefused) && c.creds != nil && c.creds.Role == queue.RoleClient && (c.local || c.localNATS()) {
		// This machine's user may act as the master: say how.
		return fmt.Errorf("%w\n(on the master's machine: add --credentials %s)", err, filepath.Join(c.home, queue.CredentialsDir, queue.RoleMaster+".json"))
	}
	if err != nil {
		return err
	}
	reportAnswer(out, what, id, v)
	return nil
}

// roundJSON rounds the fractional numbers of a JSON document to 4 significant
// digits for people ({"accuracy":0.9123}); integers and anything that is not
// JSON are left as they are.
func roundJSON(s string) string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	b, err := json.Marshal(roundNumbers(v))
	if err != nil {
		return s
	}
	return string(b)
}

func roundNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = roundNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = roundNumbers(e)
		}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			if f, err := x.Float64(); err == nil {
				return json.Number(formatMetric(f))
			}
		}
	}
	return v
}
