package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
	"go.yaml.in/yaml/v3"
)

// Algorithms.
const (
	Random = "random"
	Grid   = "grid"
	ASHA   = "asha"
)

// ErrInvalid is wrapped by every error about a spec that cannot run.
var ErrInvalid = errors.New("invalid sweep spec")

// Spec is a sweep as written by a person (YAML or JSON).
type Spec struct {
	Name string `yaml:"name" json:"name"`
	// Base is the train task every trial runs, the space's values added to
	// its params.
	Base Base `yaml:"base" json:"base"`
	// Space maps a train parameter to the values it may take.
	Space     map[string]Param `yaml:"space" json:"space"`
	Algorithm string           `yaml:"algorithm" json:"algorithm"`
	// Trials is the number of trials (random, ASHA); grid runs every point.
	Trials int    `yaml:"trials,omitempty" json:"trials,omitempty"`
	Seed   uint64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Metric a trial reports (val_accuracy, accuracy, val_loss ...) and
	// whether the best is its max or min.
	Metric string `yaml:"metric" json:"metric"`
	Mode   string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Parallel bounds the trials running at once; default 4.
	Parallel int `yaml:"parallel,omitempty" json:"parallel,omitempty"`
	// Budget bounds the sweep's total epochs (0: none); a trial or rung that
	// would pass it is not started.
	Budget int `yaml:"budget,omitempty" json:"budget,omitempty"`
	// Epochs trained by a random or grid trial; default base.params.epochs, else 1.
	Epochs int `yaml:"epochs,omitempty" json:"epochs,omitempty"`
	// ASHA: rung k trains to MinEpochs·Eta^k epochs, at most MaxEpochs.
	MinEpochs int `yaml:"min_epochs,omitempty" json:"min_epochs,omitempty"`
	Eta       int `yaml:"eta,omitempty" json:"eta,omitempty"`
	MaxEpochs int `yaml:"max_epochs,omitempty" json:"max_epochs,omitempty"`
	// BestAlias is pointed at the best trial's model version; default
	// "sweep-NAME-best".
	BestAlias string `yaml:"best_alias,omitempty" json:"best_alias,omitempty"`
}

// Base is the train task of every trial.
type Base struct {
	// Kind is the task kind; default "train".
	Kind  string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Queue string `yaml:"queue,omitempty" json:"queue,omitempty"`
	// Input is the dataset view trained on; Validation, when set, is
	// evaluated every epoch (val_loss, val_accuracy).
	Input      string `yaml:"input" json:"input"`
	Validation string `yaml:"validation,omitempty" json:"validation,omitempty"`
	// Model is the model every trial saves a version of; default the sweep's name.
	Model       string         `yaml:"model,omitempty" json:"model,omitempty"`
	Params      map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	MaxAttempts int            `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
	Timeout     task.Duration  `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Param is one dimension of the space: exactly one of its fields.
type Param struct {
	Choice     []any     `yaml:"choice,omitempty" json:"choice,omitempty"`
	Uniform    []float64 `yaml:"uniform,omitempty" json:"uniform,omitempty"`
	LogUniform []float64 `yaml:"loguniform,omitempty" json:"loguniform,omitempty"`
	Int        []int64   `yaml:"int,omitempty" json:"int,omitempty"`
	// Points is how many evenly (log-evenly) spaced values a grid takes from
	// a uniform (log-uniform) range.
	Points int `yaml:"points,omitempty" json:"points,omitempty"`
}

// Parse reads a spec (YAML or JSON), fills its defaults and validates it.
// Unknown fields are errors.
func Parse(data []byte, source string) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %s: empty file, expected a mapping with name, base, space, algorithm and metric", ErrInvalid, source)
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
func (s *Spec) Defaults() {
	if s.Base.Kind == "" {
		s.Base.Kind = "train"
	}
	if s.Base.Queue == "" {
		s.Base.Queue = plan.DefaultQueue
	}
	if s.Base.MaxAttempts == 0 {
		s.Base.MaxAttempts = plan.DefaultMaxAttempts
	}
	if s.Base.Model == "" {
		s.Base.Model = s.Name
	}
	if s.Algorithm == "" {
		s.Algorithm = Random
	}
	if s.Mode == "" {
		s.Mode = "max"
		if strings.HasSuffix(s.Metric, "loss") || strings.HasSuffix(s.Metric, "perplexity") {
			s.Mode = "min"
		}
	}
	if s.Parallel == 0 {
		s.Parallel = 4
	}
	if s.Epochs == 0 {
		s.Epochs = 1
		if e, ok := toInt(s.Base.Params["epochs"]); ok && e > 0 {
			s.Epochs = int(e)
		}
	}
	if s.Algorithm == ASHA {
		if s.MinEpochs == 0 {
			s.MinEpochs = 1
		}
		if s.Eta == 0 {
			s.Eta = 3
		}
		if s.MaxEpochs == 0 {
			s.MaxEpochs = s.MinEpochs * s.Eta * s.Eta
		}
	}
	if s.BestAlias == "" {
		s.BestAlias = "sweep-" + s.Name + "-best"
	}
}

// MaxNameLen bounds a sweep's name: plan ids "sweep-NAME-tNNNN-rK" must fit
// in the 64 characters of an id.
const MaxNameLen = 32

// reserved are the train parameters a sweep sets itself.
var reserved = []string{"epochs", "init", "alias"}

// knownMetrics are what a train task reports, with "val_" when the base task
// has a validation view, "train_" always.
var knownMetrics = []string{"accuracy", "loss", "perplexity"}

// Validate checks the spec on its own (not against the agents: see
// CheckKinds). Every problem is reported, each naming its field.
func (s *Spec) Validate() error {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if !task.ValidName(s.Name) || len(s.Name) > MaxNameLen {
		add("name: %q is not a sweep name (letters, digits, '-', '_', at most %d)", s.Name, MaxNameLen)
	}
	if s.Base.Input == "" {
		add("base.input: empty, expected the dataset view the trials train on")
	}
	if !task.ValidName(s.Base.Kind) || !task.ValidName(s.Base.Queue) {
		add("base.kind %q, base.queue %q: expected names of letters, digits, '-', '_'", s.Base.Kind, s.Base.Queue)
	}
	if s.Base.MaxAttempts < 1 || s.Base.MaxAttempts > plan.MaxAttemptsLimit {
		add("base.max_attempts: %d, expected 1 to %d", s.Base.MaxAttempts, plan.MaxAttemptsLimit)
	}
	for _, r := range reserved {
		if _, ok := s.Base.Params[r]; ok && r != "epochs" {
			add("base.params.%s: set by the sweep itself, leave it out", r)
		}
		if _, ok := s.Space[r]; ok {
			add("space.%s: set by the sweep itself (epochs: see epochs, min_epochs, max_epochs)", r)
		}
	}
	for _, f := range []string{"input", "validation"} {
		if _, ok := s.Base.Params[f]; ok {
			add("base.params.%s: give it as base.%s", f, f)
		}
	}
	if len(s.Space) == 0 {
		add("space: empty, expected at least one parameter (for example lr: {loguniform: [1e-4, 1e-1]})")
	}
	for _, name := range slices.Sorted(mapsKeys(s.Space)) {
		if err := s.Space[name].check(s.Algorithm == Grid); err != nil {
			add("space.%s: %v", name, err)
		}
	}
	switch s.Algorithm {
	case Random, ASHA:
		if s.Trials < 1 {
			add("trials: %d, expected at least 1 for %s search", s.Trials, s.Algorithm)
		}
	case Grid:
		if s.Trials != 0 {
			add("trials: a grid runs every point of the space; leave trials out")
		}
	default:
		add("algorithm: %q, expected random, grid or asha", s.Algorithm)
	}
	if s.Trials > maxTrials {
		add("trials: %d, at most %d", s.Trials, maxTrials)
	}
	if n := s.gridSize(); s.Algorithm == Grid && n > maxTrials {
		add("space: the grid has %d points, at most %d", n, maxTrials)
	}
	if s.Mode != "max" && s.Mode != "min" {
		add("mode: %q, expected max or min", s.Mode)
	}
	if err := s.checkMetric(); err != nil {
		add("metric: %v", err)
	}
	if s.Parallel < 1 || s.Budget < 0 || s.Epochs < 1 {
		add("parallel %d, budget %d, epochs %d: expected parallel and epochs positive, budget not negative", s.Parallel, s.Budget, s.Epochs)
	}
	if s.Algorithm == ASHA {
		switch {
		case s.MinEpochs < 1 || s.Eta < 2:
			add("min_epochs %d, eta %d: expected min_epochs >= 1 and eta >= 2", s.MinEpochs, s.Eta)
		case s.MaxEpochs < s.MinEpochs:
			add("max_epochs %d is below min_epochs %d", s.MaxEpochs, s.MinEpochs)
		}
	}
	if !task.ValidName(s.BestAlias) {
		add("best_alias: %q is not an alias name", s.BestAlias)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalid, s.Name, strings.Join(bad, "; "))
	}
	return nil
}

// maxTrials bounds a sweep: plan ids carry a four-digit trial number.
const maxTrials = 9999

func (s *Spec) checkMetric() error {
	m := s.Metric
	if m == "" {
		return errors.New("empty, expected what the trials report: accuracy, loss, or val_accuracy, val_loss with base.validation")
	}
	base, val := m, false
	switch {
	case strings.HasPrefix(m, "val_"):
		base, val = strings.TrimPrefix(m, "val_"), true
	case strings.HasPrefix(m, "train_"):
		base = strings.TrimPrefix(m, "train_")
	}
	if !slices.Contains(knownMetrics, base) {
		return fmt.Errorf("%q is reported by no train task; they report %s, train_ and (with base.validation) val_ forms", m, strings.Join(knownMetrics, ", "))
	}
	if val && s.Base.Validation == "" {
		return fmt.Errorf("%q is reported only by a trial with a validation view, and base.validation is empty", m)
	}
	return nil
}

// check reports a dimension that is empty, inverted, or has two kinds of
// values; grid asks that every dimension be finite.
func (p Param) check(grid bool) error {
	kinds := 0
	for _, n := range []int{len(p.Choice), len(p.Uniform), len(p.LogUniform), len(p.Int)} {
		if n > 0 {
			kinds++
		}
	}
	if kinds != 1 {
		return errors.New("expected exactly one of choice [..], uniform [a, b], loguniform [a, b], int [a, b]")
	}
	rng := func(what string, a, b float64, n int) error {
		switch {
		case n != 2:
			return fmt.Errorf("%s has %d values, expected [low, high]", what, n)
		case math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0):
			return fmt.Errorf("%s [%g, %g]: expected finite bounds", what, a, b)
		case a > b:
			return fmt.Errorf("%s [%g, %g] is inverted: low above high", what, a, b)
		case a == b:
			return fmt.Errorf("%s [%g, %g] is empty: low equals high (use choice [%g] for a constant)", what, a, b, a)
		}
		return nil
	}
	switch {
	case len(p.Uniform) > 0:
		if err := rng("uniform", p.Uniform[0], p.Uniform[len(p.Uniform)-1], len(p.Uniform)); err != nil {
			return err
		}
	case len(p.LogUniform) > 0:
		if err := rng("loguniform", p.LogUniform[0], p.LogUniform[len(p.LogUniform)-1], len(p.LogUniform)); err != nil {
			return err
		}
		if p.LogUniform[0] <= 0 {
			return fmt.Errorf("loguniform [%g, %g]: expected positive bounds", p.LogUniform[0], p.LogUniform[1])
		}
	case len(p.Int) > 0:
		if err := rng("int", float64(p.Int[0]), float64(p.Int[len(p.Int)-1]), len(p.Int)); err != nil {
			return err
		}
	}
	continuous := len(p.Uniform) > 0 || len(p.LogUniform) > 0
	switch {
	case p.Points < 0:
		return fmt.Errorf("points: %d, expected a positive count", p.Points)
	case p.Points > 0 && !continuous:
		return errors.New("points applies to uniform and loguniform ranges only")
	case grid && continuous && p.Points < 2:
		return errors.New("a grid over a continuous range needs points: N (N >= 2 values, evenly spaced)")
	}
	return nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	case int32:
		return int64(x), true
	}
	return 0, false
}
