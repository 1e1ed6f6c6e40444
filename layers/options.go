package layers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Option changes a layer's settings: an activation, a padding, a stride, an
// initializer. Each layer accepts the options that make sense for it; any other
// is an error naming the layer and the options it takes.
type Option interface {
	// key names the setting the option changes, for error messages.
	key() string
	apply(s *settings)
}

// settings collect the options given to one layer.
type settings struct {
	act        Activation
	padding    Padding
	stride     []int
	dilation   []int
	wInit      tensor.Initializer
	bInit      tensor.Initializer
	noBias     bool
	reuse      bool
	mask       *Layer
	method     ResizeMethod
	states     []*Layer
	last       bool
	epsilon    float32
	momentum   float32
	bidi       bool
	forgetBias float32
	outKeep    float32
	unique     bool
	used       []string
}

// parse applies opts and checks that every one is among allowed (reuse is
// always allowed).
func parse(kind string, opts []Option, allowed ...string) (*settings, error) {
	s := &settings{}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: a nil option", ErrBadOption)
		}
		k := o.key()
		if k != "reuse" && !slices.Contains(allowed, k) {
			takes := "no options"
			if len(allowed) > 0 {
				takes = "options " + strings.Join(allowed, ", ")
			}
			return nil, fmt.Errorf("%w: %s does not apply to %s (it takes %s)", ErrBadOption, k, kind, takes)
		}
		if slices.Contains(s.used, k) {
			return nil, fmt.Errorf("%w: %s given twice", ErrBadOption, k)
		}
		s.used = append(s.used, k)
		o.apply(s)
	}
	return s, nil
}

func (s *settings) has(k string) bool { return slices.Contains(s.used, k) }

// Activation is the function applied to a layer's output: an Option of Dense,
// the convolutions, BatchNorm, LayerNorm and RNN, and the argument of Activate.
// The zero value is Linear (none).
type Activation string

// The activations. Relu, Sigmoid, Tanh and Linear are fused with the bias add.
const (
	Linear   Activation = ""
	ReLU     Activation = "relu"
	Sigmoid  Activation = "sigmoid"
	Tanh     Activation = "tanh"
	ELU      Activation = "elu"
	Softplus Activation = "softplus"
	Softmax  Activation = "softmax"
)

// LeakyReLU is max(x, alpha·x).
func LeakyReLU(alpha float32) Activation {
	return Activation("leaky_relu:" + strconv.FormatFloat(float64(alpha), 'g', -1, 32))
}

func (a Activation) key() string       { return "act" }
func (a Activation) apply(s *settings) { s.act = a }

// check reports whether a names a known activation.
func (a Activation) check() error {
	switch a {
	case Linear, ReLU, Sigmoid, Tanh, ELU, Softplus, Softmax:
		return nil
	}
	if _, err := a.leakyAlpha(); err == nil {
		return nil
	}
	return fmt.Errorf("%w: unknown activation %q (want relu, sigmoid, tanh, elu, softplus, softmax, leaky_relu:ALPHA or empty)", ErrBadConfig, string(a))
}

func (a Activation) leakyAlpha() (float32, error) {
	v, ok := strings.CutPrefix(string(a), "leaky_relu:")
	if !ok {
		return 0, fmt.Errorf("not leaky_relu")
	}
	f, err := strconv.ParseFloat(v, 32)
	return float32(f), err
}

// biasAct returns act(x + b), fused where the engine can (b may be nil).
func (a Activation) biasAct(x, b *graph.Node) *graph.Node {
	fused := map[Activation]graph.Activation{Linear: graph.Identity, ReLU: graph.ReluAct, Sigmoid: graph.SigmoidAct, Tanh: graph.TanhAct}
	if f, ok := fused[a]; ok && b != nil {
		return graph.BiasAct(x, b, f)
	}
	if b != nil {
		x = graph.BiasAdd(x, b)
	}
	return a.on(x)
}

// on applies the activation to x.
func (a Activation) on(x *graph.Node) *graph.Node {
	switch a {
	case Linear:
		return x
	case ReLU:
		return graph.Relu(x)
	case Sigmoid:
		return graph.Sigmoid(x)
	case Tanh:
		return graph.Tanh(x)
	case ELU:
		return graph.Elu(x)
	case Softplus:
		return graph.Softplus(x)
	case Softmax:
		return graph.Softmax(x)
	}
	alpha, _ := a.leakyAlpha() // checked when the config was validated
	return graph.LeakyRelu(x, alpha)
}

// Padding chooses how convolutions and pools treat borders.
type Padding string

// Same pads so that a stride-1 output keeps the input's spatial size; Valid does
// not pad. Valid is the default, as in TensorFlow.
const (
	Same  Padding = "SAME"
	Valid Padding = "VALID"
)

func (p Padding) key() string       { return "padding" }
func (p Padding) apply(s *settings) { s.padding = p }

type strideOpt []int

// Stride sets the step of a convolution or a pool: one value for every spatial
// axis, or one per axis.
func Stride(s ...int) Option          { return strideOpt(slices.Clone(s)) }
func (strideOpt) key() string         { return "stride" }
func (o strideOpt) apply(s *settings) { s.stride = o }

type wInitOpt struct{ tensor.Initializer }

// WInit sets the initializer of a layer's weights (default: Glorot uniform, as
// Keras and TensorLayer).
func WInit(init tensor.Initializer) Option { return wInitOpt{init} }
func (wInitOpt) key() string               { return "w_init" }
func (o wInitOpt) apply(s *settings)       { s.wInit = o.Initializer }

type bInitOpt struct{ tensor.Initializer }

// BInit sets the initializer of a layer's bias (default: zeros).
func BInit(init tensor.Initializer) Option { return bInitOpt{init} }
func (bInitOpt) key() string               { return "b_init" }
func (o bInitOpt) apply(s *settings)       { s.bInit = o.Initializer }

type noBiasOpt struct{}

// NoBias leaves out a layer's bias (before a batch norm, say).
func NoBias() Option                { return noBiasOpt{} }
func (noBiasOpt) key() string       { return "no_bias" }
func (noBiasOpt) apply(s *settings) { s.noBias = true }

type reuseOpt struct{}

// Reuse lets a layer take the name of another layer of the same network, and so
// share its parameters (a siamese branch joined back, say). Across networks,
// sharing needs no option: a layer whose name already has parameters in the
// graph uses them.
func Reuse() Option                { return reuseOpt{} }
func (reuseOpt) key() string       { return "reuse" }
func (reuseOpt) apply(s *settings) { s.reuse = true }

type maskOpt struct{ l *Layer }

// Mask gives a recurrent layer the mask of its sequences: a float32 layer of
// shape (batch, steps) holding 1 for real steps and 0 for padding. A masked step
// keeps the previous state and outputs zeros, so sequences of varying length
// share a batch.
func Mask(m *Layer) Option          { return maskOpt{m} }
func (maskOpt) key() string         { return "mask" }
func (o maskOpt) apply(s *settings) { s.mask = o.l }

type lastOpt struct{}

// ReturnLast makes a recurrent layer output its last state, shape (batch,
// units), instead of the whole sequence (batch, steps, units). With a mask, the
// last state is the state at each sequence's last real step.
func ReturnLast() Option          { return lastOpt{} }
func (lastOpt) key() string       { return "return_last" }
func (lastOpt) apply(s *settings) { s.last = true }

type epsOpt float32

// Epsilon sets the small constant a normalisation adds to the variance.
func Epsilon(eps float32) Option   { return epsOpt(eps) }
func (epsOpt) key() string         { return "epsilon" }
func (o epsOpt) apply(s *settings) { s.epsilon = float32(o) }

type momOpt float32

// Momentum sets the decay of batch norm's moving averages (default 0.9).
func Momentum(m float32) Option    { return momOpt(m) }
func (momOpt) key() string         { return "momentum" }
func (o momOpt) apply(s *settings) { s.momentum = float32(o) }
