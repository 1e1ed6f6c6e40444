package sweep

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ashaSpec() *Spec {
	s := &Spec{Name: "a", Base: Base{Input: "train", Validation: "val"}, Algorithm: ASHA, Trials: 9, Seed: 7,
		Metric: "val_accuracy", MinEpochs: 1, Eta: 3, MaxEpochs: 9, Parallel: 3,
		Space: map[string]Param{"lr": {LogUniform: []float64{1e-4, 1e-1}}, "batch": {Choice: []any{32, 64}}}}
	s.Defaults()
	return s
}

// simulate runs decide against a fake cluster: each running rung finishes
// (in the order they were decided, one at a time) with a metric that grows
// with log(lr) and the epochs trained, so the best trial is known.
func simulate(t *testing.T, s *Spec, init bool, roundTrip bool) *Sweep {
	t.Helper()
	sw := &Sweep{Name: s.Name, Kind: KindSweep, State: Running, Init: init}
	now := time.Unix(0, 0)
	for steps := 0; sw.State == Running; steps++ {
		if steps > 1000 {
			t.Fatal("the sweep never finished")
		}
		sw.decide(s, now)
		for _, d := range sw.Decisions { // as the controller acts on it
			if d.Action == ActFinish {
				sw.State = d.Outcome
			}
		}
		if roundTrip { // a controller restarted from the record
			b, err := json.Marshal(sw)
			if err != nil {
				t.Fatal(err)
			}
			next := &Sweep{}
			if err := json.Unmarshal(b, next); err != nil {
				t.Fatal(err)
			}
			sw = next
		}
		// Finish the oldest running rung.
		var first *Decision
		for i := range sw.Decisions {
			d := &sw.Decisions[i]
			if (d.Action == ActStart || d.Action == ActPromote) && sw.Trials[d.Trial].Rungs[d.Rung].State == Running {
				first = d
				break
			}
		}
		if first == nil {
			continue
		}
		tr := sw.Trials[first.Trial]
		rg := tr.Rungs[first.Rung]
		lr, _ := tr.Params["lr"].(float64)
		rg.State, rg.Metric, rg.Version = Done, 1+math.Log10(lr)/10+float64(rg.Total)/100, int64(len(sw.Decisions))
		sw.finishRung(s, first.Trial, first.Rung, rg)
	}
	return sw
}

func TestASHADecisions(t *testing.T) {
	s := ashaSpec()
	if s.TopRung() != 2 || s.RungEpochs(0) != 1 || s.RungEpochs(1) != 3 || s.RungEpochs(2) != 9 {
		t.Fatalf("rungs: top %d, epochs %d %d %d; want 2 and 1, 3, 9", s.TopRung(), s.RungEpochs(0), s.RungEpochs(1), s.RungEpochs(2))
	}
	sw := simulate(t, s, true, false)
	if sw.State != Finished || len(sw.Trials) != 9 {
		t.Fatalf("state %s with %d trials, want finished with 9", sw.State, len(sw.Trials))
	}
	count := map[string]int{}
	for _, d := range sw.Decisions {
		count[d.Action]++
	}
	reached := make([]int, 3)
	promotes := 0
	for _, tr := range sw.Trials {
		for k := range tr.Rungs {
			reached[k]++
		}
		promotes += len(tr.Rungs) - 1
		last := len(tr.Rungs) - 1
		switch {
		case last == 2 && tr.State != Done, last < 2 && tr.State != Stopped:
			t.Errorf("trial %d ended at rung %d in state %s", tr.N, last, tr.State)
		}
	}
	if count[ActStart] != 9 || count[ActPromote] != promotes || count[ActStop] != reached[0]-reached[2] || count[ActBest] != 1 || count[ActFinish] != 1 {
		t.Fatalf("decisions %v for rungs reached %v", count, reached)
	}
	// Successive halving keeps at least a 1/eta of each rung and, being
	// asynchronous, may promote a few more early; never all of them.
	if reached[1] < 3 || reached[1] > 6 || reached[2] < 1 || reached[2] > 3 {
		t.Fatalf("trials reaching rungs 0, 1, 2: %v; want 9, 3..6, 1..3", reached)
	}
	// The best is the best of the top rung.
	best := sw.Best
	for _, tr := range sw.Trials {
		if len(tr.Rungs) == 3 && tr.Rungs[2].Metric > best.Metric {
			t.Fatalf("best %+v, but trial %d reached %g at the top rung", best, tr.N, tr.Rungs[2].Metric)
		}
	}
	if best.Rung != 2 || best.Alias != "sweep-a-best" {
		t.Fatalf("best %+v: want a top-rung trial aliased sweep-a-best", best)
	}
	// Promoted rungs fine-tune: they train the increment only.
	spent := 0
	for _, tr := range sw.Trials {
		for _, r := range tr.Rungs {
			want := map[int]int{0: 1, 1: 2, 2: 6}[r.K]
			if r.Epochs != want {
				t.Fatalf("trial %d rung %d trains %d epochs, want %d", tr.N, r.K, r.Epochs, want)
			}
			spent += r.Epochs
		}
	}
	// A controller restarted from its record after every step decides the same.
	again := simulate(t, s, true, true)
	for i := range sw.Decisions {
		a, b := sw.Decisions[i], again.Decisions[i]
		if a.Action != b.Action || a.Trial != b.Trial || a.Rung != b.Rung {
			t.Fatalf("decision %d: %+v uninterrupted, %+v restarted", i, a, b)
		}
	}
	// A budget cuts the sweep short: nothing decided passes it.
	s.Budget = spent / 2
	cut := simulate(t, s, true, false)
	if cut.spent() > s.Budget || cut.State != Finished {
		t.Fatalf("budget %d: spent %d, state %s", s.Budget, cut.spent(), cut.State)
	}
}

func TestRandomAndGrid(t *testing.T) {
	s := ashaSpec()
	s.Algorithm, s.Parallel = Random, 2
	s.Defaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	sw := simulate(t, s, true, false)
	if len(sw.Trials) != 9 || sw.Best == nil || sw.Best.Rung != 0 {
		t.Fatalf("random: %d trials, best %+v", len(sw.Trials), sw.Best)
	}
	for _, tr := range sw.Trials {
		if len(tr.Rungs) != 1 || tr.State != Done || tr.Rungs[0].Epochs != s.Epochs {
			t.Fatalf("random trial %+v: want one rung of %d epochs, done", tr, s.Epochs)
		}
		if !reflect.DeepEqual(tr.Params, s.Point(tr.N)) {
			t.Fatalf("trial %d params %v, Point gives %v", tr.N, tr.Params, s.Point(tr.N))
		}
		lr := tr.Params["lr"].(float64)
		if lr < 1e-4 || lr > 1e-1 {
			t.Fatalf("lr %g outside its range", lr)
		}
	}
	if reflect.DeepEqual(s.Point(0), s.Point(1)) {
		t.Fatal("trials 0 and 1 drew the same point")
	}

	g := &Spec{Name: "g", Base: Base{Input: "train"}, Algorithm: Grid, Metric: "accuracy",
		Space: map[string]Param{"lr": {LogUniform: []float64{1e-3, 1e-1}, Points: 3}, "batch": {Choice: []any{32, 64}}, "width": {Int: []int64{1, 2}}}}
	g.Defaults()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if g.TotalTrials() != 12 {
		t.Fatalf("grid of 2x3x2 has %d points", g.TotalTrials())
	}
	seen := map[string]bool{}
	for n := range 12 {
		b, _ := json.Marshal(g.Point(n))
		seen[string(b)] = true
	}
	if len(seen) != 12 {
		t.Fatalf("grid points are not all different: %v", seen)
	}
	if lr := g.Point(2)["lr"].(float64); math.Abs(lr-1e-2) > 1e-12 { // width varies fastest
		t.Fatalf("grid's middle lr %g, want 0.01", lr)
	}
}

// Bad specs are errors naming the field, before anything runs.
func TestSpecErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"name: x\nbase: {input: d}\nalgorithm: random\ntrials: 2\nmetric: accuracy\nspace: {lr: {uniform: [0.1, 0.01]}}", "inverted"},
		{"name: x\nbase: {input: d}\nalgorithm: random\ntrials: 2\nmetric: accuracy\nspace: {lr: {uniform: [0.1, 0.1]}}", "empty"},
		{"name: x\nbase: {input: d}\nalgorithm: random\ntrials: 2\nmetric: accuracy\nspace: {lr: {choice: []}}", "exactly one of"},
		{"name: x\nbase: {input: d}\nalgorithm: random\ntrials: 2\nmetric: val_accuracy\nspace: {lr: {uniform: [0.01, 0.1]}}", "base.validation is empty"},
		{"name: x\nbase: {input: d}\nalgorithm: random\ntrials: 2\nmetric: f1\nspace: {lr: {uniform: [0.01, 0.1]}}", "reported by no train task"},
		{"name: x\nbase: {input: d}\nalgorithm: grid\nmetric: loss\nspace: {lr: {uniform: [0.01, 0.1]}}", "points"},
		{"name: x\nbase: {input: d}\nalgorithm: asha\ntrials: 4\nmetric: loss\nmin_epochs: 4\nmax_epochs: 2\nspace: {lr: {uniform: [0.01, 0.1]}}", "below min_epochs"},
		{"name: x\nbase: {input: d}\nalgorithm: bayes\ntrials: 4\nmetric: loss\nspace: {lr: {uniform: [0.01, 0.1]}}", "expected random, grid or asha"},
		{"name: x\nbase: {input: d}\ntrials: 4\nmetric: loss\nspace: {epochs: {int: [1, 3]}}", "set by the sweep itself"},
		{"name: x\nbase: {input: d}\ntrials: 4\nmetric: loss\nspace: {lr: {uniform: [0.01, 0.1]}}\nbogus: 1", "bogus"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), "spec.yaml")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n  err %v, want ErrInvalid containing %q", c.yaml, err, c.want)
		}
	}
	cv := []struct{ yaml, want string }{
		{"name: c\ndataset: d\nk: 1\nbase: {}", "k: 1"},
		{"name: c\ndataset: d\nk: 3\nmetric: f1\nbase: {}", "reported by no evaluate task"},
		{"name: c\ndataset: d\nk: 3\nbase: {input: x}", "leave it out"},
	}
	for _, c := range cv {
		_, err := ParseCV([]byte(c.yaml), "cv.yaml")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n  err %v, want ErrInvalid containing %q", c.yaml, err, c.want)
		}
	}
}

// A choice of objects (a schedule) reaches the task's params as the spec
// wrote it, whatever the record's encoding made of it.
func TestTrialPlanParams(t *testing.T) {
	s := &Spec{Name: "p", Base: Base{Input: "d", Params: map[string]any{"arch": "mlp"}}, Algorithm: Grid, Metric: "loss",
		Space: map[string]Param{"schedule": {Choice: []any{"constant", map[string]any{"name": "cosine", "alpha": 0.1}}}}}
	s.Defaults()
	b, _ := json.Marshal(s)
	var stored Spec // as the controller reads it
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	sw := &Sweep{Name: "p", State: Running}
	sw.decide(&stored, time.Unix(0, 0))
	sw.Trials[1].Params = map[string]any{"schedule": "garbled by the record"}
	ps, err := sw.trialPlan(&stored, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ps.Tasks[0].Params)
	if string(got) != `{"arch":"mlp","epochs":1,"schedule":{"alpha":0.1,"name":"cosine"}}` {
		t.Fatalf("trial 1's params %s", got)
	}
}
