// Package tensor holds dense n-dimensional arrays: a shape, an element type and
// storage on a device.
//
// Tensors are row-major (the last axis varies fastest) and images are NHWC, as in
// TensorFlow, whose tutorials the benchmarks reproduce. A Tensor is a small header
// over a slice: Reshape and Slice return views that share storage, so the engine can
// plan memory once and hand kernels views of it without copying.
//
// Two element types exist: Float32 for values and Int32 for indices (class labels,
// word ids). Accessors that ask for the wrong type panic: that is a programming error,
// not bad input. Functions that take user input (FromFloat32, Reshape, Slice) return
// errors that name the operation, the argument and the shapes involved.
//
// Initializers (Constant, Uniform, Normal, TruncatedNormal, GlorotUniform,
// GlorotNormal, HeNormal, HeUniform) fill a tensor from an explicit random source, so
// the same seed gives the same weights on every machine.
package tensor
