package a2c

import (
	"fmt"
	"math"
)

// Trajectory is one unroll of T steps of one environment, as a player sends it.
type Trajectory struct {
	// Version is the policy version that chose the actions.
	Version int64
	// Obs holds T+1 observations, flattened: the one before each step, then the
	// one after the last (the learner bootstraps from its value). Where Dones[t]
	// is set, Obs[t+1] is the first observation of the next episode.
	Obs []float32
	// Actions, Rewards, Dones and LogProbs have T entries: the action taken,
	// the reward received, whether the episode ended with this step, and
	// log μ(a_t|x_t) under the behaviour policy.
	Actions  []int32
	Rewards  []float32
	Dones    []bool
	LogProbs []float32
	// Returns are the whole returns of the episodes of this environment that
	// ended within the unroll (one per Dones[t] set), so that whoever receives
	// the trajectory can record episode returns without the player's history.
	Returns []float32
}

// Len is T, the number of steps.
func (t *Trajectory) Len() int { return len(t.Actions) }

// Validate checks a trajectory against the shape the learner expects: T steps,
// obsSize values per observation, actions in range, finite numbers, and
// log-probabilities ≤ 0.
func (t *Trajectory) Validate(T, obsSize, numActions int) error {
	switch {
	case len(t.Actions) != T || len(t.Rewards) != T || len(t.Dones) != T || len(t.LogProbs) != T:
		return fmt.Errorf("a2c: trajectory of version %d has %d actions, %d rewards, %d done flags, %d log-probabilities, want %d each",
			t.Version, len(t.Actions), len(t.Rewards), len(t.Dones), len(t.LogProbs), T)
	case len(t.Obs) != (T+1)*obsSize:
		return fmt.Errorf("a2c: trajectory of version %d has %d observation values, want (T+1)·%d = %d", t.Version, len(t.Obs), obsSize, (T+1)*obsSize)
	case len(t.Returns) > T:
		return fmt.Errorf("a2c: trajectory of version %d has %d episode returns for %d steps", t.Version, len(t.Returns), T)
	case t.Version < 0:
		return fmt.Errorf("a2c: trajectory has negative policy version %d", t.Version)
	}
	for i, a := range t.Actions {
		if a < 0 || int(a) >= numActions {
			return fmt.Errorf("a2c: trajectory of version %d: action %d at step %d, want 0..%d", t.Version, a, i, numActions-1)
		}
		if r, lp := float64(t.Rewards[i]), float64(t.LogProbs[i]); math.IsNaN(r) || math.IsInf(r, 0) || math.IsNaN(lp) || lp > 1e-6 || math.IsInf(lp, 0) {
			return fmt.Errorf("a2c: trajectory of version %d: step %d has reward %v and log-probability %v, want finite and ≤ 0", t.Version, i, r, lp)
		}
	}
	for i, v := range t.Obs {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("a2c: trajectory of version %d: observation value %d is %v", t.Version, i, v)
		}
	}
	return nil
}
