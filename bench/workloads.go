package bench

import (
	"fmt"
	"math"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// API says how a workload is built.
type API string

const (
	// Layers builds with the layers package, as a user would.
	Layers API = "layers"
	// Graph builds directly on the graph: the raw engine, the paper's
	// "TensorFlow" column.
	Graph API = "graph"
)

// Workload is one row of Table 1.
type Workload struct {
	Name string
	Unit string
	// AltUnit, AltPerItem: the rate in a second unit too (AltPerItem of it per
	// item); see Row.
	AltUnit      string
	AltPerItem   float64
	Items        int                // items (images, words) per step
	GFLOPPerItem map[string]float64 // by mode, where known
	Peer         Peer
	PeerThreads  int // the peer's best thread count here (0: --threads)
	// Build makes one step of the workload; dev nil runs it on the CPU.
	Build func(api API, mode string, dev graph.Device) (Step, error)
}

// Workloads lists the rows in table order.
func Workloads() []Workload {
	// The CIFAR-10 CNN: 2·MACs per image, ×3 for training (forward, and the
	// gradients for inputs and weights) less the first convolution's input
	// gradient, which neither we nor the peer compute (the images are not
	// trained): 36.9 MFLOP an image inferred, 105.3 trained.
	cnnGF := func(lrn bool) map[string]float64 {
		conv1 := 24.0 * 24 * 64 * 5 * 5 * 3
		macs := conv1 + 12*12*64*5*5*64 + 2304*384 + 384*192 + 192*10
		return map[string]float64{"train": 2 * (3*macs - conv1) / 1e9, "infer": 2 * macs / 1e9}
	}
	return []Workload{
		{Name: "cifar10-cnn", Unit: "images/s", Items: 128, GFLOPPerItem: cnnGF(true),
			Peer:  Peer{Script: "cifar10_cnn.py", Args: []string{"--lrn", "on"}},
			Build: func(api API, mode string, dev graph.Device) (Step, error) { return newCIFAR(api, mode, true, 128, dev) }},
		{Name: "cifar10-cnn-nolrn", Unit: "images/s", Items: 128, GFLOPPerItem: cnnGF(false),
			Peer: Peer{Script: "cifar10_cnn.py", Args: []string{"--lrn", "off"}},
			Build: func(api API, mode string, dev graph.Device) (Step, error) {
				return newCIFAR(api, mode, false, 128, dev)
			}},
		{Name: "ptb-small", Unit: "words/s", Items: 20 * 20, GFLOPPerItem: ptbSmall.gflopPerWord(),
			Peer:  Peer{Script: "ptb_lstm.py", Args: []string{"--config", "small"}},
			Build: func(api API, mode string, dev graph.Device) (Step, error) { return newPTB(api, mode, ptbSmall, dev) }},
		{Name: "ptb-medium", Unit: "words/s", Items: 20 * 35, GFLOPPerItem: ptbMedium.gflopPerWord(),
			Peer:  Peer{Script: "ptb_lstm.py", Args: []string{"--config", "medium"}},
			Build: func(api API, mode string, dev graph.Device) (Step, error) { return newPTB(api, mode, ptbMedium, dev) }},
		// A step trains on 128 (center, context) pairs, two per corpus word
		// (num_skips 2): the unit is pairs/s, and corpus words/s is half. The
		// paper's 58,167 "words/s" is compared with pairs/s: TensorLayer's
		// tutorial, like word2vec_basic, counts a batch of 128 pairs as 128.
		{Name: "word2vec", Unit: "pairs/s", AltUnit: "corpus words/s", AltPerItem: 0.5, Items: 128, PeerThreads: 1,
			Peer:  Peer{Script: "word2vec.py"},
			Build: func(api API, mode string, dev graph.Device) (Step, error) { return newWord2vec(api, mode, dev) }},
		{Name: "dcgan", Unit: "images/s", Items: dcganBatch, GFLOPPerItem: dcganGFLOP(),
			Peer:  Peer{Script: "dcgan.py"},
			Build: func(api API, mode string, dev graph.Device) (Step, error) { return newDCGAN(api, mode, dev) }},
	}
}

// execStep runs an executor with fixed feeds; carry copies outputs into feeds
// after each step (recurrent state).
type execStep struct {
	exe   runner
	close func()
	feeds []graph.Feed
	carry []carry
	next  func() // prepares the next batch, if any
}

type carry struct {
	out  int            // index into the executor's outputs
	into *tensor.Tensor // a feed's value
}

func (s *execStep) Run() error {
	if s.next != nil {
		s.next()
	}
	out, err := s.exe.Run(s.feeds...)
	if err != nil {
		return err
	}
	for _, c := range s.carry {
		copy(c.into.Float32s(), out[c.out].Float32s())
	}
	return nil
}

func (s *execStep) Close() { s.close() }

// CaptureError says why a device step could not be recorded as a device graph
// (it then runs launch by launch, slower), or nil: on the CPU always nil.
func (s *execStep) CaptureError() error {
	if de, ok := s.exe.(*graph.DeviceExecutor); ok {
		for _, p := range de.Plans() {
			if err := p.CaptureError(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Profile runs one step node by node and says where its time went
// (graph.DevicePlan.Profile on a device, graph.Plan.Profile on the CPU).
func (s *execStep) Profile() (*graph.DeviceProfile, error) {
	pr, ok := s.exe.(interface {
		Profile(...graph.Feed) (*graph.DeviceProfile, error)
	})
	if !ok {
		return nil, fmt.Errorf("bench: a profile of a step on %T, which cannot be profiled", s.exe)
	}
	if s.next != nil {
		s.next()
	}
	return pr.Profile(s.feeds...)
}

// runner is a graph.Executor or a graph.DeviceExecutor.
type runner = graph.Runner

// newExec returns an executor of targets on the CPU (dev nil) or on dev, and the
// function that releases it.
func newExec(g *graph.Graph, mode string, dev graph.Device, targets ...*graph.Node) (runner, func(), error) {
	return newExecCarry(g, mode, dev, nil, targets...)
}

// newExecCarry is newExec with recurrent state carried from targets to
// placeholders on the device (on the CPU the step copies it; see execStep).
func newExecCarry(g *graph.Graph, mode string, dev graph.Device, carry map[*graph.Node]*graph.Node, targets ...*graph.Node) (runner, func(), error) {
	if err := g.Err(); err != nil {
		return nil, nil, err
	}
	if dev != nil {
		od := g.OnDevice(dev)
		return od.NewExecutor(graph.DeviceOptions{Training: mode == "train", Carry: carry}, targets...), od.Close, nil
	}
	exe, err := g.NewExecutor(graph.Options{Training: mode == "train"}, targets...)
	if err != nil {
		return nil, nil, err
	}
	return exe, exe.Close, nil
}

// ---- CIFAR-10 CNN (TensorFlow's cifar10.py) ----

const (
	lrnRadius = 4
	lrnBias   = 1
	lrnAlpha  = 0.001 / 9
	lrnBeta   = 0.75
)

func newCIFAR(api API, mode string, lrn bool, batch int, dev graph.Device) (Step, error) {
	g := graph.New(1)
	var x, y, logits *graph.Node
	if api == Layers {
		in := layers.Input(g, "images", -1, 24, 24, 3)
		labels := layers.IntInput(g, "labels", -1)
		net := layers.Conv2D(in, "conv1", 64, 5, 5, layers.Same, layers.ReLU, layers.WInit(tensor.TruncatedNormal(0, 5e-2)))
		net = layers.MaxPool2D(net, "pool1", 3, 3, layers.Stride(2, 2), layers.Same)
		if lrn {
			net = layers.LocalResponseNorm(net, "norm1", lrnRadius, lrnBias, lrnAlpha, lrnBeta)
		}
		net = layers.Conv2D(net, "conv2", 64, 5, 5, layers.Same, layers.ReLU, layers.WInit(tensor.TruncatedNormal(0, 5e-2)), layers.BInit(tensor.Constant(0.1)))
		if lrn {
			net = layers.LocalResponseNorm(net, "norm2", lrnRadius, lrnBias, lrnAlpha, lrnBeta)
		}
		net = layers.MaxPool2D(net, "pool2", 3, 3, layers.Stride(2, 2), layers.Same)
		net = layers.Flatten(net, "flatten")
		net = layers.Dense(net, "local3", 384, layers.ReLU, layers.WInit(tensor.TruncatedNormal(0, 0.04)), layers.BInit(tensor.Constant(0.1)))
		net = layers.Dense(net, "local4", 192, layers.ReLU, layers.WInit(tensor.TruncatedNormal(0, 0.04)), layers.BInit(tensor.Constant(0.1)))
		net = layers.Dense(net, "softmax_linear", 10, layers.WInit(tensor.TruncatedNormal(0, 1/192.0)))
		if err := net.Err(); err != nil {
			return nil, err
		}
		x, y, logits = in.Output(), labels.Output(), net.Output()
	} else {
		x = g.Placeholder("images", tensor.Float32, -1, 24, 24, 3)
		y = g.Placeholder("labels", tensor.Int32, -1)
		same := graph.Conv2DOpts{Padding: graph.Same}
		pool := graph.PoolOpts{Size: [2]int{3, 3}, Strides: [2]int{2, 2}, Padding: graph.Same}
		norm := graph.LRNOpts{DepthRadius: lrnRadius, Bias: lrnBias, Alpha: lrnAlpha, Beta: lrnBeta}
		w1 := g.Variable("conv1/W", tensor.TruncatedNormal(0, 5e-2), 5, 5, 3, 64)
		b1 := g.Variable("conv1/b", tensor.Zeros(), 64)
		h := graph.MaxPool2D(graph.Conv2DBiasAct(x, w1, b1, graph.ReluAct, same), pool)
		if lrn {
			h = graph.LocalResponseNorm(h, norm)
		}
		w2 := g.Variable("conv2/W", tensor.TruncatedNormal(0, 5e-2), 5, 5, 64, 64)
		b2 := g.Variable("conv2/b", tensor.Constant(0.1), 64)
		h = graph.Conv2DBiasAct(h, w2, b2, graph.ReluAct, same)
		if lrn {
			h = graph.LocalResponseNorm(h, norm)
		}
		h = graph.Reshape(graph.MaxPool2D(h, pool), -1, 6*6*64)
		dense := func(h *graph.Node, name string, in, out int, std float64, bias float32, act graph.Activation) *graph.Node {
			w := g.Variable(name+"/W", tensor.TruncatedNormal(0, std), in, out)
			b := g.Variable(name+"/b", tensor.Constant(bias), out)
			return graph.BiasAct(graph.MatMul(h, w), b, act)
		}
		h = dense(h, "local3", 2304, 384, 0.04, 0.1, graph.ReluAct)
		h = dense(h, "local4", 384, 192, 0.04, 0.1, graph.ReluAct)
		logits = dense(h, "softmax_linear", 192, 10, 1/192.0, 0, graph.Identity)
	}
	xt := tensor.New(tensor.Float32, batch, 24, 24, 3)
	tensor.Normal(0, 1).Init(xt, tensor.NewRand(7))
	yt := tensor.New(tensor.Int32, batch)
	for i := range yt.Int32s() {
		yt.Int32s()[i] = int32(i % 10)
	}
	if mode == "infer" {
		exe, done, err := newExec(g, mode, dev, logits)
		if err != nil {
			return nil, err
		}
		return &execStep{exe: exe, close: done, feeds: []graph.Feed{{Node: x, Value: xt}}}, nil
	}
	loss := graph.SparseSoftmaxCrossEntropy(logits, y)
	update, err := optim.Minimize(optim.NewSGD(g, "sgd", 0.1), loss)
	if err != nil {
		return nil, err
	}
	exe, done, err := newExec(g, mode, dev, loss, update)
	if err != nil {
		return nil, err
	}
	return &execStep{exe: exe, close: done, feeds: []graph.Feed{{Node: x, Value: xt}, {Node: y, Value: yt}}}, nil
}

// ---- PTB LSTM (TensorFlow's ptb_word_lm.py) ----

type ptbConfig struct {
	hidden, steps, batch, vocab, layers int
	keep                                float32
}

// gflopPerWord counts a word's multiply-adds, twice: each layer's LSTM step
// multiplies [x, h] (2H) by the gate weights (2H×4H), and the softmax h by the
// output weights (H×V); training ×3 (forward, and the gradients for inputs
// and weights, the first layer's input gradient included: the embedding is
// trained). The gate nonlinearities, the softmax's exponentials and the
// embedding lookup are left out (under 1% of a word's work). Small: 5.3
// MFLOP a word inferred; medium: 26.5.
func (c ptbConfig) gflopPerWord() map[string]float64 {
	h := float64(c.hidden)
	macs := float64(c.layers)*2*h*4*h + h*float64(c.vocab)
	return map[string]float64{"train": 3 * 2 * macs / 1e9, "infer": 2 * macs / 1e9}
}

var (
	ptbSmall  = ptbConfig{hidden: 200, steps: 20, batch: 20, vocab: 10000, layers: 2, keep: 1}
	ptbMedium = ptbConfig{hidden: 650, steps: 35, batch: 20, vocab: 10000, layers: 2, keep: 0.5}
)

func newPTB(api API, mode string, c ptbConfig, dev graph.Device) (Step, error) {
	g := graph.New(1)
	init := tensor.Uniform(-0.05, 0.05)
	train := mode == "train"
	drop := func(x *graph.Node) *graph.Node {
		if c.keep < 1 {
			return graph.Dropout(x, c.keep)
		}
		return x
	}
	var ids, targets, logits *graph.Node
	var states []*graph.Node // fed initial (h, c) per layer
	var finals []*graph.Node // their values after the step
	if api == Layers {
		in := layers.IntInput(g, "inputs", c.batch, c.steps)
		net := layers.Embedding(in, "embedding", c.vocab, c.hidden, layers.WInit(init))
		if c.keep < 1 {
			net = layers.Dropout(net, "embedding_dropout", c.keep)
		}
		for l := 0; l < c.layers; l++ {
			name := fmt.Sprintf("lstm%d", l)
			h0 := layers.Input(g, name+"/h0", c.batch, c.hidden)
			c0 := layers.Input(g, name+"/c0", c.batch, c.hidden)
			opts := []layers.Option{layers.ForgetBias(0), layers.WInit(init), layers.InitialState(h0, c0)}
			if c.keep < 1 {
				opts = append(opts, layers.OutputDropout(c.keep)) // ptb_word_lm.py's DropoutWrapper
			}
			net = layers.LSTM(net, name, c.hidden, opts...)
			states = append(states, h0.Output(), c0.Output())
			finals = append(finals, net.Aux("h"), net.Aux("c"))
		}
		net = layers.Reshape(net, "flatten_steps", -1, c.hidden)
		net = layers.Dense(net, "softmax", c.vocab, layers.WInit(init))
		if err := net.Err(); err != nil {
			return nil, err
		}
		ids, logits = in.Output(), net.Output()
		targets = g.Placeholder("targets", tensor.Int32, c.batch*c.steps)
	} else {
		// As ptb_word_lm.py's cuDNN/block model: batch-major ids, one transpose to
		// time-major before the LSTM stack and one back after it; each layer is
		// one fused sequence op (the input projections of all steps are one
		// matrix product).
		ids = g.Placeholder("inputs", tensor.Int32, c.batch, c.steps)
		targets = g.Placeholder("targets", tensor.Int32, c.batch*c.steps)
		emb := g.Variable("embedding", init, c.vocab, c.hidden)
		x := graph.Transpose(drop(graph.Gather(emb, ids)), 1, 0, 2) // (steps, batch, hidden)
		for l := 0; l < c.layers; l++ {
			w := g.Variable(fmt.Sprintf("lstm%d/W", l), init, 2*c.hidden, 4*c.hidden)
			b := g.Variable(fmt.Sprintf("lstm%d/b", l), tensor.Zeros(), 4*c.hidden)
			h0 := g.Placeholder(fmt.Sprintf("lstm%d/h0", l), tensor.Float32, c.batch, c.hidden)
			c0 := g.Placeholder(fmt.Sprintf("lstm%d/c0", l), tensor.Float32, c.batch, c.hidden)
			states = append(states, h0, c0)
			hs, h, cs := graph.LSTMOutputs(graph.LSTM(x, h0, c0, w, b, 0))
			finals = append(finals, h, cs)
			x = drop(hs)
		}
		out := graph.Reshape(graph.Transpose(x, 1, 0, 2), -1, c.hidden) // (batch·steps, hidden)
		sw := g.Variable("softmax/W", init, c.hidden, c.vocab)
		sb := g.Variable("softmax/b", tensor.Zeros(), c.vocab)
		logits = graph.BiasAdd(graph.MatMul(out, sw), sb)
	}
	rng := tensor.NewRand(3)
	idt := tensor.New(tensor.Int32, ids.Shape()...)
	tt := tensor.New(tensor.Int32, c.batch*c.steps)
	zipfFill(idt.Int32s(), c.vocab, rng)
	zipfFill(tt.Int32s(), c.vocab, rng)
	feeds := []graph.Feed{{Node: ids, Value: idt}}
	var targetsOut []*graph.Node
	if train {
		feeds = append(feeds, graph.Feed{Node: targets, Value: tt})
		loss := graph.SparseSoftmaxCrossEntropy(logits, targets)
		st, err := optim.MinimizeWith(optim.NewSGD(g, "sgd", 1), loss, optim.MinimizeOptions{ClipNorm: 5})
		if err != nil {
			return nil, err
		}
		targetsOut = []*graph.Node{loss, st.Update}
	} else {
		targetsOut = []*graph.Node{logits}
	}
	// The state is carried from each step to the next: on the device without
	// leaving it, on the CPU by copying the outputs into the feeds.
	step := &execStep{}
	onDevice := map[*graph.Node]*graph.Node{}
	for i, s := range states {
		v := tensor.New(tensor.Float32, c.batch, c.hidden)
		feeds = append(feeds, graph.Feed{Node: s, Value: v})
		if dev != nil {
			onDevice[finals[i]] = s
		} else {
			step.carry = append(step.carry, carry{out: len(targetsOut) + i, into: v})
		}
	}
	exe, done, err := newExecCarry(g, mode, dev, onDevice, append(targetsOut, finals...)...)
	if err != nil {
		return nil, err
	}
	step.exe, step.close, step.feeds = exe, done, feeds
	return step, nil
}

// zipfFill draws ids from the log-uniform distribution over [0, n): word ids
// sorted by frequency follow it closely.
func zipfFill(d []int32, n int, rng interface{ Float64() float64 }) {
	lr := math.Log(float64(n) + 1)
	for i := range d {
		d[i] = int32(min(max(int(math.Exp(rng.Float64()*lr))-1, 0), n-1))
	}
}

// ---- word2vec skip-gram with NCE (TensorFlow's word2vec_basic.py) ----

func newWord2vec(api API, mode string, dev graph.Device) (Step, error) {
	const vocab, dim, batch, sampled = 50000, 128, 128, 64
	g := graph.New(1)
	var ids, labels, loss *graph.Node
	if api == Layers {
		in := layers.IntInput(g, "inputs", -1)
		lab := layers.IntInput(g, "labels", -1)
		emb := layers.Word2vecEmbedding(in, lab, "word2vec", vocab, dim, sampled)
		if err := emb.Err(); err != nil {
			return nil, err
		}
		ids, labels, loss = in.Output(), lab.Output(), emb.Aux("nce_loss")
	} else {
		ids = g.Placeholder("inputs", tensor.Int32, -1)
		labels = g.Placeholder("labels", tensor.Int32, -1)
		emb := g.Variable("word2vec/embeddings", tensor.Uniform(-1, 1), vocab, dim)
		w := g.Variable("word2vec/nce_W", tensor.TruncatedNormal(0, 1/math.Sqrt(dim)), vocab, dim)
		b := g.Variable("word2vec/nce_b", tensor.Zeros(), vocab)
		loss = graph.NCELoss(w, b, graph.Gather(emb, ids), labels, graph.LogUniformSampler(g, sampled, vocab))
	}
	// A synthetic Zipfian corpus; each step cuts the next skip-gram batch from it
	// (skip_window 1, num_skips 2), inside the timed step as in the tutorial.
	corpus := make([]int32, 1<<20)
	zipfFill(corpus, vocab, tensor.NewRand(5))
	it := tensor.New(tensor.Int32, batch)
	lt := tensor.New(tensor.Int32, batch)
	pos := 0
	next := func() {
		if pos+batch/2+2 > len(corpus) {
			pos = 0
		}
		in, lab := it.Int32s(), lt.Int32s()
		for i := 0; i < batch/2; i++ {
			centre := corpus[pos+1+i]
			in[2*i], in[2*i+1] = centre, centre
			lab[2*i], lab[2*i+1] = corpus[pos+i], corpus[pos+2+i]
		}
		pos += batch / 2
	}
	targets := []*graph.Node{loss}
	if mode == "train" {
		update, err := optim.Minimize(optim.NewSGD(g, "sgd", 1), loss)
		if err != nil {
			return nil, err
		}
		targets = append(targets, update)
	}
	exe, done, err := newExec(g, mode, dev, targets...)
	if err != nil {
		return nil, err
	}
	return &execStep{exe: exe, close: done, feeds: []graph.Feed{{Node: ids, Value: it}, {Node: labels, Value: lt}}, next: next}, nil
}
