package vtrace

import (
	"fmt"
	"math"
)

// Unroll is one trajectory's inputs, all of length T except Values (T+1: the
// values of x_0..x_T, the last one the bootstrap).
type Unroll struct {
	// LogRhos are log π(a_t|x_t) − log μ(a_t|x_t).
	LogRhos   []float32
	Rewards   []float32
	Discounts []float32 // γ, or 0 where the episode ended at step t
	Values    []float32
}

// Clip holds the truncation levels ρ̄ and c̄; IMPALA uses 1 and 1. A level of 0
// or less means no truncation.
type Clip struct {
	RhoBar, CBar float32
}

// Compute writes the value targets v_0..v_{T−1} into vs and the advantages
// A_0..A_{T−1} into adv, and returns the mean of the truncated ρ_t (a measure of
// how far the behaviour policy is from π). It allocates nothing.
func Compute(u Unroll, c Clip, vs, adv []float32) (meanRho float32, err error) {
	T := len(u.Rewards)
	if len(u.LogRhos) != T || len(u.Discounts) != T || len(u.Values) != T+1 || len(vs) < T || len(adv) < T {
		return 0, fmt.Errorf("vtrace: %d rewards, %d log-ratios, %d discounts, %d values (want T+1), room for %d targets and %d advantages",
			T, len(u.LogRhos), len(u.Discounts), len(u.Values), len(vs), len(adv))
	}
	var acc, sum float64
	for t := T - 1; t >= 0; t-- {
		ratio := math.Exp(float64(u.LogRhos[t]))
		rho, cc := ratio, ratio
		if c.RhoBar > 0 {
			rho = min(rho, float64(c.RhoBar))
		}
		if c.CBar > 0 {
			cc = min(cc, float64(c.CBar))
		}
		sum += rho
		v, next := float64(u.Values[t]), float64(u.Values[t+1])
		g, r := float64(u.Discounts[t]), float64(u.Rewards[t])
		// v_{t+1} for the advantage: the bootstrap at the end, else the target
		// just computed (vs[t+1] = V(x_{t+1}) + acc).
		vsNext := next + acc
		delta := rho * (r + g*next - v)
		acc = delta + g*cc*acc
		vs[t] = float32(v + acc)
		adv[t] = float32(rho * (r + g*vsNext - v))
	}
	if T == 0 {
		return 0, nil
	}
	return float32(sum / float64(T)), nil
}
