package layers_test

import (
	"errors"
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// A small CNN for 28×28 grey images, stacked layer on layer, and its summary.
func Example() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 28, 28, 1)
	net := layers.Conv2D(x, "conv1", 32, 5, 5, layers.Same, layers.ReLU)
	net = layers.MaxPool2D(net, "pool1", 2, 2)
	net = layers.Conv2D(net, "conv2", 64, 5, 5, layers.Same, layers.ReLU)
	net = layers.MaxPool2D(net, "pool2", 2, 2)
	net = layers.Flatten(net, "flat")
	net = layers.Dense(net, "fc1", 256, layers.ReLU)
	net = layers.Dropout(net, "drop1", 0.5)
	net = layers.Dense(net, "out", 10)
	if err := net.Err(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(net.Summary())
	// Output:
	// layer  kind       output shape     params   inputs
	// x      Input      (?, 28, 28, 1)   0
	// conv1  Conv2D     (?, 28, 28, 32)  832      x
	// pool1  MaxPool2D  (?, 14, 14, 32)  0        conv1
	// conv2  Conv2D     (?, 14, 14, 64)  51,264   pool1
	// pool2  MaxPool2D  (?, 7, 7, 64)    0        conv2
	// flat   Flatten    (?, 3136)        0        pool2
	// fc1    Dense      (?, 256)         803,072  flat
	// drop1  Dropout    (?, 256)         0        fc1
	// out    Dense      (?, 10)          2,570    drop1
	// params: 857,738 (trainable 857,738, other 0), in 8 variables
}

// Training a network: the loss and the optimizer are written against the graph,
// through the network's output and parameters. The same graph compiled without
// Training evaluates it (dropout off).
func Example_training() {
	g := graph.New(7)
	x := layers.Input(g, "x", -1, 2)
	net := layers.Dense(x, "hidden", 16, layers.Tanh)
	net = layers.Dropout(net, "drop", 0.9)
	net = layers.Dense(net, "out", 2)
	y := g.Placeholder("y", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), y) // the batch mean
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.5), loss, net.Trainable()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	train, _ := g.NewExecutor(graph.Options{Training: true}, loss, step)
	defer train.Close()
	eval, _ := g.NewExecutor(graph.Options{}, loss)
	defer eval.Close()

	// XOR.
	xs, _ := tensor.FromFloat32([]float32{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2)
	ys, _ := tensor.FromInt32([]int32{0, 1, 1, 0}, 4)
	feeds := []graph.Feed{x.Feed(xs), {Node: y, Value: ys}}
	before, _ := eval.Run(feeds...)
	first := before[0].Float32s()[0]
	for i := 0; i < 300; i++ {
		if _, err := train.Run(feeds...); err != nil {
			fmt.Println(err)
			return
		}
	}
	after, _ := eval.Run(feeds...)
	fmt.Println("loss fell below a tenth:", after[0].Float32s()[0] < first/10)
	// Output:
	// loss fell below a tenth: true
}

// Layers with the same names share their parameters: a GAN's discriminator
// applied to real images and to the generator's output.
func Example_sharing() {
	g := graph.New(1)
	discriminator := func(img *layers.Layer) *layers.Layer {
		net := layers.Dense(img, "d/fc1", 32, layers.LeakyReLU(0.2))
		return layers.Dense(net, "d/out", 1)
	}
	real := layers.Input(g, "real", -1, 64)
	z := layers.Input(g, "z", -1, 8)
	fake := layers.Dense(z, "g/fc1", 64, layers.Tanh)

	dReal, dFake := discriminator(real), discriminator(fake)
	fmt.Println("same weights:", dReal.Find("d/fc1").Params()[0] == dFake.Find("d/fc1").Params()[0])
	fmt.Println("graph variables:", len(g.Variables()))
	// Each player updates its own parameters.
	fmt.Println("discriminator:", names(dFake.TrainableUnder("d/")))
	fmt.Println("generator:", names(dFake.TrainableUnder("g/")))

	// The same name for another shape is an error that says so.
	bad := discriminator(layers.Input(g, "small", -1, 10))
	fmt.Println(errors.Is(bad.Err(), layers.ErrParamShape))
	fmt.Println(bad.Err())
	// Output:
	// same weights: true
	// graph variables: 6
	// discriminator: [d/fc1/W d/fc1/b d/out/W d/out/b]
	// generator: [g/fc1/W g/fc1/b]
	// true
	// layers: Dense "d/fc1": parameter exists with another shape: parameter d/fc1/W has shape (64, 32) in the graph (built by an earlier layer "d/fc1"), this layer needs (10, 32)
}

// A network's architecture as JSON, and the same network rebuilt from it.
func Example_json() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	net := layers.Dense(x, "fc", 3, layers.ReLU, layers.WInit(tensor.HeNormal()))
	data, _ := net.MarshalJSON()
	fmt.Println(string(data))

	rebuilt, err := layers.FromJSON(graph.New(2), data)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range rebuilt.AllParams() {
		fmt.Println(p.Name(), p.Shape())
	}
	// Output:
	// {"format":"tlgo-layers/1","layers":[{"name":"x","kind":"Input","config":{"shape":[-1,4],"dtype":"float32"}},{"name":"fc","kind":"Dense","inputs":[0],"config":{"units":3,"act":"relu","w_init":"he_normal","b_init":"constant(0)"}}]}
	// fc/W (4, 3)
	// fc/b (3,)
}

// Recurrent layers read padded sequences of varying length with a mask.
func ExampleLSTM() {
	g := graph.New(1)
	words := layers.IntInput(g, "words", -1, 20) // 20 steps, padded
	mask := layers.Input(g, "mask", -1, 20)      // 1 for words, 0 for padding
	net := layers.Embedding(words, "emb", 10000, 64)
	net = layers.LSTM(net, "lstm", 128, layers.Mask(mask), layers.Bidirectional(), layers.ReturnLast())
	net = layers.Dense(net, "out", 2)
	fmt.Print(net.Summary())
	// Output:
	// layer  kind       output shape  params   inputs
	// words  Input      (?, 20)       0
	// emb    Embedding  (?, 20, 64)   640,000  words
	// mask   Input      (?, 20)       0
	// lstm   LSTM       (?, 256)      197,632  emb, mask
	// out    Dense      (?, 2)        514      lstm
	// params: 838,146 (trainable 838,146, other 0), in 7 variables
}

// Any Go function over graph nodes is a layer.
func ExampleLambda() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	net := layers.Lambda(x, "square", graph.Square)
	e, _ := g.NewExecutor(graph.Options{}, net.Output())
	defer e.Close()
	in, _ := tensor.FromFloat32([]float32{1, 2, 3}, 1, 3)
	out, _ := e.Run(x.Feed(in))
	fmt.Println(out[0].Float32s())
	// Output:
	// [1 4 9]
}

// Dense's options: an activation, initializers, no bias.
func ExampleDense() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 784)
	h := layers.Dense(x, "fc1", 128, layers.ReLU, layers.WInit(tensor.HeNormal()))
	out := layers.Dense(h, "logits", 10, layers.NoBias())
	for _, p := range out.AllParams() {
		fmt.Println(p.Name(), p.Shape())
	}
	// An option Dense does not take is an error naming what it takes.
	fmt.Println(layers.Dense(x, "fc2", 10, layers.Stride(2)).Err())
	// Output:
	// fc1/W (784, 128)
	// fc1/b (128,)
	// logits/W (128, 10)
	// layers: Dense "fc2": bad option: stride does not apply to Dense (it takes options act, w_init, b_init, no_bias)
}

// BatchNorm and Dropout switch between training and inference with the plan
// they are compiled into: the network is built once.
func ExampleBatchNorm() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 2)
	net := layers.BatchNorm(x, "bn")
	for _, p := range net.Params() {
		_, trainable := p.IsVariable()
		fmt.Println(p.Name(), "trainable:", trainable)
	}
	in, _ := tensor.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)
	// Inference first: the moving averages start at mean 0, variance 1.
	for _, training := range []bool{false, true} {
		e, _ := g.NewExecutor(graph.Options{Training: training}, net.Output())
		out, _ := e.Run(x.Feed(in))
		fmt.Printf("training %v: %.2f\n", training, out[0].Float32s())
		e.Close()
	}
	// Output:
	// bn/gamma trainable: true
	// bn/beta trainable: true
	// bn/moving_mean trainable: false
	// bn/moving_variance trainable: false
	// training false: [1.00 2.00 3.00 4.00]
	// training true: [-1.00 -1.00 1.00 1.00]
}

func names(ns []*graph.Node) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Name())
	}
	return s
}

// Convolutions: NHWC images, HWIO filters, TensorFlow's padding rules.
func ExampleConv2D() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 32, 32, 3)
	net := layers.Conv2D(x, "conv", 16, 3, 3, layers.Stride(2), layers.Same, layers.ReLU)
	fmt.Println(net.Shape(), net.Params()[0].Name(), net.Params()[0].Shape())
	up := layers.DeConv2D(net, "deconv", 3, 3, 3, layers.Stride(2), layers.Same, layers.Tanh)
	fmt.Println(up.Shape(), up.Params()[0].Name(), up.Params()[0].Shape())
	// Output:
	// (?, 16, 16, 16) conv/W (3, 3, 3, 16)
	// (?, 32, 32, 3) deconv/W (3, 3, 3, 16)
}

// A residual block: two branches joined by Elementwise.
func ExampleElementwise() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 8, 8, 16)
	f := layers.Conv2D(x, "res/conv1", 16, 3, 3, layers.Same, layers.NoBias())
	f = layers.BatchNorm(f, "res/bn1", layers.ReLU)
	f = layers.Conv2D(f, "res/conv2", 16, 3, 3, layers.Same, layers.NoBias())
	f = layers.BatchNorm(f, "res/bn2")
	net := layers.Elementwise("res/add", layers.Add, x, f)
	net = layers.Activate(net, "res/relu", layers.ReLU)
	fmt.Print(net.Summary())
	// Output:
	// layer      kind         output shape   params  inputs
	// x          Input        (?, 8, 8, 16)  0
	// res/conv1  Conv2D       (?, 8, 8, 16)  2,304   x
	// res/bn1    BatchNorm    (?, 8, 8, 16)  64      res/conv1
	// res/conv2  Conv2D       (?, 8, 8, 16)  2,304   res/bn1
	// res/bn2    BatchNorm    (?, 8, 8, 16)  64      res/conv2
	// res/add    Elementwise  (?, 8, 8, 16)  0       x, res/bn2
	// res/relu   Activation   (?, 8, 8, 16)  0       res/add
	// params: 4,736 (trainable 4,672, other 64), in 10 variables
}

// Word2vec: the layer outputs the embeddings and builds the NCE loss.
func ExampleWord2vecEmbedding() {
	g := graph.New(1)
	words := layers.IntInput(g, "words", -1)
	context := layers.IntInput(g, "context", -1)
	w2v := layers.Word2vecEmbedding(words, context, "word2vec", 50000, 128, 64)
	loss := w2v.Aux("nce_loss")
	step, err := optim.Minimize(optim.NewSGD(g, "sgd", 1), loss, w2v.Trainable()...)
	fmt.Println(w2v.Shape(), loss.Shape(), err == nil && step != nil)
	for _, p := range w2v.Params() {
		fmt.Println(p.Name(), p.Shape())
	}
	// Output:
	// (?, 128) () true
	// word2vec/embeddings (50000, 128)
	// word2vec/nce_W (50000, 128)
	// word2vec/nce_b (50000,)
}

// TimeDistributed applies layers to every step of a sequence.
func ExampleTimeDistributed() {
	g := graph.New(1)
	x := layers.Input(g, "frames", -1, 10, 64)
	net := layers.TimeDistributed(x, "td", func(step *layers.Layer) *layers.Layer {
		return layers.Dense(step, "td/fc", 32, layers.ReLU)
	})
	net = layers.GRU(net, "gru", 16, layers.ReturnLast())
	fmt.Print(net.Summary())
	// Output:
	// layer     kind       output shape  params  inputs
	// frames    Input      (?, 10, 64)   0
	// td/merge  TimeMerge  (?, 64)       0       frames
	// td/fc     Dense      (?, 32)       2,080   td/merge
	// td        TimeSplit  (?, 10, 32)   0       td/fc
	// gru       GRU        (?, 16)       2,352   td
	// params: 4,432 (trainable 4,432, other 0), in 6 variables
}

// ParamSummary lists the parameters with statistics of their values.
func ExampleLayer_ParamSummary() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4)
	net := layers.Dense(x, "fc", 3, layers.WInit(tensor.Constant(0.5)), layers.BInit(tensor.Constant(-1)))
	net = layers.BatchNorm(net, "bn")
	fmt.Print(net.ParamSummary())
	// Output:
	// param               shape   values  trainable  mean  std
	// fc/W                (4, 3)  12      true       0.5   0
	// fc/b                (3,)    3       true       -1    0
	// bn/gamma            (3,)    3       true       1     0
	// bn/beta             (3,)    3       true       0     0
	// bn/moving_mean      (3,)    3       false      0     0
	// bn/moving_variance  (3,)    3       false      1     0
}
