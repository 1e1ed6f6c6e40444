package bench

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// ---- DCGAN (examples/dcgan at its default width) ----

// dcgan is the size of examples/dcgan's default networks: z of 100, 64 and
// 128 filters, 5×5 kernels, 28×28×1 images, batches of 64.
const (
	dcganZ, dcganF, dcganK, dcganBatch = 100, 64, 5, 64
)

// dcganGFLOP is 2·MACs per image of the products a step needs. The
// generator's forward (G) is the dense projection and two transposed
// convolutions, the discriminator's (D) two convolutions and the logit; each
// backward product costs what its forward does. The discriminator's update is
// G forward, D forward on real and fake, and D's weight and input gradients on
// both (6D + G); the generator's is G forward, D forward, D's input gradients
// only, and G's weight and input gradients (2D + 3G). Inference is G forward.
func dcganGFLOP() map[string]float64 {
	g := 100.0*7*7*128 + 7*7*25*128*64 + 14*14*25*64*1
	d := 14.0*14*25*1*64 + 7*7*25*64*128 + 7*7*128
	return map[string]float64{"train": 2 * (8*d + 4*g) / 1e9, "infer": 2 * g / 1e9}
}

// dcganNet is the DCGAN built in a graph: its inputs, the generator's output,
// the discriminator's logits on real and on generated images (one set of
// weights), and each network's trainable variables.
type dcganNet struct {
	g                                  *graph.Graph
	z, real, gen, logitReal, logitFake *graph.Node
	dVars, gVars                       []*graph.Node
}

// buildDCGAN builds the networks with the layers API, as examples/dcgan does,
// or directly on the graph.
func buildDCGAN(api API) (*dcganNet, error) {
	g := graph.New(1)
	var z, real, gen, logitReal, logitFake *graph.Node
	var dVars, gVars []*graph.Node
	if api == Layers {
		zl := layers.Input(g, "z", -1, dcganZ)
		rl := layers.Input(g, "real", -1, 28, 28, 1)
		w := layers.WInit(tensor.Normal(0, 0.02))
		bn := func(h *layers.Layer, name string, act layers.Activation) *layers.Layer {
			return layers.BatchNorm(h, name, layers.Momentum(0.9), layers.Epsilon(1e-5), act)
		}
		h := layers.Dense(zl, "g/fc", 7*7*2*dcganF, w, layers.NoBias())
		h = bn(layers.Reshape(h, "g/reshape", -1, 7, 7, 2*dcganF), "g/bn0", layers.ReLU)
		h = bn(layers.DeConv2D(h, "g/deconv1", dcganF, dcganK, dcganK, layers.Stride(2), layers.Same, w, layers.NoBias()), "g/bn1", layers.ReLU)
		gl := layers.DeConv2D(h, "g/deconv2", 1, dcganK, dcganK, layers.Stride(2), layers.Same, w, layers.Tanh)
		disc := func(x *layers.Layer) *layers.Layer {
			h := layers.Conv2D(x, "d/conv1", dcganF, dcganK, dcganK, layers.Stride(2), layers.Same, w, layers.LeakyReLU(0.2))
			h = layers.Conv2D(h, "d/conv2", 2*dcganF, dcganK, dcganK, layers.Stride(2), layers.Same, w, layers.NoBias())
			h = layers.Flatten(bn(h, "d/bn2", layers.LeakyReLU(0.2)), "d/flatten")
			return layers.Dense(h, "d/logit", 1, w)
		}
		dReal, dFake := disc(rl), disc(gl)
		if err := dFake.Err(); err != nil {
			return nil, fmt.Errorf("bench: dcgan: %w", err)
		}
		z, real, gen, logitReal, logitFake = zl.Output(), rl.Output(), gl.Output(), dReal.Output(), dFake.Output()
		dVars, gVars = dFake.TrainableUnder("d/"), dFake.TrainableUnder("g/")
	} else {
		w := tensor.Normal(0, 0.02)
		z = g.Placeholder("z", tensor.Float32, -1, dcganZ)
		real = g.Placeholder("real", tensor.Float32, -1, 28, 28, 1)
		same2 := graph.Conv2DOpts{Padding: graph.Same, Strides: [2]int{2, 2}}
		bnOpts := graph.BatchNormOpts{Momentum: 0.9, Epsilon: 1e-5}
		// Parameters are made where first used and found by name after, as the
		// layers API does: both builds then order their nodes, and so their
		// gradients' sums, alike.
		param := func(name string, init tensor.Initializer, shape ...int) *graph.Node {
			if v := g.VariableByName(name); v != nil {
				return v
			}
			v := g.Variable(name, init, shape...)
			if name[0] == 'g' {
				gVars = append(gVars, v)
			} else {
				dVars = append(dVars, v)
			}
			return v
		}
		state := func(name string, init tensor.Initializer, ch int) *graph.Node {
			if v := g.VariableByName(name); v != nil {
				return v
			}
			return g.State(name, init, ch)
		}
		bn := func(x *graph.Node, name string) *graph.Node {
			ch := x.Shape()[len(x.Shape())-1]
			return graph.BatchNorm(x, param(name+"/gamma", tensor.Ones(), ch), param(name+"/beta", tensor.Zeros(), ch),
				state(name+"/moving_mean", tensor.Zeros(), ch), state(name+"/moving_variance", tensor.Ones(), ch), bnOpts)
		}
		h := graph.MatMul(z, param("g/fc/W", w, dcganZ, 7*7*2*dcganF))
		h = graph.Relu(bn(graph.Reshape(h, -1, 7, 7, 2*dcganF), "g/bn0"))
		h = graph.Relu(bn(graph.Conv2DTranspose(h, param("g/deconv1/W", w, dcganK, dcganK, dcganF, 2*dcganF), same2), "g/bn1"))
		gw2, gb2 := param("g/deconv2/W", w, dcganK, dcganK, 1, dcganF), param("g/deconv2/b", tensor.Zeros(), 1)
		gen = graph.BiasAct(graph.Conv2DTranspose(h, gw2, same2), gb2, graph.TanhAct)
		// Applied to real and to generated images, with the same weights.
		disc := func(x *graph.Node) *graph.Node {
			dw1, db1 := param("d/conv1/W", w, dcganK, dcganK, 1, dcganF), param("d/conv1/b", tensor.Zeros(), dcganF)
			h := graph.LeakyRelu(graph.BiasAdd(graph.Conv2D(x, dw1, same2), db1), 0.2)
			h = graph.Conv2D(h, param("d/conv2/W", w, dcganK, dcganK, dcganF, 2*dcganF), same2)
			h = graph.Reshape(graph.LeakyRelu(bn(h, "d/bn2"), 0.2), -1, 7*7*2*dcganF)
			dw3, db3 := param("d/logit/W", w, 7*7*2*dcganF, 1), param("d/logit/b", tensor.Zeros(), 1)
			return graph.BiasAdd(graph.MatMul(h, dw3), db3)
		}
		logitReal, logitFake = disc(real), disc(gen)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("bench: dcgan: %w", err)
	}
	return &dcganNet{g: g, z: z, real: real, gen: gen, logitReal: logitReal, logitFake: logitFake, dVars: dVars, gVars: gVars}, nil
}

// newDCGAN builds one step of the DCGAN: training is one discriminator update
// (real images and fresh noise) and then one generator update (fresh noise),
// as examples/dcgan's loop; inference is the generator making a batch.
func newDCGAN(api API, mode string, dev graph.Device) (Step, error) {
	n, err := buildDCGAN(api)
	if err != nil {
		return nil, err
	}
	g, z, real, logitReal, logitFake := n.g, n.z, n.real, n.logitReal, n.logitFake
	rng := tensor.NewRand(9)
	zD, zG := tensor.New(tensor.Float32, dcganBatch, dcganZ), tensor.New(tensor.Float32, dcganBatch, dcganZ)
	images := tensor.New(tensor.Float32, dcganBatch, 28, 28, 1)
	tensor.Uniform(-1, 1).Init(images, rng)
	// Fresh noise each step, drawn inside the timed step as the example does.
	draw := func(t *tensor.Tensor) func() { return func() { tensor.Normal(0, 1).Init(t, rng) } }
	if mode == "infer" {
		exe, done, err := newExec(g, mode, dev, n.gen)
		if err != nil {
			return nil, err
		}
		return &execStep{exe: exe, close: done, feeds: []graph.Feed{{Node: z, Value: zG}}, next: draw(zG)}, nil
	}
	dLoss := graph.Add(graph.SigmoidCrossEntropy(logitReal, graph.FillLike(logitReal, 1)), graph.SigmoidCrossEntropy(logitFake, graph.FillLike(logitFake, 0)))
	gLoss := graph.SigmoidCrossEntropy(logitFake, graph.FillLike(logitFake, 1))
	dUp, err := optim.Minimize(optim.NewAdam(g, "d/adam", 2e-4, 0.5, 0.999, 1e-8), dLoss, n.dVars...)
	if err != nil {
		return nil, err
	}
	gUp, err := optim.Minimize(optim.NewAdam(g, "g/adam", 2e-4, 0.5, 0.999, 1e-8), gLoss, n.gVars...)
	if err != nil {
		return nil, err
	}
	// Both updates run on one copy of the variables (on a device, one OnDevice).
	eng := graph.NewEngine(g, dev)
	dExe, err := eng.Runner(true, dLoss, dUp)
	if err != nil {
		eng.Close()
		return nil, err
	}
	gExe, err := eng.Runner(true, gLoss, gUp)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &pairStep{
		d: &execStep{exe: dExe, close: func() {}, feeds: []graph.Feed{{Node: real, Value: images}, {Node: z, Value: zD}}, next: draw(zD)},
		g: &execStep{exe: gExe, close: eng.Close, feeds: []graph.Feed{{Node: z, Value: zG}}, next: draw(zG)},
	}, nil
}

// pairStep is two executor steps run one after the other as one step: the
// discriminator's update, then the generator's.
type pairStep struct{ d, g *execStep }

// Profile profiles the discriminator's update and then the generator's, as
// one step: the nodes of both, one after the other.
func (s *pairStep) Profile() (*graph.DeviceProfile, error) {
	d, err := s.d.Profile()
	if err != nil {
		return nil, fmt.Errorf("discriminator update: %w", err)
	}
	g, err := s.g.Profile()
	if err != nil {
		return nil, fmt.Errorf("generator update: %w", err)
	}
	d.TotalMs += g.TotalMs
	d.Nodes = append(d.Nodes, g.Nodes...)
	return d, nil
}

func (s *pairStep) Run() error {
	if err := s.d.Run(); err != nil {
		return fmt.Errorf("discriminator update: %w", err)
	}
	if err := s.g.Run(); err != nil {
		return fmt.Errorf("generator update: %w", err)
	}
	return nil
}

func (s *pairStep) Close() { s.d.Close(); s.g.Close() }
