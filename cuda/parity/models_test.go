package parity

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// trainParity trains the same graph for steps steps on the CPU and on the device
// from the same initial variables and batches, and compares the loss of every
// step and the variables at the end. It covers what the op cases cannot: ops
// chained through a memory plan, gradients summed across uses, and updates
// seen by the next step, on eager, captured and replayed runs.
func trainParity(t *testing.T, g *graph.Graph, loss, update *graph.Node, feed func(step int, rng *rand.Rand) map[*graph.Node]*tensor.Tensor, steps int, tol float64) {
	t.Helper()
	trainParityOn(t, cuda.Config{}, model{g, loss, update, feed}, steps, tol)
}

// model is a training graph and its batches.
type model struct {
	g            *graph.Graph
	loss, update *graph.Node
	feed         func(step int, rng *rand.Rand) map[*graph.Node]*tensor.Tensor
}

// trainParityOn is trainParity on a device opened with cfg; it returns the
// largest relative error of a loss and of a variable.
func trainParityOn(t *testing.T, cfg cuda.Config, m model, steps int, tol float64) (lossErr, varErr float64) {
	t.Helper()
	g, loss, update, feed := m.g, m.loss, m.update, m.feed
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	dev := cudatest.OpenConfig(t, cfg)
	rng := rand.New(rand.NewPCG(7, 11))
	first := feed(0, rng)
	shapes := map[*graph.Node]tensor.Shape{}
	for n, v := range first {
		shapes[n] = v.Shape()
	}
	od := g.OnDevice(dev)
	defer od.Close()
	dp, err := od.Compile(graph.DeviceOptions{Training: true}, shapes, loss, update)
	if err != nil {
		t.Fatalf("device compile: %v", err)
	}
	cp, err := g.Compile(graph.Options{Training: true, Threads: 1}, shapes, loss, update)
	if err != nil {
		t.Fatalf("cpu compile: %v", err)
	}
	defer cp.Close()
	for s := 0; s < steps; s++ {
		batch := first
		if s > 0 {
			batch = feed(s, rng)
		}
		for n, v := range batch {
			if err := cp.Input(n).CopyFrom(v); err != nil {
				t.Fatal(err)
			}
			if err := dp.Input(n).CopyFrom(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := cp.Run(); err != nil {
			t.Fatalf("step %d: cpu: %v", s, err)
		}
		if err := dp.Poison(); err != nil {
			t.Fatal(err)
		}
		if err := dp.Run(); err != nil {
			t.Fatalf("step %d: device: %v", s, err)
		}
		lossErr = max(lossErr, compare(t, fmt.Sprintf("step %d: loss", s), cp.Outputs()[0], dp.Outputs()[0], tol))
	}
	if !dp.Captured() {
		t.Errorf("the training step was never captured as a device graph")
	}
	for _, v := range g.Variables() {
		got, err := od.Read(v)
		if err != nil {
			t.Fatal(err)
		}
		varErr = max(varErr, compare(t, fmt.Sprintf("after %d steps: %s", steps, v.Name()), v.Tensor(), got, tol))
	}
	return lossErr, varErr
}

func uniform(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	fillFloat(t, rng, -1, 1)
	return t
}

func ints(rng *rand.Rand, n int, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Int32, shape...)
	for i := range t.Int32s() {
		t.Int32s()[i] = int32(rng.IntN(n))
	}
	return t
}

// The CIFAR-10 CNN of Table 1, scaled down: conv, max-pool, LRN, conv, LRN,
// max-pool, two dense layers, softmax cross-entropy, SGD.
func TestTrainCNN(t *testing.T) {
	m := cnnModel(t)
	trainParity(t, m.g, m.loss, m.update, m.feed, 4, 1e-4)
}

func cnnModel(t *testing.T) model {
	g := graph.New(3)
	x := g.Placeholder("images", tensor.Float32, -1, 12, 12, 3)
	y := g.Placeholder("labels", tensor.Int32, -1)
	same := graph.Conv2DOpts{Padding: graph.Same}
	pool := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
	norm := graph.LRNOpts{DepthRadius: 4, Bias: 1, Alpha: 0.001 / 9, Beta: 0.75}
	w1 := g.Variable("conv1/W", tensor.TruncatedNormal(0, 5e-2), 5, 5, 3, 16)
	b1 := g.Variable("conv1/b", tensor.Zeros(), 16)
	h := graph.LocalResponseNorm(graph.MaxPool2D(graph.Conv2DBiasAct(x, w1, b1, graph.ReluAct, same), pool), norm)
	w2 := g.Variable("conv2/W", tensor.TruncatedNormal(0, 5e-2), 5, 5, 16, 16)
	b2 := g.Variable("conv2/b", tensor.Constant(0.1), 16)
	h = graph.MaxPool2D(graph.LocalResponseNorm(graph.Conv2DBiasAct(h, w2, b2, graph.ReluAct, same), norm), pool)
	h = graph.Reshape(h, -1, 3*3*16)
	w3 := g.Variable("local3/W", tensor.TruncatedNormal(0, 0.04), 144, 24)
	b3 := g.Variable("local3/b", tensor.Constant(0.1), 24)
	w4 := g.Variable("softmax/W", tensor.TruncatedNormal(0, 1/24.0), 24, 10)
	b4 := g.Variable("softmax/b", tensor.Zeros(), 10)
	logits := graph.BiasAct(graph.MatMul(graph.BiasAct(graph.MatMul(h, w3), b3, graph.ReluAct), w4), b4, graph.Identity)
	loss := graph.SparseSoftmaxCrossEntropy(logits, y)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.1), loss)
	if err != nil {
		t.Fatal(err)
	}
	return model{g, loss, update, func(_ int, rng *rand.Rand) map[*graph.Node]*tensor.Tensor {
		return map[*graph.Node]*tensor.Tensor{x: uniform(rng, 6, 12, 12, 3), y: ints(rng, 10, 6)}
	}}
}

// The PTB language model of Table 1, scaled down: embedding, two fused LSTM
// layers between the batch-major and time-major layouts, softmax, gradients
// clipped by global norm, SGD with a sparse embedding update.
func TestTrainLSTM(t *testing.T) {
	m := lstmModel(t)
	trainParity(t, m.g, m.loss, m.update, m.feed, 4, 1e-4)
}

func lstmModel(t *testing.T) model {
	const vocab, hidden, steps, batch = 40, 12, 5, 3
	g := graph.New(4)
	init := tensor.Uniform(-0.1, 0.1)
	ids := g.Placeholder("inputs", tensor.Int32, batch, steps)
	targets := g.Placeholder("targets", tensor.Int32, batch*steps)
	emb := g.Variable("embedding", init, vocab, hidden)
	x := graph.Transpose(graph.Gather(emb, ids), 1, 0, 2)
	var h0s []*graph.Node
	for l := 0; l < 2; l++ {
		w := g.Variable(fmt.Sprintf("lstm%d/W", l), init, 2*hidden, 4*hidden)
		b := g.Variable(fmt.Sprintf("lstm%d/b", l), tensor.Zeros(), 4*hidden)
		h0 := g.Placeholder(fmt.Sprintf("lstm%d/h0", l), tensor.Float32, batch, hidden)
		c0 := g.Placeholder(fmt.Sprintf("lstm%d/c0", l), tensor.Float32, batch, hidden)
		h0s = append(h0s, h0, c0)
		x, _, _ = graph.LSTMOutputs(graph.LSTM(x, h0, c0, w, b, 0))
	}
	out := graph.Reshape(graph.Transpose(x, 1, 0, 2), -1, hidden)
	sw := g.Variable("softmax/W", init, hidden, vocab)
	sb := g.Variable("softmax/b", tensor.Zeros(), vocab)
	loss := graph.SparseSoftmaxCrossEntropy(graph.BiasAdd(graph.MatMul(out, sw), sb), targets)
	st, err := optim.MinimizeWith(optim.NewSGD(g, "sgd", 1), loss, optim.MinimizeOptions{ClipNorm: 5})
	if err != nil {
		t.Fatal(err)
	}
	return model{g, loss, st.Update, func(_ int, rng *rand.Rand) map[*graph.Node]*tensor.Tensor {
		f := map[*graph.Node]*tensor.Tensor{ids: ints(rng, vocab, batch, steps), targets: ints(rng, vocab, batch*steps)}
		for _, s := range h0s {
			f[s] = uniform(rng, batch, hidden)
		}
		return f
	}}
}

// TF32 (cuda.Config.TF32): the CNN and the language model, whose products run on
// TF32 tensor cores, against the CPU's float32. This is the accuracy the mode
// costs; on the emulator, which rounds the products' inputs to TF32 as tensor
// cores do, it is a model of it, on a GPU the real figure. A float32 run of the
// same models stays within 1e-4.
func TestTrainTF32(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(*testing.T) model
	}{{"cnn", cnnModel}, {"lstm", lstmModel}} {
		t.Run(c.name, func(t *testing.T) {
			lossErr, varErr := trainParityOn(t, cuda.Config{TF32: true}, c.build(t), 4, 5e-2)
			t.Logf("TF32, 4 training steps: losses within %.2g, variables within %.2g (relative)", lossErr, varErr)
			if dev := cudatest.Open(t); dev.Emulated() && varErr < 1e-6 {
				t.Errorf("variables within %.2g of float32: the products did not run in TF32", varErr)
			}
		})
	}
}

// word2vec of Table 1, scaled down: skip-gram with NCE over fed negative samples
// (the sampler's draws differ between backends by design), SGD with sparse
// updates of the embedding and the NCE weights; repeated ids in a batch.
func TestTrainWord2vec(t *testing.T) {
	const vocab, dim, batch, sampled = 60, 8, 16, 6
	g := graph.New(5)
	ids := g.Placeholder("inputs", tensor.Int32, batch)
	labels := g.Placeholder("labels", tensor.Int32, batch)
	neg := g.Placeholder("sampled", tensor.Int32, sampled)
	emb := g.Variable("embeddings", tensor.Uniform(-1, 1), vocab, dim)
	w := g.Variable("nce_W", tensor.TruncatedNormal(0, 0.3), vocab, dim)
	b := g.Variable("nce_b", tensor.Zeros(), vocab)
	loss := graph.NCELoss(w, b, graph.Gather(emb, ids), labels, neg)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 1), loss)
	if err != nil {
		t.Fatal(err)
	}
	trainParity(t, g, loss, update, func(_ int, rng *rand.Rand) map[*graph.Node]*tensor.Tensor {
		return map[*graph.Node]*tensor.Tensor{ids: ints(rng, 10, batch), labels: ints(rng, vocab, batch), neg: ints(rng, vocab, sampled)}
	}, 4, 1e-4)
}

// A language model whose LSTM state is carried from step to step: on the CPU
// through the host (the final states copied into the next step's feeds), on the
// device by DeviceOptions.Carry, without leaving it. The losses of every step
// must agree, and ResetCarry must start again from the host's state.
func TestTrainLSTMCarry(t *testing.T) {
	const vocab, hidden, steps, batch = 30, 10, 4, 3
	g := graph.New(6)
	init := tensor.Uniform(-0.1, 0.1)
	ids := g.Placeholder("inputs", tensor.Int32, batch, steps)
	targets := g.Placeholder("targets", tensor.Int32, batch*steps)
	emb := g.Variable("embedding", init, vocab, hidden)
	x := graph.Transpose(graph.Gather(emb, ids), 1, 0, 2)
	var states, finals []*graph.Node
	for l := 0; l < 2; l++ {
		w := g.Variable(fmt.Sprintf("lstm%d/W", l), init, 2*hidden, 4*hidden)
		b := g.Variable(fmt.Sprintf("lstm%d/b", l), tensor.Zeros(), 4*hidden)
		h0 := g.Placeholder(fmt.Sprintf("lstm%d/h0", l), tensor.Float32, batch, hidden)
		c0 := g.Placeholder(fmt.Sprintf("lstm%d/c0", l), tensor.Float32, batch, hidden)
		var h, c *graph.Node
		x, h, c = graph.LSTMOutputs(graph.LSTM(x, h0, c0, w, b, 0))
		states, finals = append(states, h0, c0), append(finals, h, c)
	}
	out := graph.Reshape(graph.Transpose(x, 1, 0, 2), -1, hidden)
	sw := g.Variable("softmax/W", init, hidden, vocab)
	loss := graph.SparseSoftmaxCrossEntropy(graph.MatMul(out, sw), targets)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 1), loss)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]*graph.Node{loss, update}, finals...)
	shapes := map[*graph.Node]tensor.Shape{ids: {batch, steps}, targets: {batch * steps}}
	carry := map[*graph.Node]*graph.Node{}
	for i, s := range states {
		shapes[s] = tensor.Shape{batch, hidden}
		carry[finals[i]] = s
	}
	dev := cudatest.Open(t)
	od := g.OnDevice(dev)
	defer od.Close()
	dp, err := od.Compile(graph.DeviceOptions{Training: true, Carry: carry}, shapes, all...)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := g.Compile(graph.Options{Training: true, Threads: 1}, shapes, all...)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for step := 0; step < 6; step++ {
		if step == 0 || step == 4 { // a new sequence from a random state
			if step == 4 {
				dp.ResetCarry()
			}
			for _, s := range states {
				v := uniform(rng, batch, hidden)
				cp.Input(s).CopyFrom(v)
				dp.Input(s).CopyFrom(v)
			}
		}
		in, tg := ints(rng, vocab, batch, steps), ints(rng, vocab, batch*steps)
		for _, p := range []interface {
			Input(*graph.Node) *tensor.Tensor
		}{cp, dp} {
			p.Input(ids).CopyFrom(in)
			p.Input(targets).CopyFrom(tg)
		}
		if err := cp.Run(); err != nil {
			t.Fatal(err)
		}
		if err := dp.Run(); err != nil {
			t.Fatal(err)
		}
		compare(t, fmt.Sprintf("step %d: loss", step), cp.Outputs()[0], dp.Outputs()[0], 1e-4)
		for i, s := range states { // the CPU carries through the host
			cp.Input(s).CopyFrom(cp.Outputs()[2+i])
			if dp.Outputs()[2+i] != nil {
				t.Fatalf("a carried target was copied to the host")
			}
		}
	}
}

// noCapture is a device whose graph capture fails.
type noCapture struct{ graph.Device }

func (noCapture) Capture(func() error) (graph.DeviceGraph, error) {
	return nil, errors.New("capture refused for the test")
}

// A device that cannot record graphs still runs the plan, one launch at a time,
// with the same results, and says why it did not capture.
func TestCaptureFailureFallsBack(t *testing.T) {
	g := graph.New(8)
	x := g.Placeholder("x", tensor.Float32, 4, 5)
	w := g.Variable("w", tensor.Uniform(-1, 1), 5, 3)
	y := graph.Tanh(graph.MatMul(x, w))
	od := g.OnDevice(noCapture{cudatest.Open(t)})
	defer od.Close()
	dp, err := od.Compile(graph.DeviceOptions{}, map[*graph.Node]tensor.Shape{x: {4, 5}}, y)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := g.Compile(graph.Options{Threads: 1}, map[*graph.Node]tensor.Shape{x: {4, 5}}, y)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 0; r < 3; r++ {
		v := uniform(rng, 4, 5)
		cp.Input(x).CopyFrom(v)
		dp.Input(x).CopyFrom(v)
		if err := cp.Run(); err != nil {
			t.Fatal(err)
		}
		if err := dp.Run(); err != nil {
			t.Fatalf("run %d: %v", r, err)
		}
		compare(t, fmt.Sprintf("run %d", r), cp.Outputs()[0], dp.Outputs()[0], 1e-5)
	}
	if dp.Captured() || dp.CaptureError() == nil || !strings.Contains(dp.CaptureError().Error(), "capture refused") {
		t.Errorf("Captured %v, CaptureError %v: want no graph and the reason", dp.Captured(), dp.CaptureError())
	}
}
