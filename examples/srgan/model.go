package main

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// arch is the size of the networks.
type arch struct {
	Size   int // high-resolution height and width
	Scale  int // upscaling factor: a power of 2
	F      int // the generator's filters (SRGAN: 64)
	Blocks int // the generator's residual blocks (SRGAN: 16)
	DF     int // the discriminator's first filters (SRGAN: 64)
}

func (a arch) check() error {
	if a.Scale < 2 || bits.OnesCount(uint(a.Scale)) != 1 {
		return fmt.Errorf("srgan: upscale factor %d: the generator upsamples in 2× sub-pixel steps, so the factor must be a power of 2 (2, 4, 8, ...)", a.Scale)
	}
	if a.Size <= 0 || a.Size%a.Scale != 0 {
		return fmt.Errorf("srgan: image size %d is not a multiple of the upscale factor %d: no low-resolution size gives it", a.Size, a.Scale)
	}
	if a.F <= 0 || a.Blocks < 0 || a.DF <= 0 {
		return fmt.Errorf("srgan: filters %d, blocks %d, discriminator filters %d: want positive filters and blocks >= 0", a.F, a.Blocks, a.DF)
	}
	return nil
}

func initW() layers.Option { return layers.WInit(tensor.Normal(0, 0.02)) }

// generator is SRGAN's (Ledig et al. 2017, figure 4): a 9×9 convolution with
// PReLU, Blocks residual blocks (conv, BN, PReLU, conv, BN, skip), a conv and
// BN with the long skip, log2(Scale) upsampling blocks (a conv to 4F channels,
// a 2× sub-pixel shuffle, PReLU), a 9×9 convolution to one channel and tanh.
func generator(lr *layers.Layer, a arch) *layers.Layer {
	h := layers.PReLU(layers.Conv2D(lr, "g/in", a.F, 9, 9, layers.Same, initW()), "g/in/prelu")
	skip := h
	for i := range a.Blocks {
		p := fmt.Sprintf("g/res%d/", i)
		r := layers.Conv2D(h, p+"conv1", a.F, 3, 3, layers.Same, layers.NoBias(), initW())
		r = layers.PReLU(layers.BatchNorm(r, p+"bn1", layers.Momentum(0.9)), p+"prelu")
		r = layers.Conv2D(r, p+"conv2", a.F, 3, 3, layers.Same, layers.NoBias(), initW())
		h = layers.Elementwise(p+"add", layers.Add, h, layers.BatchNorm(r, p+"bn2", layers.Momentum(0.9)))
	}
	h = layers.BatchNorm(layers.Conv2D(h, "g/post", a.F, 3, 3, layers.Same, layers.NoBias(), initW()), "g/post/bn", layers.Momentum(0.9))
	h = layers.Elementwise("g/skip", layers.Add, skip, h)
	for i := 0; 1<<i < a.Scale; i++ {
		p := fmt.Sprintf("g/up%d/", i)
		h = layers.Conv2D(h, p+"conv", 4*a.F, 3, 3, layers.Same, initW())
		h = layers.PReLU(layers.SubPixel2D(h, p+"shuffle", 2), p+"prelu")
	}
	return layers.Conv2D(h, "g/out", 1, 9, 9, layers.Same, initW(), layers.Tanh)
}

// discriminator is SRGAN's: a 3×3 convolution with leaky ReLU, then seven
// conv-BN-leaky ReLU blocks (DF, 2DF, 2DF, 4DF, 4DF, 8DF, 8DF filters, every
// other one of stride 2), a dense layer of 16DF units (SRGAN: 1024) and the
// logit.
func discriminator(x *layers.Layer, a arch) *layers.Layer {
	h := layers.Conv2D(x, "d/in", a.DF, 3, 3, layers.Same, initW(), layers.LeakyReLU(0.2))
	for i, f := range []int{1, 2, 2, 4, 4, 8, 8} {
		p := fmt.Sprintf("d/b%d/", i)
		h = layers.Conv2D(h, p+"conv", f*a.DF, 3, 3, layers.Same, layers.Stride(2-i%2), layers.NoBias(), initW())
		h = layers.BatchNorm(h, p+"bn", layers.Momentum(0.9), layers.LeakyReLU(0.2))
	}
	h = layers.Dense(layers.Flatten(h, "d/flat"), "d/fc", 16*a.DF, initW(), layers.LeakyReLU(0.2))
	return layers.Dense(h, "d/logit", 1, initW())
}

// features are the content loss's features: the first two convolution blocks
// (conv1, pool1, conv2) of the Fashion-MNIST classifier of examples/fashionmnist,
// loaded into the graph, applied to images in [-1, 1] (the classifier's
// pixels are in [0, 1]). The layers reuse the classifier's weights by name.
func features(x *graph.Node, name string, conv1, conv2 *layers.ConvConfig) *layers.Layer {
	in := layers.InputNode(name, graph.Scale(graph.Add(x, graph.FillLike(x, 1)), 0.5))
	h := layers.Conv2D(in, "conv1", conv1.Filters, conv1.Kernel[0], conv1.Kernel[1], layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool1", 2, 2)
	return layers.Conv2D(h, "conv2", conv2.Filters, conv2.Kernel[0], conv2.Kernel[1], layers.Same, layers.ReLU)
}

// srgan is the networks, the losses and the runners of its two phases.
type srgan struct {
	a                  arch
	lr, hr             *layers.Layer
	gen, dReal, dFake  *layers.Layer
	pixel, content     *graph.Node
	pre, dStep, gStep  runner // pixel-loss pre-training; the game's two updates
	infer              runner // the generator in inference mode
	logitReal, logitFk *graph.Node
}

// runner is a graph.Executor or a graph.DeviceExecutor.
type runner = graph.Runner

// newSRGAN builds the networks and losses in g: pixel MSE for pre-training;
// for the game, the content loss (the MSE of the classifier's features, loaded
// from classifier) plus advWeight times the adversarial loss.
func newSRGAN(ctx context.Context, g *graph.Graph, a arch, classifier string, preLR, lr, advWeight float32, mk func(training bool, targets ...*graph.Node) (runner, error)) (*srgan, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	s := a.Size / a.Scale
	n := &srgan{a: a, lr: layers.Input(g, "lr", -1, s, s, 1), hr: layers.Input(g, "hr", -1, a.Size, a.Size, 1)}
	n.gen = generator(n.lr, a)
	n.dReal, n.dFake = discriminator(n.hr, a), discriminator(n.gen, a)
	for _, l := range []*layers.Layer{n.gen, n.dReal, n.dFake} {
		if err := l.Err(); err != nil {
			return nil, fmt.Errorf("srgan: building the networks: %w", err)
		}
	}
	if !n.gen.Shape().Equal(n.hr.Shape()) {
		return nil, fmt.Errorf("srgan: the generator makes %v images from %v, want %v", n.gen.Shape(), n.lr.Shape(), n.hr.Shape())
	}
	cls, _, err := modelio.Load(ctx, classifier, g)
	if err != nil {
		return nil, fmt.Errorf("srgan: loading the content loss's classifier: %w", err)
	}
	c1, ok1 := layerConv(cls, "conv1")
	c2, ok2 := layerConv(cls, "conv2")
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("srgan: classifier in %s: want examples/fashionmnist's CNN (convolutions conv1 and conv2)", classifier)
	}
	fSR, fHR := features(n.gen.Output(), "sr01", c1, c2), features(n.hr.Output(), "hr01", c1, c2)
	if err := fSR.Err(); err != nil {
		return nil, fmt.Errorf("srgan: content features: %w", err)
	}
	n.pixel = graph.MeanSquaredError(n.gen.Output(), n.hr.Output())
	n.content = graph.MeanSquaredError(fSR.Output(), fHR.Output())
	n.logitReal, n.logitFk = n.dReal.Output(), n.dFake.Output()
	dLoss := graph.Add(graph.SigmoidCrossEntropy(n.logitReal, graph.FillLike(n.logitReal, 1)), graph.SigmoidCrossEntropy(n.logitFk, graph.FillLike(n.logitFk, 0)))
	adv := graph.SigmoidCrossEntropy(n.logitFk, graph.FillLike(n.logitFk, 1))
	gLoss := graph.Add(n.content, graph.Scale(adv, advWeight))
	gVars, dVars := n.dFake.TrainableUnder("g/"), n.dFake.TrainableUnder("d/")
	preUp, err := optim.Minimize(optim.NewAdam(g, "g/pre-adam", preLR, 0.9, 0.999, 1e-8), n.pixel, gVars...)
	if err != nil {
		return nil, err
	}
	dUp, err := optim.Minimize(optim.NewAdam(g, "d/adam", lr, 0.9, 0.999, 1e-8), dLoss, dVars...)
	if err != nil {
		return nil, err
	}
	gUp, err := optim.Minimize(optim.NewAdam(g, "g/adam", lr, 0.9, 0.999, 1e-8), gLoss, gVars...)
	if err != nil {
		return nil, err
	}
	if n.pre, err = mk(true, n.pixel, preUp); err != nil {
		return nil, err
	}
	if n.dStep, err = mk(true, dLoss, n.logitReal, n.logitFk, dUp); err != nil {
		return nil, err
	}
	if n.gStep, err = mk(true, gLoss, n.content, adv, gUp); err != nil {
		return nil, err
	}
	n.infer, err = mk(false, n.gen.Output())
	return n, err
}

func layerConv(net *layers.Layer, name string) (*layers.ConvConfig, bool) {
	l := net.Find(name)
	if l == nil {
		return nil, false
	}
	c, ok := l.Config().(*layers.ConvConfig)
	return c, ok && len(c.Kernel) == 2
}

// stepStats is what a step measured.
type stepStats struct {
	Pixel, DLoss, GLoss, Content, Adv, DAcc float64
}

// preStep is one pre-training step on pixel MSE.
func (n *srgan) preStep(lr, hr *tensor.Tensor) (stepStats, error) {
	out, err := n.pre.Run(n.lr.Feed(lr), n.hr.Feed(hr))
	if err != nil {
		return stepStats{}, fmt.Errorf("srgan: pre-training step: %w", err)
	}
	return stepStats{Pixel: float64(out[0].Float32s()[0])}, nil
}

// step is one step of the game: the discriminator, then the generator.
func (n *srgan) step(lr, hr *tensor.Tensor) (stepStats, error) {
	out, err := n.dStep.Run(n.lr.Feed(lr), n.hr.Feed(hr))
	if err != nil {
		return stepStats{}, fmt.Errorf("srgan: discriminator step: %w", err)
	}
	st := stepStats{DLoss: float64(out[0].Float32s()[0])}
	right := 0
	for _, v := range out[1].Float32s() {
		if v > 0 {
			right++
		}
	}
	for _, v := range out[2].Float32s() {
		if v < 0 {
			right++
		}
	}
	st.DAcc = float64(right) / float64(2*lr.Shape()[0])
	if out, err = n.gStep.Run(n.lr.Feed(lr), n.hr.Feed(hr)); err != nil {
		return stepStats{}, fmt.Errorf("srgan: generator step: %w", err)
	}
	st.GLoss, st.Content, st.Adv = float64(out[0].Float32s()[0]), float64(out[1].Float32s()[0]), float64(out[2].Float32s()[0])
	return st, nil
}
