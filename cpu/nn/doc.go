// Package nn holds the engine's raw CPU kernels for convolutional networks:
// convolutions and filter gradients that read the padded image in place
// (ConvImplicit, ConvFilterImplicit, on gemm's grouped products where the CPU
// has them), im2col and col2im for the others, max and average pooling with their
// gradients, and local response normalisation with its gradient, over a few
// slice kernels (add, add+ReLU, max, multiply, ReLU gradient) written in AVX2
// assembly on amd64 CPUs that have it and in plain Go elsewhere. They replace
// per-element branches that mispredict on activations: see the "CNN ops"
// section of docs/BENCHMARKS.md.
//
// The kernels work on plain float32 slices in the layouts TensorFlow uses on the
// CPU: images are NHWC (channels innermost, so a pixel's channels are one
// contiguous run) and filters are HWIO (height, width, input channels, output
// channels: read as a (KH·KW·C)×OC row-major matrix, which is exactly the right
// operand of the im2col product). Every function works on one image or on a range
// of rows, writes only its own output, takes its scratch memory from the caller
// and allocates nothing, so package graph can run many of them at once over the
// batch on a par.Pool. Keeping the kernels apart from the graph also gives a future
// GPU backend a reference to check its own kernels against.
//
// # Geometry
//
// Conv is the shape of one convolution or pooling window sweep: the input
// image, the window, the strides and dilations, and the padding. Output sizes
// and padding follow TensorFlow (see OutSize): VALID keeps only windows inside the
// image; SAME produces ceil(in/stride) outputs and pads
//
//	pad_total  = max((out-1)·stride + (k-1)·dilation + 1 - in, 0)
//	pad_before = pad_total / 2
//
// so the extra row of odd padding goes after the image, as in TensorFlow (and
// unlike frameworks that pad symmetrically).
//
// A 1-D convolution or pooling is the 2-D one on an image of height 1.
package nn
