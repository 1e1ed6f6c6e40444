// Package graph is the engine's core: a static graph of operations, reverse-mode
// automatic differentiation, and a compiler that turns a graph into a Plan that
// runs a training step without allocating.
//
// # Building
//
// A Graph starts empty. Placeholders are inputs fed at run time (their batch
// dimension may be -1), Variables hold parameters (a name identifies a variable:
// asking for the same name again returns it, which is how layers share
// parameters), Constants hold fixed tensors. Functions such as MatMul, Conv2D,
// BiasAct or SparseSoftmaxCrossEntropy add nodes. Shapes are inferred as nodes are
// added; a mistake (a wrong shape, say) is recorded in the graph, reported by Err,
// Compile and Gradients, and names the op, the argument and the shapes. Building
// never panics on bad shapes.
//
// # Differentiating
//
// Gradients(loss, xs...) adds the backward graph: for each op on the path from x
// to the loss, its Grad method builds the nodes of its gradient. The backward graph
// is an ordinary graph, so it is compiled, planned and fused like the forward one.
// Gradients of embeddings read through Gather are sparse (IndexedSlices); the
// optimizers in package optim update only the rows they touch.
//
// # Compiling and running
//
// Compile takes the nodes wanted (targets: a loss, an optimizer's update) and the
// shapes of the placeholders, and returns a Plan:
//
//   - the nodes needed, in order, with updaters (optimizer steps, moving averages)
//     last, so every read of a variable in a step sees its value from before;
//   - every intermediate tensor placed in shared slabs by a liveness analysis
//     (a buffer is reused once its last reader has run; elementwise ops write over
//     their input when nothing else reads it; Reshape and Index are views);
//   - one kernel per node, bound to its tensors once.
//
// Plan.Run then calls the kernels: no allocation, no map lookup, no shape check.
// An Executor keeps one plan per set of fed shapes, so a new batch size compiles a
// new plan once and users never fix the batch size into the graph.
//
// # Life of a training step
//
//	x, y fed ─▶ Executor.Run ─▶ plan for these shapes (compiled once)
//	             │ copy feeds into the plan's input tensors
//	             │ forward kernels   (MatMul → BiasAct → ... → loss)
//	             │ backward kernels  (built by Gradients, same plan)
//	             │ updaters          (optimizer: v -= lr·g, in place)
//	             ▼ targets' tensors (the loss), valid until the next Run
//
// # Adding an op
//
// Implement Op (Type, Infer, Compile) and, for a gradient, Differentiable (Grad,
// built from other nodes), then call Graph.Apply. Optional interfaces tell the
// planner more: InPlacer (may overwrite an input), Aliaser (a view),
// ShapeOnlyInputs (reads only an input's shape), Updater (side effects on
// variables, run last). Check the gradient with package gradcheck.
//
// # Devices
//
// The same graph runs on a Device (a GPU: package cuda): OnDevice holds the
// variables in device memory, and its Compile makes a DevicePlan with the same
// node order and memory plan, every intermediate in one device arena, each op
// bound through DeviceOp.CompileDevice to kernels queued on the device. From its
// second run a DevicePlan replays the step as one recorded device graph.
// DeviceOptions.Carry keeps recurrent state on the device between steps.
package graph
