package sweep

import (
	"fmt"
	"slices"
	"time"
)

// PlanID is the plan of trial n's rung k: derived from what was decided, so
// that submitting it again after a crash runs it once (master.SubmitAs).
func PlanID(sweep string, n, k int) string { return fmt.Sprintf("sweep-%s-t%04d-r%d", sweep, n, k) }

// better reports whether metric a beats b under mode.
func better(mode string, a, b float64) bool {
	if mode == "min" {
		return a < b
	}
	return a > b
}

// spent is the epochs of every rung decided so far (running, done or failed).
func (sw *Sweep) spent() int {
	n := 0
	for _, t := range sw.Trials {
		for _, r := range t.Rungs {
			n += r.Epochs
		}
	}
	return n
}

// running counts the rungs running.
func (sw *Sweep) running() int {
	n := 0
	for _, t := range sw.Trials {
		for _, r := range t.Rungs {
			if r.State == Running {
				n++
			}
		}
	}
	return n
}

// cost is the epochs a task of rung k trains: the rung's increment when it
// fine-tunes the previous rung's version, else the rung's total.
func (sw *Sweep) cost(s *Spec, k int) int {
	if k > 0 && sw.Init {
		return s.RungEpochs(k) - s.RungEpochs(k-1)
	}
	return s.RungEpochs(k)
}

// fits reports whether a task of cost epochs stays within the budget.
func (sw *Sweep) fits(s *Spec, cost int) bool { return s.Budget == 0 || sw.spent()+cost <= s.Budget }

// ranked returns the trials whose rung k is done, best first (ties: the
// lower trial number first, so the order never depends on timing).
func (sw *Sweep) ranked(s *Spec, k int) []*Trial {
	var out []*Trial
	for i := range sw.Trials {
		t := &sw.Trials[i]
		if len(t.Rungs) > k && t.Rungs[k].State == Done {
			out = append(out, t)
		}
	}
	slices.SortStableFunc(out, func(a, b *Trial) int {
		ma, mb := a.Rungs[k].Metric, b.Rungs[k].Metric
		switch {
		case better(s.Mode, ma, mb):
			return -1
		case better(s.Mode, mb, ma):
			return 1
		}
		return a.N - b.N
	})
	return out
}

// promotable returns a paused trial that is in the top 1/Eta of the done
// results of its rung (the highest rung first), as asynchronous successive
// halving does (Li et al. 2018): a trial is promoted as soon as it qualifies.
func (sw *Sweep) promotable(s *Spec) (*Trial, int) {
	for k := s.TopRung() - 1; k >= 0; k-- {
		done := sw.ranked(s, k)
		for _, t := range done[:len(done)/s.Eta] {
			if t.State == Paused && len(t.Rungs) == k+1 {
				return t, k + 1
			}
		}
	}
	return nil, 0
}

// BestSoFar is the best done result: at the highest rung any trial has
// finished (results of lower rungs trained less and are not compared with
// it), the best metric.
func (sw *Sweep) BestSoFar(s *Spec) *Best {
	for k := s.TopRung(); k >= 0; k-- {
		if r := sw.ranked(s, k); len(r) > 0 {
			t := r[0]
			return &Best{Trial: t.N, Rung: k, Metric: t.Rungs[k].Metric, Model: s.Base.Model, Version: t.Rungs[k].Version}
		}
	}
	return nil
}

// decide appends to the log the decisions the state calls for now, and
// applies them to the trials (a new rung is Running from its decision on);
// it returns how many it made. It is a function of the recorded state alone:
// a controller that restarts from the same record decides the same.
func (sw *Sweep) decide(s *Spec, now time.Time) int {
	if sw.State != Running || slices.ContainsFunc(sw.Decisions, func(d Decision) bool { return d.Action == ActFinish }) {
		return 0
	}
	before := len(sw.Decisions)
	log := func(d Decision) {
		d.Seq, d.Time = len(sw.Decisions)+1, now
		sw.Decisions = append(sw.Decisions, d)
	}
	if sw.Halt && !slices.ContainsFunc(sw.Decisions, func(d Decision) bool { return d.Action == ActHalt }) {
		log(Decision{Action: ActHalt, Trial: -1, Why: "stopped by the user: cancel the running trials, start none"})
	}
	run := sw.running()
	for !sw.Halt && run < s.Parallel {
		if t, k := sw.promotable(s); t != nil && sw.fits(s, sw.cost(s, k)) {
			c := sw.cost(s, k)
			t.State = Running
			t.Rungs = append(t.Rungs, Rung{K: k, Plan: PlanID(sw.Name, t.N, k), Epochs: c, Total: s.RungEpochs(k), State: Running})
			log(Decision{Action: ActPromote, Trial: t.N, Rung: k, Plan: PlanID(sw.Name, t.N, k),
				Why: fmt.Sprintf("%s %.4g at rung %d is in the top 1/%d of the %d done there", s.Metric, t.Rungs[k-1].Metric, k-1, s.Eta, len(sw.ranked(s, k-1)))})
			run++
			continue
		}
		if n := len(sw.Trials); n < s.TotalTrials() && sw.fits(s, sw.cost(s, 0)) {
			sw.Trials = append(sw.Trials, Trial{N: n, Params: s.Point(n), State: Running,
				Rungs: []Rung{{K: 0, Plan: PlanID(sw.Name, n, 0), Epochs: sw.cost(s, 0), Total: s.RungEpochs(0), State: Running}}})
			log(Decision{Action: ActStart, Trial: n, Rung: 0, Plan: PlanID(sw.Name, n, 0)})
			run++
			continue
		}
		break
	}
	if run > 0 {
		return len(sw.Decisions) - before
	}
	// Nothing runs and nothing more can start: the sweep is over.
	for i := range sw.Trials {
		t := &sw.Trials[i]
		if t.State == Paused {
			t.State = Stopped
			why := "not in the top 1/" + fmt.Sprint(s.Eta) + " of its rung"
			switch {
			case sw.Halt:
				why = "the sweep was stopped"
			case !sw.fits(s, sw.cost(s, len(t.Rungs))):
				why = "the budget is spent"
			}
			log(Decision{Action: ActStop, Trial: t.N, Rung: len(t.Rungs) - 1, Why: why})
		}
	}
	if b := sw.BestSoFar(s); b != nil {
		b.Alias = s.BestAlias
		sw.Best = b
		log(Decision{Action: ActBest, Trial: b.Trial, Rung: b.Rung, Why: fmt.Sprintf("%s %.4g: version %d of model %s, alias %s", s.Metric, b.Metric, b.Version, b.Model, b.Alias)})
	}
	// The record says the sweep ended once this is acted on, after the alias:
	// a controller that dies before then finds it running and finishes it.
	end, why := Finished, "every trial ended"
	switch {
	case sw.Halt:
		end, why = Stopped, "stopped by the user"
	case sw.Best == nil:
		end, why = Failed, "no trial reported "+s.Metric
	}
	log(Decision{Action: ActFinish, Trial: -1, Outcome: end, Why: why})
	return len(sw.Decisions) - before
}

// finishRung records the end of trial n's rung k: done with its metric, or
// failed with why. The trial pauses (ASHA, below the top rung), is done, or
// fails.
func (sw *Sweep) finishRung(s *Spec, n, k int, r Rung) {
	t := &sw.Trials[n]
	t.Rungs[k] = r
	switch {
	case r.State != Done:
		t.State = Failed
	case k < s.TopRung():
		t.State = Paused
	default:
		t.State = Done
	}
}
