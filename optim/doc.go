// Package optim holds the optimizers that turn gradients into variable updates:
// plain SGD here, with momentum, Nesterov, Adam, Adagrad and RMSProp beside it.
//
// An optimizer adds update nodes to the graph; the plan runs them after every
// other node of the step, so each update sees the gradient of the step and every
// read of a variable in the step saw its value from before the step. Gradients of
// embeddings read through graph.Gather are sparse: optimizers update only the rows
// a batch touched.
//
// The learning rate is a state variable of the graph, not a constant baked into
// the plan: SetLearningRate (or a schedule) changes it between steps without
// recompiling.
package optim
