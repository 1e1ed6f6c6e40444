package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/sweep"
)

// The sweeps pages read package sweep's records through its API (List,
// Status): a sweep's trials, their parameters, rungs and metric, the best.

// sweepRow is a line of the sweeps page.
type sweepRow struct {
	Name      string      `json:"name"`
	State     string      `json:"state"`
	Algorithm string      `json:"algorithm"`
	Metric    string      `json:"metric"`
	Mode      string      `json:"mode"` // max or min
	Model     string      `json:"model"`
	Trials    int         `json:"trials"`
	Done      int         `json:"done"` // trials with a metric
	Best      *sweep.Best `json:"best,omitempty"`
	Note      string      `json:"note,omitempty"`
	Created   time.Time   `json:"created"`
	Updated   time.Time   `json:"updated"`
}

// trialRow is a line of a sweep's trials table.
type trialRow struct {
	N       int               `json:"n"`
	State   string            `json:"state"`
	Params  map[string]string `json:"params"`
	Metric  *float64          `json:"metric,omitempty"` // its best done rung's, by the sweep's mode
	Rungs   int               `json:"rungs"`
	Epochs  int               `json:"epochs"` // trained by its last rung's end
	Version int64             `json:"version,omitempty"`
	Run     string            `json:"run,omitempty"`
	Seconds float64           `json:"seconds"`
	Error   string            `json:"error,omitempty"`
	Best    bool              `json:"best"`
}

// MetricText is the trial's metric formatted, or "".
func (t trialRow) MetricText() string {
	if t.Metric == nil {
		return ""
	}
	return fmtNum(*t.Metric)
}

// MetricSort sorts the metric column, best first when ascending ("" last).
func (t trialRow) MetricSort(mode string) string {
	if t.Metric == nil {
		return ""
	}
	v := *t.Metric
	if mode == "max" {
		v = -v
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// sweepPage is one sweep.
type sweepPage struct {
	Sweep     sweepRow         `json:"sweep"`
	Params    []string         `json:"params"` // the trials' parameter names
	Trials    []trialRow       `json:"trials"` // best metric first
	Decisions []sweep.Decision `json:"decisions"`
}

func sweepSummary(sw *sweep.Sweep) sweepRow {
	r := sweepRow{Name: sw.Name, State: sw.State, Trials: len(sw.Trials), Best: sw.Best, Note: sw.Note,
		Created: sw.Created, Updated: sw.Updated}
	if sp, err := sw.Spec(); err == nil {
		r.Algorithm, r.Metric, r.Mode, r.Model = sp.Algorithm, sp.Metric, sp.Mode, sp.Base.Model
	}
	for _, t := range sw.Trials {
		if _, ok := trialMetric(t, r.Mode); ok {
			r.Done++
		}
	}
	return r
}

// trialMetric is the best metric of a trial's done rungs.
func trialMetric(t sweep.Trial, mode string) (float64, bool) {
	best, ok := 0.0, false
	for _, g := range t.Rungs {
		if g.State != sweep.Done {
			continue
		}
		if !ok || (mode == "min" && g.Metric < best) || (mode != "min" && g.Metric > best) {
			best, ok = g.Metric, true
		}
	}
	return best, ok
}

func listSweeps(ctx context.Context, db *store.DB) ([]sweepRow, error) {
	sws, err := sweep.List(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("list the sweeps of project %q: %w", db.Project(), err)
	}
	rows := make([]sweepRow, 0, len(sws))
	for _, sw := range sws {
		rows = append(rows, sweepSummary(sw))
	}
	return rows, nil
}

func showSweep(ctx context.Context, db *store.DB, name string) (*sweepPage, error) {
	if err := store.ValidateName("sweep", name); err != nil {
		return nil, fmt.Errorf("sweep %q: %w (%w)", name, errNotFound, err)
	}
	sw, err := sweep.Status(ctx, db, name)
	if errors.Is(err, sweep.ErrNotFound) {
		return nil, fmt.Errorf("sweep %q is not recorded in project %q: %w", name, db.Project(), errNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", name, err)
	}
	p := &sweepPage{Sweep: sweepSummary(sw)}
	params := map[string]bool{}
	for _, t := range sw.Trials {
		r := trialRow{N: t.N, State: t.State, Params: map[string]string{}, Rungs: len(t.Rungs)}
		for k, v := range t.Params {
			params[k] = true
			r.Params[k] = paramText(v)
		}
		if m, ok := trialMetric(t, p.Sweep.Mode); ok {
			r.Metric = &m
		}
		for _, g := range t.Rungs {
			r.Seconds += g.Seconds
			r.Epochs = max(r.Epochs, g.Total)
			if g.Version != 0 {
				r.Version = g.Version
			}
			if g.Run != "" {
				r.Run = g.Run
			}
			r.Error = g.Error
		}
		r.Best = sw.Best != nil && sw.Best.Trial == t.N
		p.Trials = append(p.Trials, r)
	}
	p.Params = slices.Sorted(maps.Keys(params))
	slices.SortStableFunc(p.Trials, func(a, b trialRow) int {
		switch {
		case a.Metric == nil && b.Metric == nil:
			return cmp.Compare(a.N, b.N)
		case a.Metric == nil:
			return 1
		case b.Metric == nil:
			return -1
		case p.Sweep.Mode == "min":
			return cmp.Or(cmp.Compare(*a.Metric, *b.Metric), cmp.Compare(a.N, b.N))
		}
		return cmp.Or(cmp.Compare(*b.Metric, *a.Metric), cmp.Compare(a.N, b.N))
	})
	ds := sw.Decisions[max(0, len(sw.Decisions)-20):]
	for _, d := range slices.Backward(ds) {
		p.Decisions = append(p.Decisions, d)
	}
	return p, nil
}

// paramText formats a parameter's value for a cell.
func paramText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmtNum(x)
	case float32:
		return fmtNum(float64(x))
	case int, int32, int64:
		return fmt.Sprint(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (s *Server) sweepsPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "sweeps", err)
		return
	}
	rows, err := listSweeps(r.Context(), c.db)
	if err != nil {
		s.fail(w, r, "sweeps", err)
		return
	}
	p := s.base(r, "Sweeps", "sweeps", c)
	p.D = rows
	s.render(w, r, "sweeps", p)
}

func (s *Server) sweepPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "sweeps", err)
		return
	}
	sp, err := showSweep(r.Context(), c.db, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, "sweeps", err)
		return
	}
	p := s.base(r, "Sweep "+sp.Sweep.Name, "sweeps", c)
	p.D = sp
	s.render(w, r, "sweep", p)
}
