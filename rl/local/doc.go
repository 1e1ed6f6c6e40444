// Package local runs the TensorLayer paper's distributed reinforcement-learning
// system (its section 3, Figure 2) inside one process: N player goroutines, each
// with its own environments and its own copy of the policy, send trajectories to
// one learner, which trains on them in batches and publishes each new version of
// the weights; players pick up the latest version every Refresh unrolls.
//
// The shape is the distributed one with the transport taken out: the channel
// stands for a JetStream stream of trajectories, the published snapshot for a
// model version in the model store. So the same pieces (rl/a2c's Player, Learner,
// Trajectory, Params) and the same lag between players and learner — which
// V-trace corrects — are exercised here before they cross machines. The samples
// the learner consumes per second, against the number of players, is Figure 2's
// curve; on one machine it bends where players and learner share the cores.
package local
