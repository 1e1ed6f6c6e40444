package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", "[flags] [PLAN]", `Without PLAN, lists the plans (newest first) with their progress. With PLAN,
shows each task: status, attempt, agent, error, and what a failure blocks. Also
says which master leads, lists the agents that are up, and warns about queues
that no agent serves.`, stderr)
	var c conn
	c.flags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	all := fs.Bool("all", true, "list finished plans too (--all=false: only running ones)")
	if err := parse(fs, args, 0, 1); err != nil {
		return err
	}
	db, st, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeDB(db)
	var agents []queue.AgentInfo
	var lead leadership
	if nc, js, err := c.js(ctx); err == nil {
		agents, _ = queue.ListAgents(ctx, js)
		if l, err := master.Leader(ctx, js); err == nil {
			lead = leadership{known: true, Leader: l}
		}
		nc.Close()
	}
	if fs.NArg() == 0 {
		ps, err := st.Plans(ctx, !*all)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, map[string]any{"plans": ps, "master": lead.Leader, "agents": agents})
		}
		if err := listPlans(ctx, st, ps, agents, stdout); err != nil {
			return err
		}
		lead.show(stdout)
		return nil
	}
	id := fs.Arg(0)
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
	if *asJSON {
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
}

func (l leadership) show(out io.Writer) {
	switch {
	case !l.known:
		fmt.Fprintln(out, "master: unknown (NATS did not answer)")
	case l.Leader == nil:
		fmt.Fprintln(out, "master: none leads (start one with: tl master)")
	default:
		fmt.Fprintf(out, "master: %s leads (host %s, pid %d) since %s\n", l.Leader.ID, l.Leader.Host, l.Leader.PID, l.Leader.Since.Local().Format(time.DateTime))
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func progress(ts []*status.Task) string {
	n := map[plan.Status]int{}
	for _, t := range ts {
		n[t.Status]++
	}
	s := fmt.Sprintf("%d/%d done", n[plan.Succeeded], len(ts))
	for _, st := range []plan.Status{plan.Running, plan.Queued, plan.Pending, plan.Failed, plan.Blocked, plan.Cancelled} {
		if n[st] > 0 {
			s += fmt.Sprintf(", %d %s", n[st], st)
		}
	}
	return s
}

func listPlans(ctx context.Context, st status.Store, ps []*status.Plan, agents []queue.AgentInfo, out io.Writer) error {
	if len(ps) == 0 {
		fmt.Fprintln(out, "no plans (submit one with: tl submit PLAN.yaml)")
	} else {
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PLAN\tSTATUS\tTASKS\tSUBMITTED")
		for _, p := range ps {
			ts, err := st.Tasks(ctx, p.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.ID, p.Status, progress(ts), p.Submitted.Local().Format(time.DateTime))
		}
		w.Flush()
	}
	showAgents(agents, nil, out)
	return nil
}

func showPlan(p *status.Plan, ts []*status.Task, agents []queue.AgentInfo, out io.Writer) {
	fmt.Fprintf(out, "plan %s (%s): %s, %s\n", p.ID, p.Name, p.Status, progress(ts))
	fmt.Fprintf(out, "submitted %s", p.Submitted.Local().Format(time.DateTime))
	if !p.Finished.IsZero() {
		fmt.Fprintf(out, ", finished %s (%v)", p.Finished.Local().Format(time.DateTime), p.Finished.Sub(p.Submitted).Round(time.Millisecond))
	}
	fmt.Fprintln(out)
	if p.Note != "" && p.Note != string(p.Status) {
		fmt.Fprintln(out, p.Note)
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TASK\tKIND\tQUEUE\tSTATUS\tATTEMPT\tAGENT\tDETAIL")
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
			detail = oneLine(t.Output)
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
	served := map[string]bool{}
	fmt.Fprintln(out)
	if len(agents) == 0 {
		fmt.Fprintln(out, "agents: none up (start one with: tl-agent)")
	} else {
		fmt.Fprintln(out, "agents:")
		for _, a := range agents {
			for _, q := range a.Queues {
				served[q] = true
			}
			doing := "idle"
			if len(a.Running) > 0 {
				doing = "running " + strings.Join(a.Running, ", ")
			}
			fmt.Fprintf(out, "  %s  queues %s, %d slot(s), %d done, %s\n", a.ID, strings.Join(a.Queues, ","), a.Slots, a.Done, doing)
		}
	}
	warned := map[string]bool{}
	for _, q := range waiting {
		if !served[q] && !warned[q] {
			warned[q] = true
			fmt.Fprintf(out, "warning: tasks wait on queue %s, which no agent serves\n", q)
		}
	}
}

func cmdCancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cancel", "[flags] PLAN", `Cancels a plan: its queued tasks are taken off the queues, running ones are
stopped by their agents, and nothing more is scheduled. 'tl retry' runs the
cancelled tasks again.`, stderr)
	var c conn
	c.flags(fs)
	if err := parse(fs, args, 1, 1); err != nil {
		return err
	}
	nc, js, err := c.js(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := master.Cancel(ctx, js, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cancel of %s sent to the master\n", fs.Arg(0))
	return nil
}

func cmdRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("retry", "[flags] PLAN [TASK...]", `Runs a plan's failed, blocked and cancelled tasks again (only the TASKs named,
and what they block, if any are given), each with a fresh attempt budget.`, stderr)
	var c conn
	c.flags(fs)
	if err := parse(fs, args, 1, -1); err != nil {
		return err
	}
	nc, js, err := c.js(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := master.Retry(ctx, js, fs.Arg(0), fs.Args()[1:]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "retry of %s sent to the master\n", fs.Arg(0))
	return nil
}
