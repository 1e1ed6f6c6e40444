package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
)

// runInfo is a line of 'tl runs' and its JSON form.
type runInfo struct {
	Run       string    `json:"run"`
	Events    int       `json:"events"`
	Phases    []string  `json:"phases"`
	FirstStep int64     `json:"first_step"`
	LastStep  int64     `json:"last_step"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// Last holds the last value of each metric; other phases than train
	// are prefixed ("validation/loss").
	Last map[string]float64 `json:"last"`
}

func newRunsCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c      storeConn
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "runs MODEL",
		Short: "list a model's training runs: events, steps, last metric values",
		Long: `Lists the training runs recorded for MODEL (its events), oldest first: the
number of events, the phases, first and last step, time span, and the last
value of each metric (validation and test values prefixed with the phase).`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listRuns(cmd.Context(), &c, args[0], asJSON, stdout)
		},
	}
	c.flags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func listRuns(ctx context.Context, c *storeConn, model string, asJSON bool, stdout io.Writer) error {
	if err := store.ValidateName("model", model); err != nil {
		return err
	}
	return c.withStore(ctx, func(db *store.DB) error {
		// The runs' summaries, which the event writers keep: no event is read.
		sums, err := events.Summaries(ctx, db, model)
		if err != nil {
			return fmt.Errorf("runs of model %s: %w", model, err)
		}
		if len(sums) == 0 {
			return noEvents(ctx, db, model, "")
		}
		runs := summaryRuns(sums)
		if asJSON {
			return writeJSON(stdout, map[string]any{"project": db.Project(), "model": model, "runs": runs})
		}
		w := table(stdout, "RUN\tEVENTS\tPHASES\tSTEPS\tSTARTED\tDURATION\tLAST VALUES")
		for _, r := range runs {
			fmt.Fprintf(w, "%s\t%d\t%s\t%d-%d\t%s\t%v\t%s\n", r.Run, r.Events, strings.Join(r.Phases, ","),
				r.FirstStep, r.LastStep, r.Start.Local().Format(time.DateTime), span(r.End.Sub(r.Start)),
				dash(metricPairs(r.Last)))
		}
		return w.Flush()
	})
}

// summaryRuns are the lines of tl runs, from the runs' summaries (oldest
// start first): train first among the phases, the others sorted.
func summaryRuns(sums []events.Summary) []runInfo {
	runs := make([]runInfo, 0, len(sums))
	for _, s := range sums {
		r := runInfo{Run: s.Run, Events: int(s.Events), FirstStep: s.FirstStep, LastStep: s.LastStep,
			Start: s.Start, End: s.End, Last: map[string]float64{}}
		for _, p := range s.Phases {
			r.Phases = append(r.Phases, p.Phase)
		}
		rank := func(p string) int {
			if p == events.Train {
				return 0
			}
			return 1
		}
		slices.SortStableFunc(r.Phases, func(a, b string) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b)) })
		for _, v := range s.Last {
			r.Last[v.Name] = v.Value
		}
		runs = append(runs, r)
	}
	return runs
}

// noEvents is the error for a model with no events; it names the models that
// have some, since a typo is the likely cause. Nothing failed, so it wraps
// nothing unless the listing did.
func noEvents(ctx context.Context, db *store.DB, model, run string) error {
	what := fmt.Sprintf("model %q", model)
	if run != "" {
		what += fmt.Sprintf(" run %q", run)
	}
	names, err := events.Models(ctx, db)
	switch {
	case err != nil:
		return fmt.Errorf("no training events for %s in project %q (listing the models with events failed: %w)", what, db.Project(), err)
	case len(names) == 0:
		return fmt.Errorf("no training events for %s in project %q, which has none for any model", what, db.Project())
	}
	return fmt.Errorf("no training events for %s in project %q; models with events: %s", what, db.Project(), strings.Join(names, ", "))
}

// curveFlags are the flags of tl curve.
type curveFlags struct {
	storeConn
	run, phase, keys, outPNG, outCSV string
}

func newCurveCmd(stdout, _ io.Writer) *cobra.Command {
	var f curveFlags
	cmd := &cobra.Command{
		Use:   "curve MODEL",
		Short: "draw a model's training curves to a PNG; --csv writes the series",
		Long: `Draws MODEL's training curves to a PNG: one panel per metric, one line per run
and phase, steps along the x axis; prints the file's name. The PNG alone is drawn
from the curves the event writers keep per run (exact up to 1,000 points, then
each bucket's minimum and maximum), so it reads no event. --csv writes every
event's values (step,run,phase,key,value; '-' is stdout), and the PNG from the
same events: without -o, only the CSV.`,
		Example: "  tl curve fashion-cnn -o c.png\n  tl curve fashion-cnn --csv - --keys loss",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return drawCurve(cmd.Context(), &f, args[0], cmd.Flags().Changed("output"), stdout)
		},
	}
	fs := cmd.Flags()
	f.flags(fs)
	fs.StringVar(&f.run, "run", "", "only this run (default: every run of the model)")
	fs.StringVar(&f.phase, "phase", "", "only this phase: train, validation, test (default: all)")
	fs.StringVar(&f.keys, "keys", "", "comma-separated metrics to draw, e.g. loss,accuracy (default: all)")
	fs.StringVarP(&f.outPNG, "output", "o", "", "PNG file to write (default MODEL-curve.png, or MODEL-RUN-curve.png with --run)")
	fs.StringVar(&f.outCSV, "csv", "", "write the series as CSV to this file ('-': stdout); without -o, no PNG")
	// --o, the name the flag had, still works.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "o" {
			name = "output"
		}
		return pflag.NormalizedName(name)
	})
	return cmd
}

func drawCurve(ctx context.Context, f *curveFlags, model string, explicitPNG bool, stdout io.Writer) error {
	if err := store.ValidateName("model", model); err != nil {
		return err
	}
	run, phase, keys, outPNG, outCSV := f.run, f.phase, f.keys, f.outPNG, f.outCSV
	writePNG := explicitPNG || outCSV == ""
	if outPNG == "" {
		outPNG = model + "-curve.png"
		if run != "" {
			outPNG = model + "-" + run + "-curve.png"
		}
	}
	var values []string
	for k := range strings.SplitSeq(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			values = append(values, k)
		}
	}

	return f.withStore(ctx, func(db *store.DB) error {
		// With a CSV, one query serves both the PNG and the CSV, so they show the
		// same series; a PNG alone is drawn from the runs' downsampled curves,
		// which the event writers keep (no event is read).
		var (
			evs []events.Event
			err error
		)
		if outCSV != "" {
			evs, err = events.Find(ctx, db, events.Query{Model: model, Run: run, Phase: phase})
		} else {
			evs, err = curveEvents(ctx, db, model, run, phase)
		}
		if err != nil {
			return fmt.Errorf("events of model %s: %w", model, err)
		}
		if len(evs) == 0 {
			return noEvents(ctx, db, model, run)
		}
		if writePNG {
			var buf bytes.Buffer
			title := ""
			if run == "" {
				title = "model " + model
			}
			if err := eventplot.Render(evs, &buf, eventplot.Options{Values: values, Title: title}); err != nil {
				return fmt.Errorf("draw the curves of %s: %w", model, err)
			}
			// Rendered in memory first, so a failure leaves no half-written file.
			if err := os.WriteFile(outPNG, buf.Bytes(), 0o644); err != nil {
				return fmt.Errorf("write the curves of %s: %w", model, err)
			}
			fmt.Fprintln(stdout, outPNG)
		}
		if outCSV != "" {
			if err := writeCurveCSV(evs, values, outCSV, stdout); err != nil {
				return fmt.Errorf("write the CSV of %s: %w", model, err)
			}
			if outCSV != "-" {
				fmt.Fprintln(stdout, outCSV)
			}
		}
		return nil
	})
}

// curveEvents are the points of a model's runs' downsampled curves (at most
// events.CurvePoints per curve) as events, for eventplot: one run, or every
// run of the model, of one phase or all.
func curveEvents(ctx context.Context, db *store.DB, model, run, phase string) ([]events.Event, error) {
	var sums []events.Summary
	if run != "" {
		s, err := events.RunSummary(ctx, db, run)
		if errors.Is(err, events.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if s.Model == model {
			sums = []events.Summary{*s}
		}
	} else {
		var err error
		if sums, err = events.Summaries(ctx, db, model); err != nil {
			return nil, err
		}
	}
	var evs []events.Event
	for _, s := range sums {
		r := s.Run
		cs, err := events.RunCurves(ctx, db, r)
		if err != nil {
			return nil, err
		}
		for _, c := range cs.Curves {
			// "validation/loss"; a train metric's own name may hold a '/'.
			ph, key, ok := strings.Cut(c.Name, "/")
			if !ok || ph == events.Train || !slices.ContainsFunc(s.Phases, func(p events.PhaseCount) bool { return p.Phase == ph }) {
				ph, key = events.Train, c.Name
			}
			if phase != "" && ph != phase {
				continue
			}
			for i, x := range c.Steps {
				evs = append(evs, events.Event{Project: db.Project(), Model: model, Run: r, Phase: ph, Step: x,
					Values: map[string]float64{key: c.Values[i]}})
			}
		}
	}
	return evs, nil
}

// writeCurveCSV writes one row per event and value: step,run,phase,key,value.
// Phase is there because train and validation share keys at the same steps.
func writeCurveCSV(evs []events.Event, keys []string, path string, stdout io.Writer) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"step", "run", "phase", "key", "value"})
	seen := map[string]bool{}
	for _, e := range evs {
		names := keys
		if len(names) == 0 {
			names = slices.Sorted(maps.Keys(e.Values))
		}
		for _, k := range names {
			v, ok := e.Values[k]
			if !ok {
				continue
			}
			seen[k] = true
			_ = w.Write([]string{strconv.FormatInt(e.Step, 10), e.Run, e.Phase, k, strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	for _, k := range keys {
		if !seen[k] {
			return fmt.Errorf("%w: no event has value %q", eventplot.ErrNoEvents, k)
		}
	}
	if len(seen) == 0 {
		return fmt.Errorf("%w: %d events carry no values", eventplot.ErrNoEvents, len(evs))
	}
	if path == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// span rounds a run's duration to seconds, or milliseconds under a second.
func span(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
