package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/sweep"
)

// errSweepFailed is returned by --wait when a sweep or cross-validation does
// not finish well.
var errSweepFailed = errors.New("did not finish")

const sweepAbout = `Submits a hyper-parameter search: a base train task and a search space,
searched at random, on a grid, or by asynchronous successive halving (ASHA).
Every trial is a train task run by whatever agents serve its queue, and saves
a version of one model, with its parameters and metrics, so tl models and the
model store's top-k rank them; the best version gets an alias.

The spec is checked before anything is stored: empty or inverted ranges, a
metric no trial reports, a parameter name the train kind's agents do not take
(when agents have announced), views that do not exist. The leading master then
runs it (tl master): it records every decision (start trial n, promote it to
rung k, stop it) before acting on it, so a master killed at any point resumes
with the same decisions.

A spec:
  name: fmnist-lr
  base:
    input: fashion-train          # dataset view trained on
    validation: fashion-test      # evaluated every epoch: val_loss, val_accuracy
    model: fmnist                 # every trial a version of it (default: name)
    params: {arch: mlp, batch: 64}
  space:
    lr: {loguniform: [1.0e-4, 1.0e-1]}
    batch: {choice: [32, 64, 128]}
    dropout: {uniform: [0.0, 0.5]}  # grids take points: N of a range
    width: {int: [64, 512]}
  algorithm: asha                 # random | grid | asha
  trials: 16
  seed: 1
  metric: val_accuracy
  mode: max                       # default: min for a loss, else max
  parallel: 4                     # trials running at once
  budget: 200                     # total epochs (0: none)
  epochs: 5                       # random and grid trials
  min_epochs: 1                   # ASHA: rung k trains to min_epochs*eta^k
  eta: 3
  max_epochs: 9`

func newSweepCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c     conn
		wait  bool
		every time.Duration
	)
	cmd := &cobra.Command{
		Use:     "sweep SPEC",
		Short:   "hyper-parameter search (random, grid, ASHA) run by the master: submit, status, list, stop",
		Long:    sweepAbout,
		Example: "  tl sweep examples/sweep/asha.yaml --wait\n  tl sweep status fmnist-asha\n  tl sweep list\n  tl sweep stop fmnist-asha",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every <= 0 {
				return usageErrorf("--report-every %s: expected a positive duration", every)
			}
			return submitSweep(cmd.Context(), &c, args[0], wait, every, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the sweep until it ends, with an estimate of the time left")
	cmd.Flags().DurationVar(&every, "report-every", 30*time.Second, "with --wait: how often to print the progress line")
	cmd.AddCommand(newSweepStatusCmd(stdout), newSweepListCmd(stdout), newSweepStopCmd(stdout))
	return cmd
}

func submitSweep(ctx context.Context, c *conn, path string, wait bool, every time.Duration, out io.Writer) error {
	spec, err := readSpec(path, "sweep spec", sweep.Parse)
	if err != nil {
		return err
	}
	return c.withJS(ctx, func(js jetstream.JetStream) error {
		return c.withStore(ctx, func(db *store.DB) error {
			sw, warnings, err := sweep.Submit(ctx, db, js, spec)
			if err != nil {
				return err
			}
			printWarnings(out, warnings)
			fmt.Fprintf(out, "sweep %s submitted: %s search, %d trials, %s (%s), at most %d at once; the leading master runs it (tl sweep status %s)\n",
				sw.Name, spec.Algorithm, spec.TotalTrials(), spec.Metric, spec.Mode, spec.Parallel, sw.Name)
			if !wait {
				return nil
			}
			return followSweep(ctx, db, sw.Name, every, out)
		})
	})
}

// followSweep prints each decision as it is made and, every every, the
// progress with an estimate of the time left, until the sweep ends.
func followSweep(ctx context.Context, db *store.DB, name string, every time.Duration, out io.Writer) error {
	printed := 0
	next := time.Now().Add(every)
	for {
		sw, s, err := sweepStatusSpec(ctx, db, name)
		if err != nil {
			return err
		}
		for _, d := range sw.Decisions[min(printed, len(sw.Decisions)):] {
			fmt.Fprintf(out, "%s  %s\n", d.Time.Local().Format("15:04:05"), describeDecision(d))
		}
		printed = len(sw.Decisions)
		if sw.State != sweep.Running {
			fmt.Fprintf(out, "sweep %s %s\n", name, sw.State)
			if b := sw.Best; b != nil {
				fmt.Fprintf(out, "best: trial %d, %s %s, model %s version %d (alias %s)\n", b.Trial, s.Metric, formatMetric(b.Metric), b.Model, b.Version, b.Alias)
			}
			if sw.State != sweep.Finished {
				return fmt.Errorf("sweep %s %s (%s): %w", name, sw.State, sw.Note, errSweepFailed)
			}
			return nil
		}
		if time.Now().After(next) {
			next = time.Now().Add(every)
			fmt.Fprintf(out, "%s  %s\n", time.Now().Format("15:04:05"), progressLine(sw, s))
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// sweepStatusSpec reads a sweep's record and its spec.
func sweepStatusSpec(ctx context.Context, db *store.DB, name string) (*sweep.Sweep, *sweep.Spec, error) {
	sw, err := sweep.Status(ctx, db, name)
	if err != nil {
		return nil, nil, err
	}
	s, err := sw.Spec()
	if err != nil {
		return nil, nil, err
	}
	return sw, s, nil
}

// progressLine says how many epochs are done of those the sweep will train
// at most, and the time left at the pace so far.
func progressLine(sw *sweep.Sweep, s *sweep.Spec) string {
	done, running := 0, 0
	for _, t := range sw.Trials {
		for _, r := range t.Rungs {
			switch r.State {
			case sweep.Done, sweep.Failed:
				done += r.Epochs
			case sweep.Running:
				running++
			}
		}
	}
	total := plannedEpochs(sw, s)
	line := fmt.Sprintf("%d of %d trials started, %d running; %d of about %d epochs done", len(sw.Trials), s.TotalTrials(), running, done, total)
	if done > 0 && total > done {
		elapsed := time.Since(sw.Created)
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		line += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	if b := sw.BestSoFar(s); b != nil {
		line += fmt.Sprintf("; best so far trial %d %s %s", b.Trial, s.Metric, formatMetric(b.Metric))
	}
	return line
}

// plannedEpochs estimates the epochs a sweep trains: every trial's first
// rung and, for ASHA, a 1/eta of them at each rung above (its budget, if
// smaller).
func plannedEpochs(sw *sweep.Sweep, s *sweep.Spec) int {
	n := float64(s.TotalTrials())
	total, prev := 0.0, 0
	for k := 0; k <= s.TopRung(); k++ {
		cost := s.RungEpochs(k)
		if sw.Init {
			cost -= prev
		}
		total += n * float64(cost)
		prev = s.RungEpochs(k)
		n /= float64(max(s.Eta, 1))
	}
	if s.Budget > 0 && float64(s.Budget) < total {
		return s.Budget
	}
	return int(total + 0.5)
}

func describeDecision(d sweep.Decision) string {
	switch d.Action {
	case sweep.ActStart:
		return fmt.Sprintf("start trial %d (plan %s)", d.Trial, d.Plan)
	case sweep.ActPromote:
		return fmt.Sprintf("promote trial %d to rung %d (plan %s): %s", d.Trial, d.Rung, d.Plan, d.Why)
	case sweep.ActStop:
		return fmt.Sprintf("stop trial %d at rung %d: %s", d.Trial, d.Rung, d.Why)
	case sweep.ActBest:
		return fmt.Sprintf("best trial %d: %s", d.Trial, d.Why)
	}
	return d.Action + ": " + d.Why
}

func newSweepStatusCmd(stdout io.Writer) *cobra.Command {
	var (
		c      storeConn
		png    string
		noPNG  bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "a sweep's trials (parameters, rung, metric, state), the best so far, and a PNG of every trial's curve",
		Long: `Prints a sweep's trials as a table (parameters, rungs reached, the metric at the
last rung, the model version, state), the best so far, and writes a PNG of
every trial's training curves (the events of their runs; --png FILE, default
NAME-sweep.png; --no-png to skip). --json prints the whole record instead.`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sweepStatus(cmd.Context(), &c, args[0], png, noPNG, asJSON, stdout)
		},
	}
	c.flags(cmd.Flags())
	cmd.Flags().StringVar(&png, "png", "", "where to write the curves (default NAME-sweep.png)")
	cmd.Flags().BoolVar(&noPNG, "no-png", false, "write no PNG")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as JSON")
	return cmd
}

func sweepStatus(ctx context.Context, c *storeConn, name, png string, noPNG, asJSON bool, out io.Writer) error {
	return c.withStore(ctx, func(db *store.DB) error {
		sw, s, err := sweepStatusSpec(ctx, db, name)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(out, sw)
		}
		fmt.Fprintf(out, "sweep %s: %s, %s search, %s (%s), model %s\n", sw.Name, sw.State, s.Algorithm, s.Metric, s.Mode, s.Base.Model)
		if sw.Note != "" {
			fmt.Fprintln(out, sw.Note)
		}
		tw := table(out, fmt.Sprintf("TRIAL\tSTATE\tRUNG\tEPOCHS\t%s\tVERSION\tPARAMS", strings.ToUpper(s.Metric)))
		runs := map[string]trialRun{}
		for _, t := range sw.Trials {
			last := t.Rungs[len(t.Rungs)-1]
			metric, version := "-", "-"
			for _, r := range t.Rungs {
				if r.Run != "" {
					runs[r.Run] = trialRun{trial: t.N, rung: r.K}
				}
				if r.State == sweep.Done {
					metric, version = formatMetric(r.Metric), fmt.Sprint(r.Version)
				}
			}
			state := t.State
			if last.State == sweep.Failed {
				state += ": " + firstLine(last.Error)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\n", t.N, state, last.K, last.Total, metric, version, formatParams(t.Params))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if b := sw.BestSoFar(s); b != nil {
			fmt.Fprintf(out, "best so far: trial %d at rung %d, %s %s, model %s version %d", b.Trial, b.Rung, s.Metric, formatMetric(b.Metric), b.Model, b.Version)
			if sw.Best != nil {
				fmt.Fprintf(out, " (alias %s)", sw.Best.Alias)
			}
			fmt.Fprintln(out)
		}
		if noPNG {
			return nil
		}
		if png == "" {
			png = name + "-sweep.png"
		}
		return sweepPNG(ctx, db, s, runs, "sweep "+name, png, out)
	})
}

// trialRun is the trial and rung a training run belongs to.
type trialRun struct{ trial, rung int }

// sweepPNG draws the curves of the sweep's runs, one series per trial and
// rung ("t3 r1"), a rung's steps after those of the trial's earlier rungs.
func sweepPNG(ctx context.Context, db *store.DB, s *sweep.Spec, runs map[string]trialRun, title, path string, out io.Writer) error {
	model := s.Base.Model
	if len(runs) == 0 {
		fmt.Fprintln(out, "no trial has a training run yet: no PNG")
		return nil
	}
	evs, err := events.Find(ctx, db, events.Query{Model: model})
	if err != nil {
		return fmt.Errorf("events of model %s: %w", model, err)
	}
	evs = slices.DeleteFunc(evs, func(e events.Event) bool { _, ok := runs[e.Run]; return !ok })
	if len(evs) == 0 {
		fmt.Fprintf(out, "the trials' runs of model %s have no events: no PNG\n", model)
		return nil
	}
	last := map[trialRun]int64{} // each rung's last step
	present := map[string]bool{}
	for _, e := range evs {
		tr := runs[e.Run]
		last[tr] = max(last[tr], e.Step)
		for k := range e.Values {
			present[k] = true
		}
	}
	for i := range evs {
		tr := runs[evs[i].Run]
		for k := range tr.rung {
			evs[i].Step += last[trialRun{tr.trial, k}]
		}
		evs[i].Run = fmt.Sprintf("t%d r%d", tr.trial, tr.rung)
	}
	var values []string // the metrics, not speed or learning rate
	for _, k := range []string{s.Metric, "accuracy", "loss", "val_accuracy", "val_loss", "perplexity", "val_perplexity"} {
		if present[k] && !slices.Contains(values, k) {
			values = append(values, k)
		}
	}
	var buf bytes.Buffer
	if err := eventplot.Render(evs, &buf, eventplot.Options{Title: title, Values: values}); err != nil {
		return fmt.Errorf("draw the curves of %s: %w", title, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the curves of %s: %w", title, err)
	}
	fmt.Fprintln(out, path)
	return nil
}

func formatParams(p map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		v := fmt.Sprint(p[k])
		if f, ok := p[k].(float64); ok {
			v = formatMetric(f)
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, " ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func newSweepListCmd(stdout io.Writer) *cobra.Command {
	return storeCommand(&cobra.Command{
		Use:   "list",
		Short: "the project's sweeps, newest first",
		Args:  nargs(0, 0),
	}, func(ctx context.Context, db *store.DB, _ []string) error {
		sws, err := sweep.List(ctx, db)
		if err != nil {
			return err
		}
		if len(sws) == 0 {
			fmt.Fprintln(stdout, "no sweeps (tl sweep SPEC.yaml submits one)")
			return nil
		}
		tw := table(stdout, "NAME\tSTATE\tALGORITHM\tTRIALS\tMETRIC\tBEST\tCREATED")
		for _, sw := range sws {
			s, err := sw.Spec()
			if err != nil {
				return err
			}
			best := "-"
			if b := sw.BestSoFar(s); b != nil {
				best = fmt.Sprintf("%s (trial %d, %s v%d)", formatMetric(b.Metric), b.Trial, b.Model, b.Version)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", sw.Name, sw.State, s.Algorithm, len(sw.Trials), s.TotalTrials(), s.Metric, best,
				sw.Created.Local().Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	})
}

func newSweepStopCmd(stdout io.Writer) *cobra.Command {
	return storeCommand(&cobra.Command{
		Use:   "stop NAME",
		Short: "stop a sweep: the master cancels its running trials and names the best of those done",
		Args:  nargs(1, 1),
	}, func(ctx context.Context, db *store.DB, args []string) error {
		if err := sweep.Stop(ctx, db, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sweep %s: stop requested; the leading master cancels its running trials (tl sweep status %s)\n", args[0], args[0])
		return nil
	})
}
