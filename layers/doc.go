// Package layers is the layer module of the library (section 2.1 of the
// TensorLayer paper): a catalogue of neural network layers, stacked
// declaratively into networks over the engine of package graph.
//
// # Stacking layers
//
// A network is built by feeding layers into layers. Every layer function takes
// the layer (or layers) it reads, a name, its sizes, and options, and returns a
// new *Layer; the last layer stands for the whole network.
//
//	g := graph.New(1)
//	x := layers.Input(g, "x", -1, 28, 28, 1) // -1: the batch, fed at run time
//	net := layers.Conv2D(x, "conv1", 32, 5, 5, layers.Same, layers.ReLU)
//	net = layers.MaxPool2D(net, "pool1", 2, 2)
//	net = layers.Flatten(net, "flat")
//	net = layers.Dropout(net, "drop1", 0.5)
//	net = layers.Dense(net, "out", 10)
//	if err := net.Err(); err != nil { ... }
//	fmt.Print(net.Summary())
//
// Options are values: an Activation (ReLU, Tanh, Softmax, LeakyReLU(0.2),
// ...), a Padding (Same, Valid), Stride(2), Dilation(2), WInit(init),
// BInit(init), NoBias(), Mask(m), InitialState(h, c), ReturnLast(),
// Bidirectional(), ForgetBias(b), Momentum(m), Epsilon(e), Bilinear,
// Reuse(). A layer rejects an option it does not take, naming it and listing
// those it does.
//
// Building never panics on bad input. A layer that cannot be built (a wrong
// shape, a bad setting, a duplicate name) carries an *Error naming the layer,
// its kind and the cause (wrapping ErrBadConfig, ErrBadOption,
// ErrDuplicateName or ErrParamShape); layers built on it carry the same error,
// and the error is recorded in the graph, so compiling fails too. Check
// net.Err() once, at the end.
//
// # Nothing hidden
//
// A network is a thin layer over the graph. Each layer exposes its Output node,
// its Inputs, its own Params, its Config and the other nodes it built (Aux: a
// recurrent layer's final state, word2vec's loss); the last layer exposes the
// whole network: Layers (in build order), Nodes (every layer's output),
// AllParams and Trainable (each shared parameter once), TrainableUnder a name
// prefix, ParamsByLayer, InputLayers, and Graph. A loss, the gradients and the
// optimizer are written against the graph directly, and compiled twice for the
// two modes:
//
//	y := g.Placeholder("y", tensor.Int32, -1)
//	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), y)
//	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.01), loss, net.Trainable()...)
//	train, err := g.NewExecutor(graph.Options{Training: true}, loss, step)
//	eval, err := g.NewExecutor(graph.Options{}, net.Output())
//	_, err = train.Run(x.Feed(images), graph.Feed{Node: y, Value: labels})
//
// Any graph node can start a network (InputNode), and any Go function over
// graph nodes can be a layer (Lambda, LambdaN): the paper's LambdaLayer, the
// way foreign code joins a network. A Gorgonia expression enters the same way:
// the module github.com/tlgo/tl/interop/gorgonia turns it into a graph node
// (gorgonia.Op), and LambdaN makes that a layer, as the module
// github.com/tlgo/tl/layers/gorgoniatest shows and tests. Neither module is a
// dependency of this package.
//
// # Names and parameter sharing
//
// Every layer has a name, unique within its network, and its parameters are
// graph variables named "<layer>/<param>":
//
//	Dense, DropConnectDense       <name>/W (in, units), <name>/b (units)
//	Conv1D, Conv2D                <name>/W (k..., in channels, filters), <name>/b
//	DeConv2D                      <name>/W (kh, kw, filters, in channels), <name>/b
//	BatchNorm                     <name>/gamma, <name>/beta, <name>/moving_mean, <name>/moving_variance
//	LayerNorm                     <name>/gamma, <name>/beta
//	Embedding                     <name>/embeddings (vocab, dim)
//	Word2vecEmbedding             <name>/embeddings, <name>/nce_W, <name>/nce_b
//	PReLU                         <name>/alpha (channels)
//	RNN, LSTM                     <name>/W (in+units, gates·units), <name>/b
//	GRU                           <name>/gates/W, <name>/gates/b, <name>/candidate/W, <name>/candidate/b
//	bidirectional RNN, LSTM, GRU  the same under <name>/fw/ and <name>/bw/
//
// These names are stable: they are the keys under which weights are saved and
// loaded. A graph has one variable per name, so building a second network with
// the same layer names uses the same parameters: a GAN's discriminator applied
// to real and to generated images, or a network for training and one for
// inference that share weights. Asking for a name with another shape is an
// error (ErrParamShape) that gives both shapes. Within one network, two layers
// may share a name (and parameters) only if the later one passes Reuse();
// otherwise it is ErrDuplicateName.
//
// # Training and inference
//
// Layers never bake a mode into the graph. Dropout, DropConnectDense,
// GaussianNoise and BatchNorm behave as the plan they are compiled into says:
// compile the same targets with graph.Options{Training: true} for training and
// with Training: false for evaluation, and the network switches mode without
// being rebuilt.
//
// # Architecture as JSON
//
// MarshalJSON writes a network's architecture: each layer's name, kind, inputs
// (positions in the list) and Config, as JSON. FromJSON rebuilds it in a graph,
// with the same parameter names and shapes, so weights saved from one load into
// the other. Lambda functions and initializers outside package tensor are not
// JSON: FromJSON takes them by name (WithFunc, WithInit). Build makes any layer
// from its Config, the general form of the layer functions.
//
// # The catalogue
//
//	inputs       Input, IntInput, InputNode
//	dense        Dense, DropConnectDense, Embedding, Word2vecEmbedding
//	noise        Dropout, GaussianNoise
//	convolution  Conv1D, Conv2D, DeConv2D, UpSampling2D, DownSampling2D
//	pooling      MaxPool1D, MaxPool2D, MeanPool1D, MeanPool2D, their Global forms
//	norm         BatchNorm, LayerNorm, LocalResponseNorm
//	shape        Flatten, Reshape, Transpose, Concat, TimeDistributed
//	merge        Elementwise (Add, Mul, Max), Concat
//	recurrent    RNN, LSTM, GRU (masks, ReturnLast, Bidirectional), SequenceMask
//	activation   Activate, PReLU
//	foreign      Lambda, LambdaN
//
// Recurrent layers unroll the graph over the steps, so a layer's number of
// steps is fixed when it is built; sequences of varying length are padded to it
// and described by a Mask, with which a padded step keeps its state and
// outputs zeros. A layer starts from zeros or from an InitialState, and
// exposes its final state as Aux("h") (and Aux("c") for an LSTM), so that a
// language model carries its state across batches.
package layers
