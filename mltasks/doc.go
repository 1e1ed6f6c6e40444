// Package mltasks holds the machine-learning task kinds agents run: train and
// evaluate. They join the four modules of the library: a task names an input
// dataset (the dataset module), a model (the model module) and parameters; the
// kind reads the samples, builds the network from the layers catalogue or from an
// architecture JSON, trains it with the train loop, and saves the result as a new
// version of the model, with its metrics and lineage, in the same store.
//
// The kinds need the agent's store: an agent started with a MongoDB URL (or the
// local master's endpoints) hands its *store.DB to every task function.
//
//	train     Input: dataset name; Model: model name to save; params: TrainParams.
//	          Output: {"model", "version", "run", "accuracy", "loss", "examples", "seconds"}.
//	evaluate  Input: dataset name; Model: model name (latest version, or
//	          params.version / params.alias). Output: {"accuracy", "loss", "examples"};
//	          the metrics are also recorded on the model version as "<input>_accuracy".
//
// Both are registered with their params types, so agents announce the
// parameter fields and the master rejects a plan with an unknown one when it is
// submitted.
//
// A train task records its run's curves as events (package events, through
// package trainevents), under the model's name and a fresh run ID: loss and
// speed every few steps, the epoch's accuracy, the validation loss and accuracy
// per epoch when params.validation names a dataset. The saved version's lineage
// names the run, and the run's last event names the version; an evaluate task
// adds its result to that run as a test point. `tl runs MODEL` and `tl curve
// MODEL` read them back. Inside an epoch the task logs its progress (examples/s,
// ETA) on the agent's log.
//
// Errors that retrying cannot cure are task.Permanent, so the task fails at once
// instead of using its attempts: a dataset or model that does not exist,
// invalid parameters, samples the network cannot take.
//
// Tasks on the "cuda" queue (an agent started with --queues cuda on a GPU node)
// train and evaluate on the GPU: the network runs on the CUDA backend, the
// weights are pulled back to the host before they are saved. One device per
// agent process, opened on the first such task; device tasks run one at a time.
//
// Both are idempotent per task key in their effect on what readers see: a train
// task that runs twice saves two versions, each whole, and lineage names the task.
package mltasks
