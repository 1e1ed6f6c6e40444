package sweep

import (
	"math"
	"math/rand/v2"
	"slices"
)

// names are the space's parameters in a fixed order (sorted), so that a
// trial's values depend only on the seed and its number.
func (s *Spec) names() []string { return slices.Sorted(mapsKeys(s.Space)) }

// Point returns trial n's parameter values: for random and ASHA search,
// drawn from a generator seeded by (Seed, n), so the same trial gets the same
// values whatever order trials start or finish in; for grid, the n-th point
// of the grid (the last parameter, by name, varying fastest).
func (s *Spec) Point(n int) map[string]any {
	out := make(map[string]any, len(s.Space))
	if s.Algorithm == Grid {
		names := s.names()
		for i := len(names) - 1; i >= 0; i-- {
			vals := s.Space[names[i]].values()
			out[names[i]] = vals[n%len(vals)]
			n /= len(vals)
		}
		return out
	}
	rng := rand.New(rand.NewPCG(s.Seed, uint64(n)))
	for _, name := range s.names() {
		out[name] = s.Space[name].draw(rng)
	}
	return out
}

// draw takes one value of the dimension.
func (p Param) draw(rng *rand.Rand) any {
	switch {
	case len(p.Choice) > 0:
		return p.Choice[rng.IntN(len(p.Choice))]
	case len(p.Uniform) == 2:
		return p.Uniform[0] + rng.Float64()*(p.Uniform[1]-p.Uniform[0])
	case len(p.LogUniform) == 2:
		lo, hi := math.Log(p.LogUniform[0]), math.Log(p.LogUniform[1])
		return math.Exp(lo + rng.Float64()*(hi-lo))
	case len(p.Int) == 2:
		return p.Int[0] + rng.Int64N(p.Int[1]-p.Int[0]+1)
	}
	return nil
}

// values are the grid's values of the dimension.
func (p Param) values() []any {
	switch {
	case len(p.Choice) > 0:
		return p.Choice
	case len(p.Int) == 2:
		var out []any
		for v := p.Int[0]; v <= p.Int[1] && len(out) <= maxTrials; v++ {
			out = append(out, v)
		}
		return out
	case len(p.Uniform) == 2 && p.Points >= 2:
		out := make([]any, p.Points)
		for i := range out {
			out[i] = p.Uniform[0] + float64(i)*(p.Uniform[1]-p.Uniform[0])/float64(p.Points-1)
		}
		return out
	case len(p.LogUniform) == 2 && p.Points >= 2:
		lo, hi := math.Log(p.LogUniform[0]), math.Log(p.LogUniform[1])
		out := make([]any, p.Points)
		for i := range out {
			out[i] = math.Exp(lo + float64(i)*(hi-lo)/float64(p.Points-1))
		}
		return out
	}
	return nil
}

// gridSize is the number of grid points, saturating past maxTrials.
func (s *Spec) gridSize() int {
	n := 1
	for _, p := range s.Space {
		k := len(p.values())
		if k == 0 {
			return 0
		}
		n *= k
		if n > maxTrials {
			return maxTrials + 1
		}
	}
	return n
}

// TotalTrials is how many trials the sweep runs at most.
func (s *Spec) TotalTrials() int {
	if s.Algorithm == Grid {
		return s.gridSize()
	}
	return s.Trials
}

// TopRung is ASHA's last rung (0 for random and grid): the first k with
// MinEpochs·Eta^k >= MaxEpochs.
func (s *Spec) TopRung() int {
	if s.Algorithm != ASHA {
		return 0
	}
	k, e := 0, s.MinEpochs
	for e < s.MaxEpochs {
		e *= s.Eta
		k++
	}
	return k
}

// RungEpochs is the number of epochs a trial has trained in all when rung k
// ends: MinEpochs·Eta^k, at most MaxEpochs (Epochs for random and grid).
func (s *Spec) RungEpochs(k int) int {
	if s.Algorithm != ASHA {
		return s.Epochs
	}
	e := s.MinEpochs
	for range k {
		e *= s.Eta
		if e >= s.MaxEpochs {
			return s.MaxEpochs
		}
	}
	return min(e, s.MaxEpochs)
}
