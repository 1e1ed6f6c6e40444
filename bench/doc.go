// Package bench reproduces the TensorLayer paper's Table 1 on the machine it runs
// on: the CIFAR-10 CNN (images/s), the PTB LSTM (words/s) and word2vec (training pairs/s, and corpus words/s: half),
// each built twice — with the layers API and directly on the graph, the paper's
// "TensorLayer vs TensorFlow" column — and side by side with PyTorch peers. A
// sixth row times the DCGAN of examples/dcgan (images/s; a step is one
// discriminator and one generator update), the paper's section 3 example.
//
// On a loaded machine the wall clock measures the other processes too: the
// peers also report items per CPU-second of their process, and
// BenchmarkDCGAN reports ours, for a ratio of work done per core-second.
//
// Measurement: warm-up, then timed windows; the figure is the median window. The
// machines are shared and noisy, so comparisons are ratios of figures measured in
// the same run, with peers interleaved with our own windows. The layers overhead
// is measured paired (MeasurePaired): the two builds' steps alternated one by one,
// so that the machine's drift, which is slower than a step, cancels.
//
// A workload builds on the CPU or on a graph.Device (a GPU through package cuda),
// where the PTB model keeps its LSTM state on the device between steps.
package bench
