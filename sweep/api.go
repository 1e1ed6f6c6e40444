package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// Kinds of record in the sweeps collection.
const (
	KindSweep = "sweep"
	KindCV    = "cv"
)

// Submit checks spec and stores it; the controller on the leading master
// starts its trials. Bad input is an error wrapping ErrInvalid, and then
// nothing is stored: a spec that does not validate, a train parameter the
// kind's agents do not take (js, when not nil, reads their announcements), a
// dataset view that does not exist or is empty. It returns the stored record
// and warnings (no agent announced yet: parameters unchecked).
func Submit(ctx context.Context, db *store.DB, js jetstream.JetStream, spec *Spec) (*Sweep, []string, error) {
	spec.Defaults()
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	fields := slices.Collect(maps.Keys(spec.Base.Params))
	fields = append(fields, slices.Collect(maps.Keys(spec.Space))...)
	fields = append(fields, "epochs")
	if spec.Base.Validation != "" {
		fields = append(fields, "validation")
	}
	init, warnings, err := checkKind(ctx, js, spec.Base.Kind, fields)
	if err != nil {
		return nil, nil, fmt.Errorf("%w %q: %w", ErrInvalid, spec.Name, err)
	}
	if spec.Algorithm == ASHA && !init {
		warnings = append(warnings, fmt.Sprintf("the %s kind's agents take no params.init: a promoted trial trains from scratch for its rung's whole epochs", spec.Base.Kind))
	}
	if err := checkViews(ctx, db, spec.Base.Input, spec.Base.Validation); err != nil {
		return nil, nil, fmt.Errorf("%w %q: %w", ErrInvalid, spec.Name, err)
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w %q: %w", ErrInvalid, spec.Name, err)
	}
	sw := &Sweep{Name: spec.Name, Kind: KindSweep, SpecJSON: string(data), State: Running, Init: init, spec: spec}
	if err := newRecords(db).create(ctx, sw); err != nil {
		return nil, nil, err
	}
	return sw, warnings, nil
}

// checkKind checks fields against the parameters the kind's agents announced
// and says whether they take params.init. With no agent announced, or js nil,
// it accepts with a warning (the master and the agents check the tasks when
// they run) and assumes init.
func checkKind(ctx context.Context, js jetstream.JetStream, kind string, fields []string) (bool, []string, error) {
	if js == nil {
		return true, []string{"not connected to NATS: parameter names are checked when the trials run"}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	agents, err := queue.ListAgents(lctx, js)
	cancel()
	if err != nil {
		return true, []string{fmt.Sprintf("could not read the agents' announcements (%v): parameter names are checked when the trials run", err)}, nil
	}
	var params []string
	runs, typed := false, false
	var kinds []string
	for _, a := range agents {
		kinds = append(kinds, a.Kinds...)
		if !slices.Contains(a.Kinds, kind) {
			continue
		}
		runs = true
		for _, s := range a.Specs {
			if s.Kind == kind && s.Typed {
				typed = true
				params = append(params, s.Params...)
			}
		}
	}
	if len(agents) == 0 {
		return true, []string{"no agent has announced itself yet: parameter names are checked when the trials run"}, nil
	}
	if !runs {
		slices.Sort(kinds)
		return false, nil, fmt.Errorf("base.kind: no announced agent runs kind %q; they run %s", kind, strings.Join(slices.Compact(kinds), ", "))
	}
	if !typed {
		return true, nil, nil
	}
	var unknown []string
	for _, f := range fields {
		if !slices.Contains(params, f) {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		slices.Sort(params)
		return false, nil, fmt.Errorf("unknown parameter name(s) %s: the %s kind takes %s", strings.Join(slices.Compact(unknown), ", "), kind, strings.Join(slices.Compact(params), ", "))
	}
	return slices.Contains(params, "init"), nil, nil
}

// checkViews checks that the named dataset views exist and are not empty.
func checkViews(ctx context.Context, db *store.DB, names ...string) error {
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == "" {
			continue
		}
		ds, err := coll.Dataset(ctx, name)
		if errors.Is(err, dataset.ErrNotFound) {
			have, _ := coll.Datasets(ctx)
			return fmt.Errorf("dataset view %q does not exist (there: %s)", name, strings.Join(have, ", "))
		}
		if err != nil {
			return err
		}
		n, err := ds.Count(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("dataset view %q is empty", name)
		}
	}
	return nil
}

// Status returns a sweep's record.
func Status(ctx context.Context, db *store.DB, name string) (*Sweep, error) {
	sw, err := newRecords(db).get(ctx, name)
	if err != nil {
		return nil, err
	}
	if sw.Kind != KindSweep {
		return nil, fmt.Errorf("sweep: %q is a %s, not a sweep: %w", name, sw.Kind, ErrNotFound)
	}
	return sw, nil
}

// List returns the project's sweeps, newest first.
func List(ctx context.Context, db *store.DB) ([]*Sweep, error) {
	return newRecords(db).list(ctx, KindSweep, false)
}

// Stop asks the controller to stop a sweep: it cancels the running trials,
// starts none, and names the best of those done.
func Stop(ctx context.Context, db *store.DB, name string) error {
	r := newRecords(db)
	for range 10 {
		sw, err := r.get(ctx, name)
		if err != nil {
			return err
		}
		if sw.State != Running || sw.Halt {
			return nil
		}
		sw.Halt = true
		err = r.save(ctx, sw)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("sweep: stop %q: %w ten times in a row", name, ErrConflict)
}
