package queue

// The trajectory stream of distributed reinforcement learning (package
// rl/dist): players publish trajectories on RLSubject(run, player), one
// trainer per run consumes them through the durable consumer RLConsumer(run).
// Setup creates the stream with the others, as a work queue: a message
// leaves the stream when the trainer acks it, which it does only once the
// model version that includes it is saved.
const (
	RLStream = "TL_RL"
	rlPrefix = "tl.rl."
)

// RLSubject is where player publishes the trajectories of run (both valid
// task names).
func RLSubject(run, player string) string { return rlPrefix + run + "." + player }

// RLRunSubjects is the filter of run's trajectories.
func RLRunSubjects(run string) string { return rlPrefix + run + ".>" }

// RLConsumer is the durable consumer of run's trainer.
func RLConsumer(run string) string { return "rl-" + run }

// rlAgentPermissions are what an agent may do on the trajectory stream:
// publish trajectories, and run a trainer's consumer (create, replace, read,
// ack). Nothing else of the stream: no purge, no delete, no stream update.
func rlAgentPermissions() []string {
	return []string{
		rlPrefix + ">",
		"$JS.API.STREAM.INFO." + RLStream,
		"$JS.API.CONSUMER.CREATE." + RLStream + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + RLStream + ".*",
		"$JS.API.CONSUMER.DELETE." + RLStream + ".*",
		"$JS.API.CONSUMER.INFO." + RLStream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + RLStream + ".*",
		"$JS.ACK." + RLStream + ".>",
	}
}
