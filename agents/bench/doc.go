// Package bench measures the workflow module: how many tasks per second flow through
// master, queue and agents (Dispatch), how long a dead agent's task takes to come
// back (FailureDetection, kill -9 to redelivery), and the shape of the TensorLayer
// paper's Figure 2, throughput as agents are added (Figure2).
//
// Figure 2 in the paper is a distributed reinforcement-learning system: game players
// (agents) generate samples that one GPU trainer consumes; throughput grows linearly
// with agents until the trainer is saturated. Figure2 rebuilds that system on this
// module: each agent runs "play" tasks pulled from a queue, each producing a batch of
// samples published to a JetStream stream; one trainer consumes the stream. A play
// takes PlayTime and a training step TrainTime, both modelled as waits (this 2-core
// machine cannot run eight CPU-bound players and a trainer in parallel); everything
// else, queues, acks, heartbeats, sample transport, is the real path.
//
// The benchmarks in bench_test.go run these with the testing package; the program
// in ./figures prints the tables for docs/BENCHMARKS.md and draws the PNG.
//
// FailureDetection kills a real agent process. Programs using it must call AgentMain
// at the start of main (or TestMain): the victim is this same executable re-run
// with TL_BENCH_ROLE=agent.
package bench
