package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/sweep"
)

const cvAbout = `Submits a k-fold cross-validation: the dataset view is partitioned into k
folds on the server, by a stable hash of each sample's key (stratified: each
label's samples dealt so that every fold holds its share to within one
sample), as 2k views named cv-NAME-<i>-train and cv-NAME-<i>-test; one plan
then runs the k train-and-evaluate pairs in parallel. The result is each
fold's metric and their mean and standard deviation, stored with the record
(tl cv status NAME).

Checked before anything is written: k larger than the view, a view that does
not exist, a parameter name the train kind's agents do not take, a metric
the evaluate task does not report (accuracy, loss).

A spec:
  name: fmnist-cv
  dataset: fashion-train
  k: 5
  stratified: true
  base: {model: fmnist-cv, params: {arch: mlp, epochs: 2, batch: 64, lr: 0.001}}
  metric: accuracy`

func newCVCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		c    conn
		wait bool
	)
	cmd := &cobra.Command{
		Use:     "cv SPEC",
		Short:   "k-fold cross-validation as one plan: submit, status, list",
		Long:    cvAbout,
		Example: "  tl cv examples/sweep/cv.yaml --wait\n  tl cv status fmnist-cv",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return submitCV(cmd.Context(), &c, args[0], wait, stdout)
		},
	}
	c.flags(cmd.Flags(), true)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the folds until every one is scored, then print the result")
	cmd.AddCommand(newCVStatusCmd(stdout), newCVListCmd(stdout))
	return cmd
}

func submitCV(ctx context.Context, c *conn, path string, wait bool, out io.Writer) error {
	spec, err := readSpec(path, "cross-validation spec", sweep.ParseCV)
	if err != nil {
		return err
	}
	return c.withJS(ctx, func(js jetstream.JetStream) error {
		return c.withRecords(ctx, func(db *store.DB, st status.Store) error {
			sw, warnings, err := sweep.SubmitCV(ctx, db, js, spec)
			if err != nil {
				return err
			}
			printWarnings(out, warnings)
			fmt.Fprintf(out, "cross-validation %s submitted: %d folds of %s%s as plan %s (tl cv status %s)\n",
				sw.Name, spec.K, spec.Dataset, map[bool]string{true: ", stratified"}[spec.Stratified], sw.CV.Plan, sw.Name)
			if !wait {
				return nil
			}
			return followCV(ctx, db, st, spec.Name, out)
		})
	})
}

// followCV prints each fold as it is scored, then the result.
func followCV(ctx context.Context, db *store.DB, st status.Store, name string, out io.Writer) error {
	scored := map[int]bool{}
	for {
		sw, err := sweep.CVStatus(ctx, db, st, name)
		if err != nil {
			return err
		}
		for _, f := range sw.CV.Folds {
			if f.State != sweep.Running && !scored[f.I] {
				scored[f.I] = true
				fmt.Fprintf(out, "%s  fold %d: %s %s\n", time.Now().Format("15:04:05"), f.I, f.State, foldValue(sw.CV.Metric, f))
			}
		}
		if sw.State != sweep.Running {
			return printCV(sw, out)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

func foldValue(metric string, f sweep.FoldResult) string {
	if f.State == sweep.Done {
		return fmt.Sprintf("%s %s (model %s v%d)", metric, formatMetric(f.Metric), f.Model, f.Version)
	}
	return f.Error
}

// printCV prints the folds and the mean and standard deviation; a
// cross-validation that did not score every fold is an error.
func printCV(sw *sweep.Sweep, out io.Writer) error {
	cv := sw.CV
	fmt.Fprintf(out, "cross-validation %s: %s, %d folds of %s (stratified %v), plan %s\n", sw.Name, sw.State, cv.K, cv.Dataset, cv.Stratified, cv.Plan)
	tw := table(out, fmt.Sprintf("FOLD\tSTATE\tTRAIN VIEW\tTEST VIEW\tMODEL\t%s", strings.ToUpper(cv.Metric)))
	for _, f := range cv.Folds {
		v := "-"
		if f.State == sweep.Done {
			v = formatMetric(f.Metric)
		} else if f.Error != "" {
			v = firstLine(f.Error)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", f.I, f.State, f.Train, f.Test, f.Model, v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch sw.State {
	case sweep.Finished:
		fmt.Fprintf(out, "%s: mean %.4f, standard deviation %.4f over %d folds\n", cv.Metric, cv.Mean, cv.Std, len(cv.Folds))
	case sweep.Running:
	default:
		return fmt.Errorf("cross-validation %s %s (%s): %w", sw.Name, sw.State, sw.Note, errSweepFailed)
	}
	return nil
}

func newCVStatusCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := storeCommand(&cobra.Command{
		Use:   "status NAME",
		Short: "a cross-validation's folds, and their mean and standard deviation once all are scored",
		Args:  nargs(1, 1),
	}, func(ctx context.Context, db *store.DB, args []string) error {
		st, err := status.NewMongo(ctx, db)
		if err != nil {
			return err
		}
		sw, err := sweep.CVStatus(ctx, db, st, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, sw)
		}
		return printCV(sw, stdout)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as JSON")
	return cmd
}

func newCVListCmd(stdout io.Writer) *cobra.Command {
	return storeCommand(&cobra.Command{
		Use:   "list",
		Short: "the project's cross-validations, newest first",
		Args:  nargs(0, 0),
	}, func(ctx context.Context, db *store.DB, _ []string) error {
		return listCV(ctx, db, stdout)
	})
}

func listCV(ctx context.Context, db *store.DB, out io.Writer) error {
	sws, err := sweep.CVList(ctx, db)
	if err != nil {
		return err
	}
	if len(sws) == 0 {
		fmt.Fprintln(out, "no cross-validations (tl cv SPEC.yaml submits one)")
		return nil
	}
	tw := table(out, "NAME\tSTATE\tDATASET\tK\tMETRIC\tMEAN\tSTD\tCREATED")
	for _, sw := range sws {
		cv := sw.CV
		mean, std := "-", "-"
		if sw.State == sweep.Finished {
			mean, std = fmt.Sprintf("%.4f", cv.Mean), fmt.Sprintf("%.4f", cv.Std)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", sw.Name, sw.State, cv.Dataset, cv.K, cv.Metric, mean, std, sw.Created.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}
