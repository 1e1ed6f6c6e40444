package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/stream"
)

const streamAbout = `Stream rules start training when new data arrives (the stream controller of
the TensorLayer paper, section 2.3): "when 5000 new samples match dataset V,
fine-tune model M". A rule watches one or more datasets (views) of the
project and submits its plan through the master once per batch of new
samples: when --min-count of them are new, or when the oldest new one has
waited --max-wait, or both, whichever comes first.

The rules live in the store (collection stream_rules); the leading master
runs them, re-reading them every few seconds, so define, pause, resume and
delete take effect without a restart. Each batch is submitted under a plan
id derived from the rule and the batch's sequence range, and the batch is
recorded before it is submitted: a master killed in between submits the same
batch again after its restart, and the master runs that plan id once.`

const streamDefineAbout = `Defines a rule. Without --plan, the rule submits a plan of one train task
(kind train) on the new samples that fine-tunes --model from its latest
version (params init: {model: M}; --fresh trains from scratch instead), with
--params as the task's other params (a JSON object: epochs, batch, lr, ...).

With --plan FILE, the rule submits that plan file (YAML or JSON, as tl submit
reads), in whose strings these placeholders are replaced:
  ${new}    a dataset defined for the batch: the view restricted to the new
            samples' sequence range, named VIEW@FIRST-LAST (one view only)
  ${view}   the (first) view watched
  ${rule}   the rule's name
  ${event}  the batch's id

Only samples inserted after the rule is defined count as new, unless
--from-start. A rule naming a dataset that does not exist, with neither
--min-count nor --max-wait, or whose plan is not a valid plan, is refused and
nothing is stored. The datasets are those of the default sample collection.`

func newStreamCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "rules that start training when new samples arrive: define, list, pause, resume, delete",
		Long:  streamAbout,
	}
	cmd.AddCommand(newStreamDefineCmd(stdout), newStreamListCmd(stdout),
		newStreamPauseCmd(stdout, true), newStreamPauseCmd(stdout, false), newStreamDeleteCmd(stdout))
	return cmd
}

// defineFlags are the flags of tl stream define.
type defineFlags struct {
	storeConn
	views              []string
	model, params      string
	planFile, input    string
	minCount           int64
	maxWait            time.Duration
	fromStart, asPause bool
	fresh              bool
}

func newStreamDefineCmd(stdout io.Writer) *cobra.Command {
	var f defineFlags
	cmd := &cobra.Command{
		Use:   "define NAME",
		Short: "define a rule: when new samples match a view, submit a plan",
		Long:  streamDefineAbout,
		Example: `  tl stream define fashion-ft --view fashion-new --model fashion-cnn --min-count 5000 --max-wait 1h --params '{"epochs":1,"lr":0.0005}'
  tl stream define nightly --view fashion-new --max-wait 24h --plan retrain.yaml`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return streamDefine(cmd.Context(), &f, args[0], stdout)
		},
	}
	f.flags(cmd.Flags())
	fs := cmd.Flags()
	fs.StringArrayVar(&f.views, "view", nil, "dataset to watch (repeat for several)")
	fs.StringVar(&f.model, "model", "", "model the train task fine-tunes (without --plan)")
	fs.StringVar(&f.params, "params", "", `the train task's params as a JSON object, for example '{"epochs":1}' (without --plan)`)
	fs.StringVar(&f.input, "input", stream.PlaceholderNew, "the train task's input: "+stream.PlaceholderNew+" (the new samples) or "+stream.PlaceholderView+" (the whole view) (without --plan)")
	fs.StringVar(&f.planFile, "plan", "", "plan file (YAML or JSON) to submit, with placeholders; instead of --model and --params")
	fs.Int64Var(&f.minCount, "min-count", 0, "this many new samples start a plan (0: only --max-wait)")
	fs.DurationVar(&f.maxWait, "max-wait", 0, "a plan starts when the oldest new sample has waited this long (0: only --min-count)")
	fs.BoolVar(&f.fresh, "fresh", false, "train --model from scratch on each batch instead of fine-tuning its latest version (without --plan)")
	fs.BoolVar(&f.fromStart, "from-start", false, "count the samples already in the views as new")
	fs.BoolVar(&f.asPause, "paused", false, "define the rule paused (tl stream resume starts it)")
	return cmd
}

func streamDefine(ctx context.Context, f *defineFlags, name string, stdout io.Writer) error {
	r := stream.Rule{Name: name, Views: f.views, MinCount: f.minCount, MaxWait: f.maxWait, Paused: f.asPause}
	initModel := "" // the model the default plan fine-tunes
	if len(f.views) == 0 {
		return usageErrorf("no --view: name the dataset to watch")
	}
	switch {
	case f.planFile != "":
		if f.model != "" || f.params != "" {
			return usageErrorf("--plan and --model/--params: give one (the plan file names its own model and params)")
		}
		data, err := os.ReadFile(f.planFile)
		if err != nil {
			return fmt.Errorf("--plan: %w", err)
		}
		r.Plan = string(data)
	case f.model == "":
		return usageErrorf("no --model and no --plan: name the model to fine-tune, or a plan file to submit")
	default:
		if err := store.ValidateName("model", f.model); err != nil {
			return usageErrorf("--model: %w", err)
		}
		params := map[string]any{}
		if f.params != "" {
			if err := json.Unmarshal([]byte(f.params), &params); err != nil {
				return usageErrorf("--params %q: expected a JSON object such as '{\"epochs\":1}': %w", f.params, err)
			}
		}
		if _, given := params["init"]; !given && !f.fresh {
			// Fine-tune: each batch starts from the model's latest version.
			params["init"] = map[string]any{"model": f.model}
			initModel = f.model
		}
		tmpl := plan.Spec{Name: name, Tasks: []plan.TaskSpec{{ID: "finetune", Kind: "train", Input: f.input, Model: f.model, Params: params}}}
		data, err := json.Marshal(tmpl)
		if err != nil {
			return fmt.Errorf("rule %s: plan: %w", name, err)
		}
		r.Plan = string(data)
	}
	return f.withStore(ctx, func(db *store.DB) error {
		if initModel != "" {
			ms, err := models.New(ctx, db, models.Options{})
			if err != nil {
				return err
			}
			if _, err := ms.Get(ctx, models.Ref{Name: initModel}); errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("rule %s: model %q has no saved version to fine-tune from in project %s: train it first, or pass --fresh to train it from scratch on each batch: %w", name, initModel, db.Project(), err)
			} else if err != nil {
				return fmt.Errorf("rule %s: model %q: %w", name, initModel, err)
			}
		}
		rules, err := stream.OpenRules(ctx, db)
		if err != nil {
			return err
		}
		def, err := rules.Define(ctx, r, f.fromStart)
		if err != nil {
			return err
		}
		st, err := rules.State(ctx, def)
		if err != nil {
			return err
		}
		state := "active: the leading master runs it"
		if def.Paused {
			state = "paused (tl stream resume " + def.Name + " starts it)"
		}
		fmt.Fprintf(stdout, "rule %s defined in project %s: %s; %s\n", def.Name, db.Project(), ruleWhen(def), state)
		fmt.Fprintf(stdout, "position %s; %d new sample(s) pending\n", positions(def, st), st.Pending)
		return nil
	})
}

// ruleWhen says when a rule submits.
func ruleWhen(r *stream.Rule) string {
	var w []string
	if r.MinCount > 0 {
		w = append(w, fmt.Sprintf("%d new samples", r.MinCount))
	}
	if r.MaxWait > 0 {
		w = append(w, "the oldest new sample waited "+r.MaxWait.String())
	}
	return "submits when " + strings.Join(w, " or ") + " in " + strings.Join(r.Views, ", ")
}

func positions(r *stream.Rule, st *stream.RuleState) string {
	var ps []string
	for _, v := range r.Views {
		ps = append(ps, fmt.Sprintf("%s after #%d", v, st.Positions[v]))
	}
	return strings.Join(ps, ", ")
}

// ruleLine is a line of tl stream list and its JSON form.
type ruleLine struct {
	*stream.Rule
	State *stream.RuleState `json:"state,omitempty"`
	Error string            `json:"error,omitempty"`
}

// ruleLines reads every rule of the project with its state; a rule whose
// state cannot be read (its view deleted) says why.
func ruleLines(ctx context.Context, db *store.DB) ([]ruleLine, error) {
	rules, err := stream.OpenRules(ctx, db)
	if err != nil {
		return nil, err
	}
	rs, err := rules.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ruleLine, 0, len(rs))
	for _, r := range rs {
		l := ruleLine{Rule: r}
		if l.State, err = rules.State(ctx, r); err != nil {
			l.Error = err.Error()
		}
		out = append(out, l)
	}
	return out, nil
}

func newStreamListCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := storeCommand(&cobra.Command{
		Use:   "list",
		Short: "list the rules: views, thresholds, paused, position, pending samples, last plan",
		Long: `Lists the project's stream rules: the views each watches, when it submits,
whether it is paused, its position (the last sequence number handled per
view), how many new samples of its views wait, and the last plan it submitted.`,
		Args: nargs(0, 0),
	}, func(ctx context.Context, db *store.DB, _ []string) error {
		lines, err := ruleLines(ctx, db)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, lines)
		}
		if len(lines) == 0 {
			fmt.Fprintf(stdout, "no stream rules in project %s (define one with: tl stream define NAME --view V --model M --min-count N)\n", db.Project())
			return nil
		}
		w := table(stdout, "RULE\tVIEWS\tMIN COUNT\tMAX WAIT\tSTATE\tPOSITION\tPENDING\tSUBMITTED\tLAST PLAN")
		for _, l := range lines {
			state, pos, pending := "active", "?", "?"
			if l.Paused {
				state = "paused"
			}
			if l.State != nil {
				pos, pending = positions(l.Rule, l.State), fmt.Sprint(l.State.Pending)
			} else {
				state += " (" + oneLine(l.Error) + ")"
			}
			wait, last := "-", "-"
			if l.MaxWait > 0 {
				wait = l.MaxWait.String()
			}
			if l.LastPlan != "" {
				last = l.LastPlan + " at " + l.LastSubmitted.Local().Format(time.DateTime)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", l.Name, strings.Join(l.Views, ","), l.MinCount, wait, state, pos, pending, l.Submitted, last)
		}
		return w.Flush()
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func newStreamPauseCmd(stdout io.Writer, pause bool) *cobra.Command {
	use, short, long := "pause NAME", "pause a rule: it submits nothing until resumed",
		`Pauses a rule: the leading master stops its controller within seconds and it
submits nothing; new samples wait. 'tl stream resume' starts it again, and the
samples that arrived meanwhile start one plan (if enough).`
	if !pause {
		use, short, long = "resume NAME", "resume a paused rule",
			`Resumes a paused rule: within seconds the leading master runs it again, and the
samples that arrived while it was paused start one plan (if enough).`
	}
	return storeCommand(&cobra.Command{
		Use: use, Short: short, Long: long,
		Args: nargs(1, 1),
	}, func(ctx context.Context, db *store.DB, args []string) error {
		rules, err := stream.OpenRules(ctx, db)
		if err != nil {
			return err
		}
		if err := rules.SetPaused(ctx, args[0], pause); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rule %s %s\n", args[0], map[bool]string{true: "paused", false: "resumed"}[pause])
		return nil
	})
}

func newStreamDeleteCmd(stdout io.Writer) *cobra.Command {
	return storeCommand(&cobra.Command{
		Use:   "delete NAME",
		Short: "delete a rule and its position (the plans it submitted stay)",
		Long: `Deletes a rule and its position: the leading master stops it within seconds.
The plans it submitted, and the datasets it defined for them, stay.`,
		Args: nargs(1, 1),
	}, func(ctx context.Context, db *store.DB, args []string) error {
		rules, err := stream.OpenRules(ctx, db)
		if err != nil {
			return err
		}
		if err := rules.Delete(ctx, args[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rule %s deleted\n", args[0])
		return nil
	})
}

// showStreamRules writes tl status's lines about the stream rules: one per
// rule, none when there are none.
func showStreamRules(ctx context.Context, db *store.DB, out io.Writer) {
	lines, err := ruleLines(ctx, db)
	if err != nil {
		fmt.Fprintf(out, "stream rules: unknown (%v)\n", err)
		return
	}
	for _, l := range lines {
		state := "active"
		if l.Paused {
			state = "paused"
		}
		detail := ""
		switch {
		case l.State == nil:
			detail = oneLine(l.Error)
		case l.MinCount > 0:
			detail = fmt.Sprintf("%d of %d new samples", l.State.Pending, l.MinCount)
		default:
			detail = fmt.Sprintf("%d new samples", l.State.Pending)
		}
		last := "no plan yet"
		if l.LastPlan != "" {
			last = fmt.Sprintf("last plan %s at %s", l.LastPlan, l.LastSubmitted.Local().Format(time.DateTime))
		}
		fmt.Fprintf(out, "stream rule %s: %s, %s, %s\n", l.Name, state, detail, last)
	}
}

// streamController runs the project's stream rules on the leading master,
// submitting their plans through the master's own command stream with its
// credentials.
func streamController(db *store.DB, natsURL string, creds *queue.Credentials, poll time.Duration, log *slog.Logger) master.Controller {
	return master.Controller{Name: "stream rules", Run: func(ctx context.Context) error {
		rules, err := stream.OpenRules(ctx, db)
		if err != nil {
			return err
		}
		nc, js, err := queue.Connect(ctx, natsURL, "tl master: stream rules", log, creds.Options()...)
		if err != nil {
			return fmt.Errorf("stream rules: connect to NATS %s: %w", redactURL(natsURL), redactError(err))
		}
		defer nc.Close()
		err = rules.Run(ctx, stream.RunConfig{Poll: poll, Logger: log, Submit: func(ctx context.Context, id string, spec *plan.Spec) error {
			_, err := master.SubmitAs(ctx, js, id, spec)
			return err
		}})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}}
}
