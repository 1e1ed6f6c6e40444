// Package train runs training: a Loop that feeds batches from a feed.Loader to a
// compiled graph, extended by hooks rather than options, with the metrics,
// evaluation, schedules, checkpoints, early stopping, logging and progress bar
// a training run needs.
//
// # The loop
//
// A Config names the graph's pieces: the placeholders fed by each batch tensor,
// the loss, the optimizer's update, and (for accuracy) the logits and the label
// placeholder. New compiles nothing yet; Run compiles one plan per batch shape
// (the full batches and the short last one) and then runs them step after step:
//
//	loop, _ := train.New(train.Config{
//		Inputs: []*graph.Node{x, y}, Loss: loss, Update: step,
//		Logits: logits, Labels: y,
//	})
//	defer loop.Close()
//	ev, _ := loop.NewEvaluator()
//	loop.Use(
//		train.LearningRate(opt, optim.CosineDecay{Base: 1e-3, Steps: total}),
//		train.Evaluate(ev, testLoader, "val_"),
//		train.EarlyStopping("val_loss", true, 3, 0),
//		train.Checkpoint("ckpt", g.Variables(), 1, 3),
//		train.SaveBest("best", net, "val_accuracy", false),
//		train.Logger(slog.Default(), 100),
//		train.ProgressBar(os.Stderr),
//	)
//	state, err := loop.Run(ctx, trainLoader, epochs)
//
// # Hooks
//
// A Hook is a set of optional functions called at TrainStart, EpochStart,
// StepStart, StepEnd, EpochEnd and TrainEnd, in the order the hooks were added,
// with the loop's State: the position (epoch, step), the batch, the step's
// outputs, and Values, the named metrics. The loop keeps "loss", "accuracy" and
// "top<k>_accuracy" as running averages over the epoch's examples so far; hooks
// read them and add their own (Evaluate adds "val_loss"...), so a hook that reads
// a metric goes after the hook that makes it. A hook returns ErrStop to end the
// run cleanly after the current step; any other error ends Run with an error
// that names the hook, the event and the step.
//
// # Steady state
//
// With no hooks, a step does not allocate: the executor's plans are reused, feeds
// are rebound in place, metrics are computed in place (Correct, CorrectTopK
// compare each label's logit with the others, without sorting), and the loader
// reuses its batches. Hooks may allocate (logging does), usually only every few
// steps. A loss that becomes NaN or infinite ends Run with ErrDiverged.
//
// Checkpoint saves variables (a graph's Variables, optimizer state included)
// every few epochs, and RunFrom resumes from one: the resumed run ends with the
// same weights as a run that was never interrupted. RunAt resumes in the middle
// of an epoch (a Position: epoch, batches done, step, the epoch's running
// metrics): it skips the batches done, whose order depends only on the seed and
// the epoch. The loop numbers dropout's masks by the global step
// (graph.Options.Step), so on the CPU they replay as well; on a device they
// come from the device plan's own counter. State.Pull brings a device's variables to
// the host for a hook that saves between epochs. SaveBest keeps the best
// network so far as a model folder (modelio.Save).
//
// # Evaluation
//
// An Evaluator compiles the same loss and logits in inference mode (dropout
// off, batch norm on moving averages) over the same variables, and averages
// them over a whole loader: the test set after each epoch (the Evaluate hook),
// or on its own.
//
// # Recurrent state
//
// Config.Carry maps a recurrent network's final state (an LSTM's h and c) to
// the placeholders of its initial state: stateful truncated backpropagation
// through time, as TensorFlow's ptb_word_lm trains. Each step starts from the
// state the previous step ended with; gradients stop at the window's start.
// The state is zero at the start of every epoch, after ResetCarry and when
// the batch size changes. On the CPU the loop copies it into buffers of its
// own (no allocation per step); on a device it never leaves the device
// (graph.DeviceOptions.Carry). Evaluators carry it too, from zero. Batches
// must come in an order where row r of one batch continues row r of the
// previous one: feed.LanguageModel through a Loader without shuffling.
//
// # Progress
//
// Progress draws a bar with throughput and ETA, redrawn in place at most ten
// times a second, and only when its file is a terminal (golang.org/x/term): in a
// log file or under CI it writes nothing, and Logger's lines are what remains.
// LogProgress is the bar's counterpart for logs: every few steps (about ten lines
// an epoch by default) a log/slog line with the step in the epoch, the metrics,
// the examples per second and the time left in the epoch and the run.
package train
