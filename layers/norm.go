package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// BatchNormConfig is the config of a BatchNorm layer.
type BatchNormConfig struct {
	Momentum float32    `json:"momentum"`
	Epsilon  float32    `json:"epsilon"`
	Act      Activation `json:"act,omitempty"`
}

// Kind implements Config.
func (*BatchNormConfig) Kind() string { return "BatchNorm" }

func (c *BatchNormConfig) build(b *builder) (*graph.Node, error) {
	if !(c.Momentum > 0 && c.Momentum < 1) || !(c.Epsilon > 0) {
		return nil, fmt.Errorf("%w: momentum %g must be in (0, 1) and epsilon %g positive", ErrBadConfig, c.Momentum, c.Epsilon)
	}
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	ch, err := channels(b)
	if err != nil {
		return nil, err
	}
	gamma, err := b.param("gamma", Init{tensor.Ones()}, ch)
	if err != nil {
		return nil, err
	}
	beta, err := b.param("beta", Init{tensor.Zeros()}, ch)
	if err != nil {
		return nil, err
	}
	mean, err := b.state("moving_mean", Init{tensor.Zeros()}, ch)
	if err != nil {
		return nil, err
	}
	variance, err := b.state("moving_variance", Init{tensor.Ones()}, ch)
	if err != nil {
		return nil, err
	}
	y := graph.BatchNorm(b.ins[0], gamma, beta, mean, variance, graph.BatchNormOpts{Momentum: c.Momentum, Epsilon: c.Epsilon})
	return c.Act.on(y), nil
}

// channels returns the known size of the input's last axis.
func channels(b *builder) (int, error) {
	s := b.ins[0].Shape()
	if len(s) < 2 || s[len(s)-1] <= 0 {
		return 0, fmt.Errorf("%w: input %q has shape %v, want (batch, ..., channels) with known channels", ErrBadConfig, b.layers[0].name, s)
	}
	return s[len(s)-1], nil
}

// BatchNorm normalises each channel (the last axis) over the batch and the
// other axes, then scales and shifts it (Ioffe and Szegedy 2015). Plans compiled
// for training use the batch's statistics and update the moving averages; plans
// compiled for inference use the moving averages. Parameters "<name>/gamma" and
// "<name>/beta" (trainable), "<name>/moving_mean" and "<name>/moving_variance"
// (state, saved with the weights). Options: Momentum (default 0.99), Epsilon
// (default 0.001), an Activation applied after.
func BatchNorm(in *Layer, name string, opts ...Option) *Layer {
	c := &BatchNormConfig{}
	return newLayer(name, c, opts, []string{"momentum", "epsilon", "act"}, func(s *settings) error {
		c.Momentum, c.Epsilon, c.Act = 0.99, 1e-3, s.act
		if s.has("momentum") {
			c.Momentum = s.momentum
		}
		if s.has("epsilon") {
			c.Epsilon = s.epsilon
		}
		return nil
	}, in)
}

// LayerNormConfig is the config of a LayerNorm layer.
type LayerNormConfig struct {
	Epsilon float32    `json:"epsilon"`
	Act     Activation `json:"act,omitempty"`
}

// Kind implements Config.
func (*LayerNormConfig) Kind() string { return "LayerNorm" }

func (c *LayerNormConfig) build(b *builder) (*graph.Node, error) {
	if !(c.Epsilon > 0) {
		return nil, fmt.Errorf("%w: epsilon %g must be positive", ErrBadConfig, c.Epsilon)
	}
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	ch, err := channels(b)
	if err != nil {
		return nil, err
	}
	gamma, err := b.param("gamma", Init{tensor.Ones()}, ch)
	if err != nil {
		return nil, err
	}
	beta, err := b.param("beta", Init{tensor.Zeros()}, ch)
	if err != nil {
		return nil, err
	}
	return c.Act.on(graph.LayerNorm(b.ins[0], gamma, beta, c.Epsilon)), nil
}

// LayerNorm normalises each example over its last axis, then scales and shifts
// it (Ba et al. 2016): the same in training and inference. Parameters
// "<name>/gamma" and "<name>/beta". Options: Epsilon (default 0.001), an
// Activation applied after.
func LayerNorm(in *Layer, name string, opts ...Option) *Layer {
	c := &LayerNormConfig{}
	return newLayer(name, c, opts, []string{"epsilon", "act"}, func(s *settings) error {
		c.Epsilon, c.Act = 1e-3, s.act
		if s.has("epsilon") {
			c.Epsilon = s.epsilon
		}
		return nil
	}, in)
}

// LocalResponseNormConfig is the config of a LocalResponseNorm layer.
type LocalResponseNormConfig struct {
	DepthRadius int     `json:"depth_radius"`
	Bias        float32 `json:"bias"`
	Alpha       float32 `json:"alpha"`
	Beta        float32 `json:"beta"`
}

// Kind implements Config.
func (*LocalResponseNormConfig) Kind() string { return "LocalResponseNorm" }

func (c *LocalResponseNormConfig) build(b *builder) (*graph.Node, error) {
	if c.DepthRadius < 0 {
		return nil, fmt.Errorf("%w: depth radius %d is negative", ErrBadConfig, c.DepthRadius)
	}
	if _, err := channels(b); err != nil {
		return nil, err
	}
	return graph.LocalResponseNorm(b.ins[0], graph.LRNOpts{DepthRadius: c.DepthRadius, Bias: c.Bias, Alpha: c.Alpha, Beta: c.Beta}), nil
}

// LocalResponseNorm divides each channel by a power of the sum of squares of
// its neighbours (AlexNet; TensorFlow's local_response_normalization):
// y = x / (bias + alpha·Σ x²)^beta over channels d-r..d+r. The CIFAR-10
// tutorial uses radius 4, bias 1, alpha 0.001/9, beta 0.75.
func LocalResponseNorm(in *Layer, name string, radius int, bias, alpha, beta float32) *Layer {
	return newLayer(name, &LocalResponseNormConfig{DepthRadius: radius, Bias: bias, Alpha: alpha, Beta: beta}, nil, nil, nil, in)
}
