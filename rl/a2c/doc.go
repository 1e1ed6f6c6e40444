// Package a2c is an advantage actor-critic learner with V-trace corrections
// (IMPALA, Espeholt et al. 2018) on the layers API: the learner half and the
// player half of the TensorLayer paper's distributed reinforcement-learning system
// (its section 3, Figure 2), usable in one process or across machines.
//
// # The pieces
//
//   - A Net builds the network from an observation input: a policy head (logits,
//     one per action) and a value head (one number), usually over a shared torso.
//
//   - A Player owns a batch of environments (rl/env.Vec) and a Policy (its own
//     copy of the network, inference only, at some version) and turns them into
//     Trajectories: fixed-length unrolls of one environment with the actions'
//     log-probabilities under the policy that chose them and that policy's
//     version.
//
//   - The Learner takes batches of trajectories and updates the network: it runs
//     the current network over the observations, computes V-trace targets and
//     advantages (package rl/vtrace) from the ratios of its own log-probabilities
//     to the players', and takes one optimizer step on
//
//     loss = −mean(A_t · log π(a_t|x_t)) + c_v · ½·mean((V(x_t) − v_t)²) − c_e · mean(H(π(·|x_t)))
//
//     with the gradients clipped by their global norm. Params snapshots the
//     weights with a version number, which a Player's Policy loads.
//
// A Trajectory is a plain struct of slices (observations, actions, rewards, done
// flags, behaviour log-probabilities, policy version), so that a player on another
// machine can send it over a stream: MarshalBinary and UnmarshalBinary are its
// wire format (a malformed message is an error wrapping ErrBadTrajectory), and
// the learner checks every trajectory (Validate: lengths, action range, finite
// values, a version not newer than its own) before use, refusing the batch with
// an error that names the item. Learner.Network is the whole network as one
// layer (logits and value side by side) for the model store; ParamsOf turns a
// network loaded from the store into the Params a Policy loads.
//
// # Why V-trace: players lag the trainer
//
// A player acts with the policy it last loaded; by the time its unroll reaches
// the learner, the learner has moved on by some updates (more with more players,
// a slower network, or a refresh every N episodes to spare the model store). The
// on-policy actor-critic would then follow a biased gradient: its returns are
// those of the old policy and its gradient weighs the old policy's choices as the
// current one's. V-trace weighs each step by the truncated ratio π/μ of the
// learner's policy to the player's, which removes the lag's bias up to the
// truncation and keeps the variance bounded (ρ̄ = c̄ = 1, IMPALA's choice).
// Config.NoCorrection turns it off (every ratio taken as 1), to measure what
// it buys: TestStaleBehaviour trains with deliberately stale players both ways.
//
// # Engine use
//
// The learner's graph holds the network once; two executors share its
// variables: one runs the forward pass over B·(T+1) observations (the targets
// need the values of the states after each unroll), the other the loss, the
// gradients and the Adam update over B·T. V-trace runs on the host between
// them: it is a backward recursion over T steps, negligible beside the network.
// Both plans are compiled once, at the first update.
package a2c
