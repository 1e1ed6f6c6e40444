package sweep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"go.yaml.in/yaml/v3"
)

// CVSpec is a k-fold cross-validation as written by a person.
type CVSpec struct {
	Name string `yaml:"name" json:"name"`
	// Dataset is the view partitioned into K folds (by key hash, on the server).
	Dataset    string `yaml:"dataset" json:"dataset"`
	K          int    `yaml:"k" json:"k"`
	Stratified bool   `yaml:"stratified,omitempty" json:"stratified,omitempty"`
	// Base is the train task of each fold; its input is the fold's training
	// view (Base.Input must be empty), its model Base.Model-fold<i> (default
	// cv-NAME-fold<i>).
	Base Base `yaml:"base" json:"base"`
	// Metric is what the evaluate task reports on the held-out fold:
	// accuracy (default) or loss.
	Metric string `yaml:"metric,omitempty" json:"metric,omitempty"`
	// EvalKind is the task kind that scores a fold; default "evaluate".
	EvalKind string `yaml:"eval_kind,omitempty" json:"eval_kind,omitempty"`
}

// CVRecord is a cross-validation's plan and results.
type CVRecord struct {
	Dataset    string       `bson:"dataset" json:"dataset"`
	K          int          `bson:"k" json:"k"`
	Stratified bool         `bson:"stratified" json:"stratified"`
	Metric     string       `bson:"metric" json:"metric"`
	Plan       string       `bson:"plan" json:"plan"`
	Folds      []FoldResult `bson:"folds" json:"folds"`
	// Mean and Std (population, as numpy's default) of the folds' metric,
	// once every fold is scored.
	Mean float64 `bson:"mean" json:"mean"`
	Std  float64 `bson:"std" json:"std"`
}

// FoldResult is one fold's train-and-evaluate pair.
type FoldResult struct {
	I       int     `bson:"i" json:"i"`
	Train   string  `bson:"train" json:"train"` // dataset views
	Test    string  `bson:"test" json:"test"`
	Model   string  `bson:"model" json:"model"`
	Version int64   `bson:"version,omitempty" json:"version,omitempty"`
	State   string  `bson:"state" json:"state"`
	Metric  float64 `bson:"metric" json:"metric"`
	Error   string  `bson:"error,omitempty" json:"error,omitempty"`
}

// ParseCV reads a cross-validation spec, fills its defaults and validates it.
func ParseCV(data []byte, source string) (*CVSpec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s CVSpec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: empty file, expected a mapping with name, dataset, k and base", ErrInvalid, source)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, source, err)
	}
	s.Defaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &s, nil
}

// Defaults fills what the spec leaves out.
func (s *CVSpec) Defaults() {
	if s.Base.Kind == "" {
		s.Base.Kind = "train"
	}
	if s.EvalKind == "" {
		s.EvalKind = "evaluate"
	}
	if s.Base.Queue == "" {
		s.Base.Queue = plan.DefaultQueue
	}
	if s.Base.MaxAttempts == 0 {
		s.Base.MaxAttempts = plan.DefaultMaxAttempts
	}
	if s.Base.Model == "" {
		s.Base.Model = "cv-" + s.Name
	}
	if s.Metric == "" {
		s.Metric = "accuracy"
	}
}

// Validate checks the spec on its own.
func (s *CVSpec) Validate() error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if !task.ValidName(s.Name) || len(s.Name) > MaxNameLen {
		add("name: %q is not a name (letters, digits, '-', '_', at most %d)", s.Name, MaxNameLen)
	}
	if s.Dataset == "" {
		add("dataset: empty, expected the dataset view to partition")
	}
	if s.K < 2 || s.K > 100 {
		add("k: %d, expected 2 to 100 folds", s.K)
	}
	if s.Base.Input != "" {
		add("base.input: %q, leave it out: each fold trains on its own view of dataset", s.Base.Input)
	}
	if s.Metric != "accuracy" && s.Metric != "loss" {
		add("metric: %q is reported by no evaluate task; they report accuracy and loss", s.Metric)
	}
	if !task.ValidName(s.Base.Kind) || !task.ValidName(s.EvalKind) || !task.ValidName(s.Base.Queue) {
		add("base.kind %q, eval_kind %q, base.queue %q: expected names of letters, digits, '-', '_'", s.Base.Kind, s.EvalKind, s.Base.Queue)
	}
	for _, f := range []string{"input", "validation", "init", "alias"} {
		if _, ok := s.Base.Params[f]; ok {
			add("base.params.%s: set by the cross-validation itself, leave it out", f)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalid, s.Name, strings.Join(bad, "; "))
	}
	return nil
}

// CVPlanID is the plan of a cross-validation.
func CVPlanID(name string) string { return "cv-" + name }

// SubmitCV checks spec, partitions its view into K folds (2K views named
// cv-NAME-<i>-train and cv-NAME-<i>-test), stores the record and submits one
// plan of K train-and-evaluate pairs, which run in parallel. Bad input (a
// spec that does not validate, a parameter the kind's agents do not take, a
// view that does not exist, K larger than the view, a name taken) is an error
// before anything is written.
func SubmitCV(ctx context.Context, db *store.DB, js jetstream.JetStream, spec *CVSpec) (*Sweep, []string, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	_, warnings, err := checkKind(ctx, js, spec.Base.Kind, slices.Collect(maps.Keys(spec.Base.Params)))
	if err != nil {
		return nil, nil, fmt.Errorf("%w %q: %w", ErrInvalid, spec.Name, err)
	}
	if _, _, err := checkKind(ctx, js, spec.EvalKind, nil); err != nil {
		return nil, nil, fmt.Errorf("%w %q: %w", ErrInvalid, spec.Name, err)
	}
	r := newRecords(db)
	if _, err := r.get(ctx, spec.Name); err == nil {
		return nil, nil, fmt.Errorf("sweep: %q in project %q: %w (pick another name, or see tl cv status %s)", spec.Name, db.Project(), ErrExists, spec.Name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		return nil, nil, err
	}
	view, err := coll.Dataset(ctx, spec.Dataset)
	if errors.Is(err, dataset.ErrNotFound) {
		have, _ := coll.Datasets(ctx)
		return nil, nil, fmt.Errorf("%w %q: dataset view %q does not exist (there: %s)", ErrInvalid, spec.Name, spec.Dataset, strings.Join(have, ", "))
	}
	if err != nil {
		return nil, nil, err
	}
	folds, err := view.Folds(ctx, CVPlanID(spec.Name), spec.K, spec.Stratified)
	if errors.Is(err, dataset.ErrTooFewSamples) {
		return nil, nil, fmt.Errorf("%w %q: k = %d is larger than the view: %w", ErrInvalid, spec.Name, spec.K, err)
	}
	if err != nil {
		return nil, nil, err
	}
	rec := &CVRecord{Dataset: spec.Dataset, K: spec.K, Stratified: spec.Stratified, Metric: spec.Metric, Plan: CVPlanID(spec.Name)}
	ps := &plan.Spec{Name: CVPlanID(spec.Name)}
	for _, f := range folds {
		fr := FoldResult{I: f.I, Train: f.Train.Name(), Test: f.Test.Name(), Model: fmt.Sprintf("%s-fold%d", spec.Base.Model, f.I), State: Running}
		rec.Folds = append(rec.Folds, fr)
		params := maps.Clone(spec.Base.Params)
		ps.Tasks = append(ps.Tasks,
			plan.TaskSpec{ID: fmt.Sprintf("train-%d", f.I), Kind: spec.Base.Kind, Queue: spec.Base.Queue, Input: fr.Train, Model: fr.Model,
				Params: params, MaxAttempts: spec.Base.MaxAttempts, Timeout: spec.Base.Timeout},
			plan.TaskSpec{ID: fmt.Sprintf("eval-%d", f.I), Kind: spec.EvalKind, Queue: spec.Base.Queue, Input: fr.Test, Model: fr.Model,
				Deps: []string{fmt.Sprintf("train-%d", f.I)}, MaxAttempts: spec.Base.MaxAttempts, Timeout: spec.Base.Timeout})
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	sw := &Sweep{Name: spec.Name, Kind: KindCV, SpecJSON: string(data), State: Running, CV: rec}
	if err := r.create(ctx, sw); err != nil {
		return nil, nil, err
	}
	if _, err := master.SubmitAs(ctx, js, rec.Plan, ps); err != nil {
		return nil, nil, err
	}
	return sw, warnings, nil
}

// CVStatus returns a cross-validation's record with the folds scored so
// far; once its plan has ended, the mean and standard deviation are computed
// and stored.
func CVStatus(ctx context.Context, db *store.DB, st status.Store, name string) (*Sweep, error) {
	r := newRecords(db)
	sw, err := r.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if sw.Kind != KindCV || sw.CV == nil {
		return nil, fmt.Errorf("sweep: %q is a %s, not a cross-validation: %w", name, sw.Kind, ErrNotFound)
	}
	if sw.State != Running {
		return sw, nil
	}
	p, err := st.Plan(ctx, sw.CV.Plan)
	if errors.Is(err, status.ErrNotFound) {
		return sw, nil // the master has not taken it yet
	}
	if err != nil {
		return nil, err
	}
	ts, err := st.Tasks(ctx, sw.CV.Plan)
	if err != nil {
		return nil, err
	}
	byID := map[string]*status.Task{}
	for _, t := range ts {
		byID[t.ID] = t
	}
	var scores []float64
	for i := range sw.CV.Folds {
		f := &sw.CV.Folds[i]
		ev, tr := byID[fmt.Sprintf("eval-%d", f.I)], byID[fmt.Sprintf("train-%d", f.I)]
		switch {
		case ev != nil && ev.Status == plan.Succeeded:
			out, err := ParseOutput(ev.Output)
			if err != nil {
				f.State, f.Error = Failed, err.Error()
				continue
			}
			v, ok := out.Metric(sw.CV.Metric)
			if !ok {
				f.State, f.Error = Failed, "the evaluate task reported no "+sw.CV.Metric
				continue
			}
			f.State, f.Metric, f.Version = Done, v, out.Version
			scores = append(scores, v)
		case tr != nil && tr.Status.Terminal() && tr.Status != plan.Succeeded:
			f.State, f.Error = Failed, "train: "+string(tr.Status)+" "+tr.Error
		case ev != nil && ev.Status.Terminal():
			f.State, f.Error = Failed, "evaluate: "+string(ev.Status)+" "+ev.Error
		}
	}
	if !p.Status.Terminal() {
		return sw, nil
	}
	sw.State = Finished
	if len(scores) < len(sw.CV.Folds) {
		sw.State, sw.Note = Failed, fmt.Sprintf("%d of %d folds scored: plan %s %s", len(scores), len(sw.CV.Folds), p.ID, p.Status)
	}
	sw.CV.Mean, sw.CV.Std = meanStd(scores)
	if err := r.save(ctx, sw); err != nil && !errors.Is(err, ErrConflict) {
		return nil, err
	}
	return sw, nil
}

// meanStd is the mean and population standard deviation of xs.
func meanStd(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v / float64(len(xs)))
}

// CVList returns the project's cross-validations, newest first.
func CVList(ctx context.Context, db *store.DB) ([]*Sweep, error) {
	return newRecords(db).list(ctx, KindCV, false)
}
