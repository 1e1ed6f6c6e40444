// Package env is what a reinforcement-learning player plays: an environment
// interface small enough for a game written in a page of Go, and a vectorised
// runner that steps many of them in lock-step for a batched policy.
//
// # The interface
//
// An Env is reset with a seed and returns its first observation; Step takes one
// discrete action and returns the next observation, the reward and whether the
// episode ended. Observations are float32 slices in the environment's own memory,
// valid until its next Reset or Step: an environment allocates once, when it is
// made, and never per step, so that a player's time goes to the game and the
// policy, not to the garbage collector. Everything random in an environment comes
// from the seed of its last Reset, so an episode is replayed exactly from its seed
// and a sequence of actions (the tests of rl/env/cartpole and rl/env/pong check
// it).
//
// # The runner
//
// Vec holds N environments and steps them together: one call takes N actions and
// fills one [N, obs...] batch, N rewards and N done flags, which is the shape a
// policy network wants (one forward pass for all N). An environment whose episode
// ends is reset at once with the next seed of its own sequence (derived from the
// runner's seed, the environment's index and the episode's number, so a run is
// reproducible however episodes interleave); its row of the batch then holds the
// new episode's first observation and Finished reports the episode that ended, with
// its return and length. Vec allocates nothing per step either.
//
// Why this shape: it is the actor half of an actor-learner system (IMPALA,
// Espeholt et al. 2018; the TensorLayer paper's Figure 2): a player owns a Vec and
// a copy of the policy, and sends fixed-length unrolls of it to a learner.
package env
