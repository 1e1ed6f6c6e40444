// Package dist is the TensorLayer paper's distributed reinforcement learning
// (its section 3, Figure 2) on the workflow module: game players and one
// trainer are ordinary tasks that agents run, trajectories travel on a
// JetStream stream, and the policy goes back to the players through the model
// store. Start more tl-agents, give the plan more rl-player tasks, and the
// trainer gets more samples per second.
//
// # The kinds
//
//   - rl-player (PlayerParams): waits for the run's first model version (the
//     model is named after params.run; the trainer saves it), plays
//     params.envs environments in lock-step with the version the alias
//     "latest" names (re-read every params.refresh unrolls, loaded only when
//     it moved), and publishes every trajectory (rl/a2c's wire format) on
//     queue.RLSubject(run, player), with its player id and a sequence number
//     per player in headers and the message id "run/player/seq". It stops
//     when the run's state (collection rl_runs) leaves "running", or at its
//     own max_unrolls / max_duration.
//
//   - rl-trainer (TrainerParams): one per run. Consumes the run's
//     trajectories through a durable consumer, trains the a2c Learner
//     (V-trace for the players' lag) on batches of params.batch, records
//     the metrics and the mean return of the last 100 episodes as training
//     events of the run named params.run (tl runs, tl curve), saves a
//     version every params.save_every updates and moves "latest" to it. At
//     updates / duration / target it sets the run "stopping", waits for the
//     players to stop and trains on what they sent, saves the last version,
//     sets the run "done", and outputs the counts (TrainerOutput).
//
// # Exactly once
//
// Publishing: a player records in the store how many trajectories it has
// published (collection rl_players), after the stream has acknowledged them
// and at most once a second; a player killed after publishing more is
// restarted by the workflow from the recorded count, and republishes the
// same sequence numbers under the same message ids, which the stream drops
// (its dedup window is an hour). So each sequence number is in the stream
// once. A player also waits while the trainer has params.backlog
// trajectories not yet delivered (64 by default), so that players faster
// than the trainer do not fill the stream with ever staler trajectories.
//
// Training: the stream is a work queue; the trainer acks a trajectory only
// after the version whose weights include it is saved, and the version
// records (model params rl_state) per player the next sequence number it
// expects, with the counts. A trainer attempt starts from the last saved
// version and replaces the durable consumer by a fresh one that delivers
// everything still in the stream in stream order: what was trained on
// after the last save (lost with the process) is trained on again, what was
// saved but not yet acked (a crash between save and acks) arrives with a
// sequence number below the recorded one and is acked as a repeat. So
// trained == published when the run ends, every player's numbers without
// gap or repeat (TrainerOutput: published, trained, per_player, gaps,
// repeats), when every player's envs is a multiple of params.batch (a last
// partial batch is not trained on, and reported as pending).
//
// Bad input: a message that does not decode, fails the trajectory's checks
// (lengths, action range, finite values), lacks the player and sequence
// headers, or comes from a policy version newer than the trainer's (an
// unknown version) is terminated, logged with why, counted as rejected, and
// training goes on.
//
// # Permissions
//
// The agent role may publish on tl.rl.> and run consumers of the stream
// TL_RL (agents/queue/rl.go), nothing else of it. Any agent may publish
// under any player's subject: a player's identity is its task, not its
// credentials, and every agent already runs the code compiled in it and
// reports any task it pulls. A forged trajectory can bias training as a
// forged task result can bias a plan; it cannot crash the trainer (it is
// checked) nor make a real one count twice or vanish unless it takes the
// real one's sequence number first — credentials per task would be the
// remedy, as for task results.
package dist
