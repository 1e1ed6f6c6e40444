package main

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
)

// arch is the size of the two networks.
type arch struct {
	Z      int // noise dimension
	GF, DF int // filters of the generator's last and the discriminator's first hidden layer
	Kernel int // kernel height and width of every (transposed) convolution
	Size   int // image height and width: a multiple of 4
}

// initW draws every weight from N(0, 0.02), as in the DCGAN paper.
func initW() layers.Option { return layers.WInit(tensor.Normal(0, 0.02)) }

// generator maps noise to Size×Size×1 images in [-1, 1]: a projection to
// (Size/4)×(Size/4)×2GF maps, then two stride-2 transposed convolutions, batch
// norm and ReLU in between, tanh at the end.
func generator(z *layers.Layer, a arch) *layers.Layer {
	s := a.Size / 4
	h := layers.Dense(z, "g/fc", s*s*2*a.GF, initW(), layers.NoBias())
	h = layers.Reshape(h, "g/reshape", -1, s, s, 2*a.GF)
	h = layers.BatchNorm(h, "g/bn0", layers.Momentum(0.9), layers.Epsilon(1e-5), layers.ReLU)
	h = layers.DeConv2D(h, "g/deconv1", a.GF, a.Kernel, a.Kernel, layers.Stride(2), layers.Same, initW(), layers.NoBias())
	h = layers.BatchNorm(h, "g/bn1", layers.Momentum(0.9), layers.Epsilon(1e-5), layers.ReLU)
	return layers.DeConv2D(h, "g/deconv2", 1, a.Kernel, a.Kernel, layers.Stride(2), layers.Same, initW(), layers.Tanh)
}

// discriminator maps images to one logit: two stride-2 convolutions with leaky
// ReLU (batch norm on the second, none on the first, as in the paper), then a
// dense layer. Applied to real and to generated images, it shares its weights.
func discriminator(x *layers.Layer, a arch) *layers.Layer {
	h := layers.Conv2D(x, "d/conv1", a.DF, a.Kernel, a.Kernel, layers.Stride(2), layers.Same, initW(), layers.LeakyReLU(0.2))
	h = layers.Conv2D(h, "d/conv2", 2*a.DF, a.Kernel, a.Kernel, layers.Stride(2), layers.Same, initW(), layers.NoBias())
	h = layers.BatchNorm(h, "d/bn2", layers.Momentum(0.9), layers.Epsilon(1e-5), layers.LeakyReLU(0.2))
	h = layers.Flatten(h, "d/flatten")
	return layers.Dense(h, "d/logit", 1, initW())
}

// gan is the two networks and their three runners.
type gan struct {
	a                    arch
	z, real              *layers.Layer
	gen, dReal, dFake    *layers.Layer
	dStep, gStep, sample graph.Runner // the discriminator's and the generator's updates; the generator in inference mode
}

// newGAN builds both networks of o.Arch in g, their losses (the
// non-saturating GAN loss on logits; real images' target o.RealLabel, 1 when
// unset) and an Adam optimizer each (o.LR, the discriminator's o.DLR when set;
// beta1 0.5), and the three runners on eng (the CPU or a GPU).
func newGAN(g *graph.Graph, o options, eng *graph.Engine) (*gan, error) {
	a := o.Arch
	n := &gan{a: a, z: layers.Input(g, "z", -1, a.Z), real: layers.Input(g, "real", -1, a.Size, a.Size, 1)}
	n.gen = generator(n.z, a)
	if n.gen.Err() == nil && !n.gen.Shape().Equal(n.real.Shape()) {
		return nil, fmt.Errorf("dcgan: the generator's output %s is %v, the discriminator's input %s %v: want one shape (size a multiple of 4)", n.gen.Name(), n.gen.Shape(), n.real.Name(), n.real.Shape())
	}
	// The discriminator fails on generated images wherever it fails on real ones.
	n.dReal, n.dFake = discriminator(n.real, a), discriminator(n.gen, a)
	if err := n.dFake.Err(); err != nil {
		return nil, fmt.Errorf("dcgan: building the networks: %w", err)
	}
	real, fake := n.dReal.Output(), n.dFake.Output()
	dLoss := graph.Add(graph.SigmoidCrossEntropy(real, graph.FillLike(real, float32(cmp.Or(o.RealLabel, 1)))), graph.SigmoidCrossEntropy(fake, graph.FillLike(fake, 0)))
	gLoss := graph.SigmoidCrossEntropy(fake, graph.FillLike(fake, 1))
	dUp, errD := optim.Minimize(optim.NewAdam(g, "d/adam", float32(cmp.Or(o.DLR, o.LR)), 0.5, 0.999, 1e-8), dLoss, n.dFake.TrainableUnder("d/")...)
	gUp, errG := optim.Minimize(optim.NewAdam(g, "g/adam", float32(o.LR), 0.5, 0.999, 1e-8), gLoss, n.dFake.TrainableUnder("g/")...)
	if err := errors.Join(errD, errG); err != nil {
		return nil, fmt.Errorf("dcgan: the updates: %w", err)
	}
	// The discriminator is right where its margin is positive.
	margins := graph.Concat(0, real, graph.Neg(fake))
	var errs [3]error
	n.dStep, errs[0] = eng.Runner(true, dLoss, margins, dUp)
	n.gStep, errs[1] = eng.Runner(true, gLoss, gUp)
	n.sample, errs[2] = eng.Runner(false, n.gen.Output())
	return n, errors.Join(errs[:]...)
}

// stepStats is what one training step measured.
type stepStats struct {
	DLoss, GLoss, DAcc float64 // the losses; the discriminator's accuracy on the step's real and fake images
}

// step trains the discriminator once on real images and fresh noise, then the
// generator once on fresh noise: the game's alternating updates.
func (n *gan) step(real *tensor.Tensor, rng *rand.Rand) (stepStats, error) {
	out, err := n.dStep.Run(n.real.Feed(real), n.z.Feed(noise(rng, real.Shape()[0], n.a.Z)))
	if err != nil {
		return stepStats{}, fmt.Errorf("dcgan: discriminator step: %w", err)
	}
	right, margins := 0, out[1].Float32s()
	for _, m := range margins {
		if m > 0 {
			right++
		}
	}
	st := stepStats{DLoss: float64(out[0].Float32s()[0]), DAcc: float64(right) / float64(len(margins))}
	if out, err = n.gStep.Run(n.z.Feed(noise(rng, real.Shape()[0], n.a.Z))); err != nil {
		return stepStats{}, fmt.Errorf("dcgan: generator step: %w", err)
	}
	st.GLoss = float64(out[0].Float32s()[0])
	return st, nil
}

// noise is a (b, dim) batch from N(0, 1).
func noise(rng *rand.Rand, b, dim int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, b, dim)
	tensor.Normal(0, 1).Init(t, rng)
	return t
}
