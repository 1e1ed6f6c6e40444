// Package vtrace computes V-trace targets (Espeholt et al. 2018, "IMPALA"): the
// value targets and policy-gradient advantages of an actor-critic learner that
// trains on actions chosen by older versions of its policy.
//
// # Why
//
// In a distributed actor-learner system — the TensorLayer paper's Figure 2,
// IMPALA, SEED RL — players act with a copy of the policy that they refresh from
// time to time, while the learner updates the policy with every batch. A
// trajectory therefore arrives from a behaviour policy μ that lags the learner's
// policy π by some updates, and the plain on-policy advantage actor-critic is
// biased by that lag: its returns estimate the value of μ, not of π, and its
// gradient weighs μ's actions as if π had chosen them. The lag grows with the
// number of players and the network's delay, exactly when the system scales.
// V-trace corrects it with truncated importance weights, so that the learner can
// use every sample however stale, and stays stable where full importance
// sampling would multiply weights without bound.
//
// # The targets
//
// For an unroll x_0..x_T with rewards r_t, discounts γ_t (0 where an episode
// ended), values V(x_t) of the learner's critic and importance weights
// π(a_t|x_t)/μ(a_t|x_t) truncated as ρ_t = min(ρ̄, π/μ) and c_t = min(c̄, π/μ):
//
//	δ_t = ρ_t (r_t + γ_t V(x_{t+1}) − V(x_t))
//	v_s = V(x_s) + δ_s + γ_s c_s (v_{s+1} − V(x_{s+1})),   v_T = V(x_T)
//	A_s = ρ_s (r_s + γ_s v_{s+1} − V(x_s))
//
// v_s is the critic's target and A_s the advantage that weighs ∇ log π(a_s|x_s).
// ρ̄ sets the fixed point (ρ̄ = 1: the value of π itself, when ρ̄ ≥ every ratio;
// smaller: a policy between μ and π), c̄ the speed of convergence (the variance
// of the traces). On-policy (π = μ, so every ratio is 1) with ρ̄, c̄ ≥ 1, v_s is
// the n-step return Σ γ^(t−s) r_t + γ^(T−s) V(x_T), as in A3C; the tests check
// both against hand-computed cases.
package vtrace
