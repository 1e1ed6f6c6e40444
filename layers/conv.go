package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

type dilationOpt []int

// Dilation sets the spacing between a convolution filter's taps (atrous
// convolution): one value for every spatial axis, or one per axis.
func Dilation(d ...int) Option          { return dilationOpt(append([]int(nil), d...)) }
func (dilationOpt) key() string         { return "dilation" }
func (o dilationOpt) apply(s *settings) { s.dilation = o }

// perAxis expands an option given as one value or one per axis; unset is def.
func perAxis(what string, v []int, n, def int) ([]int, error) {
	out := make([]int, n)
	switch len(v) {
	case 0:
		for i := range out {
			out[i] = def
		}
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case n:
		copy(out, v)
	default:
		return nil, fmt.Errorf("%w: %s %v: give one value, or %d (one per axis)", ErrBadOption, what, v, n)
	}
	for _, x := range out {
		if x <= 0 {
			return nil, fmt.Errorf("%w: %s %v must be positive", ErrBadOption, what, v)
		}
	}
	return out, nil
}

func (p Padding) graph() (graph.Padding, error) {
	switch p {
	case Valid, "":
		return graph.Valid, nil
	case Same:
		return graph.Same, nil
	}
	return 0, fmt.Errorf("%w: padding %q, want SAME or VALID", ErrBadConfig, string(p))
}

// fusedAct maps the activations a convolution can fuse.
func fusedAct(a Activation) (graph.Activation, bool) {
	switch a {
	case Linear:
		return graph.Identity, true
	case ReLU:
		return graph.ReluAct, true
	case Sigmoid:
		return graph.SigmoidAct, true
	case Tanh:
		return graph.TanhAct, true
	}
	return 0, false
}

// ConvConfig is the config of the convolution layers: Conv1D (Kernel, Strides
// and Dilations of length 1), Conv2D and DeConv2D (length 2).
type ConvConfig struct {
	kind      string
	Filters   int        `json:"filters"`
	Kernel    []int      `json:"kernel"`
	Strides   []int      `json:"strides"`
	Dilations []int      `json:"dilations"`
	Padding   Padding    `json:"padding"`
	Act       Activation `json:"act,omitempty"`
	WInit     Init       `json:"w_init"`
	BInit     Init       `json:"b_init"` // null: no bias
}

// Kind implements Config: "Conv1D", "Conv2D" or "DeConv2D".
func (c *ConvConfig) Kind() string { return c.kind }

// maxWindow bounds a kernel, stride, dilation or pool size: far above any
// network's, and low enough that the window arithmetic of shape inference on
// a shape read from a file (2^40 values at most) cannot overflow.
const maxWindow = 1 << 16

func (c *ConvConfig) build(b *builder) (*graph.Node, error) {
	n := 2
	if c.kind == "Conv1D" {
		n = 1
	}
	if c.Filters <= 0 {
		return nil, fmt.Errorf("%w: filters must be positive, got %d", ErrBadConfig, c.Filters)
	}
	if len(c.Kernel) != n || len(c.Strides) != n || len(c.Dilations) != n {
		return nil, fmt.Errorf("%w: kernel %v, strides %v, dilations %v: want %d values each", ErrBadConfig, c.Kernel, c.Strides, c.Dilations, n)
	}
	for i := 0; i < n; i++ {
		if c.Kernel[i] <= 0 || c.Strides[i] <= 0 || c.Dilations[i] <= 0 {
			return nil, fmt.Errorf("%w: kernel %v, strides %v, dilations %v must be positive", ErrBadConfig, c.Kernel, c.Strides, c.Dilations)
		}
		if c.Kernel[i] > maxWindow || c.Strides[i] > maxWindow || c.Dilations[i] > maxWindow {
			return nil, fmt.Errorf("%w: kernel %v, strides %v, dilations %v: at most %d each", ErrBadConfig, c.Kernel, c.Strides, c.Dilations, maxWindow)
		}
	}
	pad, err := c.Padding.graph()
	if err != nil {
		return nil, err
	}
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	layout := "(batch, height, width, channels)"
	if n == 1 {
		layout = "(batch, steps, channels)"
	}
	s, err := b.inShape(0, n+2, layout)
	if err != nil {
		return nil, err
	}
	cin := s[n+1]
	if cin <= 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: the channels must be known", ErrBadConfig, b.layers[0].name, s)
	}
	wShape := append(append([]int(nil), c.Kernel...), cin, c.Filters)
	if c.kind == "DeConv2D" {
		wShape = []int{c.Kernel[0], c.Kernel[1], c.Filters, cin}
	}
	w, err := b.param("W", c.WInit, wShape...)
	if err != nil {
		return nil, err
	}
	var bias *graph.Node
	if c.BInit.Initializer != nil {
		if bias, err = b.param("b", c.BInit, c.Filters); err != nil {
			return nil, err
		}
	}
	x := b.ins[0]
	o2 := graph.Conv2DOpts{Padding: pad}
	o1 := graph.Conv1DOpts{Padding: pad}
	if n == 2 {
		o2.Strides = [2]int{c.Strides[0], c.Strides[1]}
		o2.Dilations = [2]int{c.Dilations[0], c.Dilations[1]}
	} else {
		o1.Stride, o1.Dilation = c.Strides[0], c.Dilations[0]
	}
	if c.kind == "DeConv2D" {
		return c.Act.biasAct(graph.Conv2DTranspose(x, w, o2), bias), nil
	}
	if f, ok := fusedAct(c.Act); ok && bias != nil {
		if n == 1 {
			return graph.Conv1DBiasAct(x, w, bias, f, o1), nil
		}
		return graph.Conv2DBiasAct(x, w, bias, f, o2), nil
	}
	var y *graph.Node
	if n == 1 {
		y = graph.Conv1D(x, w, o1)
	} else {
		y = graph.Conv2D(x, w, o2)
	}
	return c.Act.biasAct(y, bias), nil
}

// convOptions are the options convolutions take.
func convOptions() []string {
	return []string{"act", "padding", "stride", "dilation", "w_init", "b_init", "no_bias"}
}

func newConv(in *Layer, name, kind string, filters int, kernel []int, opts []Option) *Layer {
	c := &ConvConfig{kind: kind, Filters: filters, Kernel: kernel}
	return newLayer(name, c, opts, convOptions(), func(s *settings) error {
		var err error
		if c.Strides, err = perAxis("stride", s.stride, len(kernel), 1); err != nil {
			return err
		}
		if c.Dilations, err = perAxis("dilation", s.dilation, len(kernel), 1); err != nil {
			return err
		}
		c.Padding, c.Act = s.padding, s.act
		if c.Padding == "" {
			c.Padding = Valid
		}
		c.WInit, c.BInit = orDefault(s.wInit, tensor.GlorotUniform()), orDefault(s.bInit, tensor.Zeros())
		if s.noBias {
			c.BInit = Init{}
		}
		return nil
	}, in)
}

// Conv2D convolves NHWC images (batch, height, width, channels) with filters
// kh×kw, as TensorFlow's conv2d (cross-correlation), then adds a bias and
// applies an activation (fused for ReLU, Sigmoid, Tanh). Parameters "<name>/W"
// (kh, kw, in channels, filters) and "<name>/b" (filters). Options: Stride,
// Dilation, Same or Valid (default), an Activation, WInit, BInit, NoBias.
func Conv2D(in *Layer, name string, filters, kh, kw int, opts ...Option) *Layer {
	return newConv(in, name, "Conv2D", filters, []int{kh, kw}, opts)
}

// Conv1D convolves sequences (batch, steps, channels) with filters of width k.
// Parameters "<name>/W" (k, in channels, filters) and "<name>/b". Options as
// Conv2D.
func Conv1D(in *Layer, name string, filters, k int, opts ...Option) *Layer {
	return newConv(in, name, "Conv1D", filters, []int{k}, opts)
}

// DeConv2D is the transposed convolution ("deconvolution") of NHWC images, as
// TensorFlow's conv2d_transpose: with Same padding the output is the input's
// height and width times the stride. Parameters "<name>/W" (kh, kw, filters, in
// channels) and "<name>/b" (filters). Options as Conv2D.
func DeConv2D(in *Layer, name string, filters, kh, kw int, opts ...Option) *Layer {
	return newConv(in, name, "DeConv2D", filters, []int{kh, kw}, opts)
}

// PoolConfig is the config of the pooling layers MaxPool1D, MaxPool2D,
// MeanPool1D and MeanPool2D.
type PoolConfig struct {
	kind    string
	Size    []int   `json:"size"`
	Strides []int   `json:"strides"`
	Padding Padding `json:"padding"`
}

// Kind implements Config.
func (c *PoolConfig) Kind() string { return c.kind }

func (c *PoolConfig) build(b *builder) (*graph.Node, error) {
	n := 2
	if c.kind == "MaxPool1D" || c.kind == "MeanPool1D" {
		n = 1
	}
	if len(c.Size) != n || len(c.Strides) != n {
		return nil, fmt.Errorf("%w: size %v, strides %v: want %d values each", ErrBadConfig, c.Size, c.Strides, n)
	}
	for i := 0; i < n; i++ {
		if c.Size[i] <= 0 || c.Strides[i] <= 0 {
			return nil, fmt.Errorf("%w: size %v and strides %v must be positive", ErrBadConfig, c.Size, c.Strides)
		}
		if c.Size[i] > maxWindow || c.Strides[i] > maxWindow {
			return nil, fmt.Errorf("%w: size %v, strides %v: at most %d each", ErrBadConfig, c.Size, c.Strides, maxWindow)
		}
	}
	pad, err := c.Padding.graph()
	if err != nil {
		return nil, err
	}
	layout := "(batch, height, width, channels)"
	if n == 1 {
		layout = "(batch, steps, channels)"
	}
	if _, err := b.inShape(0, n+2, layout); err != nil {
		return nil, err
	}
	x := b.ins[0]
	switch c.kind {
	case "MaxPool2D":
		return graph.MaxPool2D(x, graph.PoolOpts{Size: [2]int(c.Size), Strides: [2]int(c.Strides), Padding: pad}), nil
	case "MeanPool2D":
		return graph.AvgPool2D(x, graph.PoolOpts{Size: [2]int(c.Size), Strides: [2]int(c.Strides), Padding: pad}), nil
	case "MaxPool1D":
		return graph.MaxPool1D(x, graph.Pool1DOpts{Size: c.Size[0], Stride: c.Strides[0], Padding: pad}), nil
	}
	return graph.AvgPool1D(x, graph.Pool1DOpts{Size: c.Size[0], Stride: c.Strides[0], Padding: pad}), nil
}

func newPool(in *Layer, name, kind string, size []int, opts []Option) *Layer {
	c := &PoolConfig{kind: kind, Size: size}
	return newLayer(name, c, opts, []string{"stride", "padding"}, func(s *settings) error {
		var err error
		if len(s.stride) == 0 {
			s.stride = size // the default stride is the window: no overlap
		}
		if c.Strides, err = perAxis("stride", s.stride, len(size), 1); err != nil {
			return err
		}
		c.Padding = s.padding
		if c.Padding == "" {
			c.Padding = Valid
		}
		return nil
	}, in)
}

// MaxPool2D takes the maximum over kh×kw windows of NHWC images. The stride is
// the window unless Stride says otherwise; padding Valid unless Same.
func MaxPool2D(in *Layer, name string, kh, kw int, opts ...Option) *Layer {
	return newPool(in, name, "MaxPool2D", []int{kh, kw}, opts)
}

// MeanPool2D averages kh×kw windows of NHWC images (with Same padding, over the
// part of each window inside the image). Options as MaxPool2D.
func MeanPool2D(in *Layer, name string, kh, kw int, opts ...Option) *Layer {
	return newPool(in, name, "MeanPool2D", []int{kh, kw}, opts)
}

// MaxPool1D takes the maximum over windows of k steps of (batch, steps,
// channels) sequences. Options as MaxPool2D.
func MaxPool1D(in *Layer, name string, k int, opts ...Option) *Layer {
	return newPool(in, name, "MaxPool1D", []int{k}, opts)
}

// MeanPool1D averages windows of k steps. Options as MaxPool2D.
func MeanPool1D(in *Layer, name string, k int, opts ...Option) *Layer {
	return newPool(in, name, "MeanPool1D", []int{k}, opts)
}
