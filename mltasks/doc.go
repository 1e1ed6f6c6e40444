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
//	          Output: {"model", "version", "run", "epochs" (completed), "steps",
//	          "examples" (a pass over the view), "seconds", "stopped_early",
//	          "metrics" (every final value of the run: loss, accuracy, val_loss,
//	          val_accuracy, lr, ...), "accuracy", "loss"}; a regression has
//	          "mae" (and val_mae) where a classifier has accuracy.
//	evaluate  Input: dataset name; Model: model name (latest version, or
//	          params.version / params.alias). Output: {"model", "version",
//	          "accuracy" (or "mae"), "loss", "examples", "metrics"}; the metrics
//	          are also recorded on the model version as "<input>_accuracy" (or
//	          "<input>_mae"), "<input>_loss".
//
// # Streaming from the store
//
// A view is never read whole into memory. Before anything else, the server
// answers, without a payload read, what the view holds: its count, its
// payload kinds and shapes (grouped on the stored documents' kind, shape and
// size fields) and its labels. An empty view, a view mixing two shapes
// (both samples named), a view whose shape does not fit the network's input
// (the sample, its shape and the input named) and a label out of the
// network's classes (the sample named) fail the task at once, as
// task.Permanent errors, with nothing written to the store. Then every epoch
// reads the view through the dataset module (Dataset.Batches) with its disk
// cache (the first pass fills it; later epochs read the local disk while the
// collection is unchanged), its prefetch and its shuffle, seeded per epoch,
// and converts each batch of samples into batch tensors reused from batch to
// batch: uint8 images and raw bytes scaled to [0, 1], float32 features
// copied, int32 token ids fed as int32 (or as float32 to a float32 input).
// An H×W view feeds an H×W×1 input; raw bytes feed any input of as many
// values. The cache lives under Options.CacheDir (default the user's cache
// folder), in a folder per store.
//
// # Class ids or target tensors
//
// Labels are the samples' class ids (Sample.Label), or their target tensors
// (Sample.Target): the summary also groups on the stored target's kind and
// shape, and a view must be one or the other (a view where some samples
// carry a target and some do not, or targets of two shapes, fails naming a
// sample of each). A view of targets trains a regression: params.loss "mse"
// (its default; "cross_entropy" is the default, and the only choice, for
// class ids), the network's output (batch, target shape...) fed float32
// targets (int32 and uint8 targets by value), the metrics loss and mae (mean
// absolute error, train.Config.Metrics) and no accuracy; evaluate measures
// the same on such a view. The built-in builders give one output per target
// value (ArchInput.Target), which fits a target of one axis or a scalar (as
// (batch, 1)); an output of another shape than the target's fails naming
// the sample, the output layer and both shapes, before anything is written.
//
// # Architecture as data
//
// params.architecture is a layers JSON (layers.FromJSON); params.arch names
// a Builder: the built-in "mlp" and "cnn", which build for the view's sample
// shape and params.classes classes (default the view's largest label plus
// one), or one registered in the agent's binary with Kinds.RegisterArch or
// Options.Archs. Either way the saved version stores the architecture JSON,
// so evaluate and a fine-tune (params.init) rebuild the network from the
// store alone. A fine-tune whose weights do not fit the network fails, naming
// each variable and both shapes, before anything is written.
//
// # Parameters
//
// TrainParams: optimizer (adam, sgd, momentum, nesterov, rmsprop, adagrad),
// lr, schedule (constant, step, exponential, cosine: train.LearningRate over
// optim's schedules), weight_decay, batch, epochs and/or steps (a step
// budget), early_stopping {metric, patience, min_delta, mode}, device (cpu
// or cuda), seed, init {model, version or alias}, validation, limit, alias,
// classes, loss, log_every. Old plans keep working: every field is optional.
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
