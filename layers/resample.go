package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
)

// GlobalPoolConfig is the config of GlobalMaxPool1D/2D and GlobalMeanPool1D/2D.
type GlobalPoolConfig struct{ kind string }

// Kind implements Config.
func (c *GlobalPoolConfig) Kind() string { return c.kind }

func (c *GlobalPoolConfig) build(b *builder) (*graph.Node, error) {
	axes, layout := []int{1, 2}, "(batch, height, width, channels)"
	if c.kind == "GlobalMaxPool1D" || c.kind == "GlobalMeanPool1D" {
		axes, layout = []int{1}, "(batch, steps, channels)"
	}
	if _, err := b.inShape(0, len(axes)+2, layout); err != nil {
		return nil, err
	}
	if c.kind == "GlobalMaxPool1D" || c.kind == "GlobalMaxPool2D" {
		return graph.ReduceMax(b.ins[0], axes...), nil
	}
	return graph.ReduceMean(b.ins[0], axes...), nil
}

// GlobalMaxPool2D takes the maximum over the height and width of NHWC images:
// (batch, channels).
func GlobalMaxPool2D(in *Layer, name string) *Layer {
	return newLayer(name, &GlobalPoolConfig{kind: "GlobalMaxPool2D"}, nil, nil, nil, in)
}

// GlobalMeanPool2D averages over the height and width of NHWC images.
func GlobalMeanPool2D(in *Layer, name string) *Layer {
	return newLayer(name, &GlobalPoolConfig{kind: "GlobalMeanPool2D"}, nil, nil, nil, in)
}

// GlobalMaxPool1D takes the maximum over the steps of (batch, steps, channels).
func GlobalMaxPool1D(in *Layer, name string) *Layer {
	return newLayer(name, &GlobalPoolConfig{kind: "GlobalMaxPool1D"}, nil, nil, nil, in)
}

// GlobalMeanPool1D averages over the steps of (batch, steps, channels).
func GlobalMeanPool1D(in *Layer, name string) *Layer {
	return newLayer(name, &GlobalPoolConfig{kind: "GlobalMeanPool1D"}, nil, nil, nil, in)
}

// ResampleConfig is the config of UpSampling2D and DownSampling2D.
type ResampleConfig struct {
	kind   string
	Scale  [2]int       `json:"scale"`  // (height, width) factors
	Method ResizeMethod `json:"method"` // Nearest or Bilinear
}

// maxScale bounds a resampling factor: nearest-neighbour upsampling repeats
// its input that many times in the graph, and a factor read from a file must
// not make billions of nodes.
const maxScale = 1 << 10

// ResizeMethod is how UpSampling2D and DownSampling2D compute new pixels.
type ResizeMethod string

// Nearest copies the nearest pixel (the default); Bilinear interpolates the
// four nearest with half-pixel centres, as TensorFlow 2's tf.image.resize.
const (
	Nearest  ResizeMethod = "nearest"
	Bilinear ResizeMethod = "bilinear"
)

func (m ResizeMethod) key() string       { return "method" }
func (m ResizeMethod) apply(s *settings) { s.method = m }

// Kind implements Config.
func (c *ResampleConfig) Kind() string { return c.kind }

func (c *ResampleConfig) build(b *builder) (*graph.Node, error) {
	sh, sw := c.Scale[0], c.Scale[1]
	if sh <= 0 || sw <= 0 || sh > maxScale || sw > maxScale {
		return nil, fmt.Errorf("%w: scale %v: factors from 1 to %d", ErrBadConfig, c.Scale, maxScale)
	}
	s, err := b.inShape(0, 4, "(batch, height, width, channels)")
	if err != nil {
		return nil, err
	}
	h, w, ch := s[1], s[2], s[3]
	if h <= 0 || w <= 0 || ch <= 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: height, width and channels must be known", ErrBadConfig, b.layers[0].name, s)
	}
	if c.kind == "UpSampling2D" {
		if err := checkSize([]int{h * sh, w * sw, ch}); err != nil {
			return nil, err
		}
	}
	x := b.ins[0]
	switch c.Method {
	case Nearest, "":
	case Bilinear:
		oh, ow := h*sh, w*sw
		if c.kind == "DownSampling2D" {
			oh, ow = h/sh, w/sw
		}
		if oh < 1 || ow < 1 {
			return nil, fmt.Errorf("%w: input %q has shape %v: too small to shrink by %v", ErrBadConfig, b.layers[0].name, s, c.Scale)
		}
		return b.g.Apply(&bilinearOp{oh: oh, ow: ow}, x), nil
	default:
		return nil, fmt.Errorf("%w: method %q, want nearest or bilinear", ErrBadConfig, c.Method)
	}
	if c.kind == "UpSampling2D" {
		// Nearest neighbour: repeat each column sw times, then each row sh times.
		x = graph.Reshape(x, -1, h, w, 1, ch)
		x = graph.Concat(3, repeat(x, sw)...)
		x = graph.Reshape(x, -1, h, 1, w*sw, ch)
		x = graph.Concat(2, repeat(x, sh)...)
		return graph.Reshape(x, -1, h*sh, w*sw, ch), nil
	}
	if h%sh != 0 || w%sw != 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: height and width must be multiples of the scale %v", ErrBadConfig, b.layers[0].name, s, c.Scale)
	}
	// Nearest neighbour (TensorFlow's resize, align_corners false): the first
	// pixel of each sh×sw block.
	x = graph.Reshape(x, -1, h/sh, sh, w/sw, sw, ch)
	x = graph.Slice(graph.Slice(x, 2, 0, 1), 4, 0, 1)
	return graph.Reshape(x, -1, h/sh, w/sw, ch), nil
}

func repeat(x *graph.Node, n int) []*graph.Node {
	xs := make([]*graph.Node, n)
	for i := range xs {
		xs[i] = x
	}
	return xs
}

func newResample(in *Layer, name, kind string, sh, sw int, opts []Option) *Layer {
	c := &ResampleConfig{kind: kind, Scale: [2]int{sh, sw}}
	return newLayer(name, c, opts, []string{"method"}, func(s *settings) error {
		c.Method = Nearest
		if s.has("method") {
			c.Method = s.method
		}
		return nil
	}, in)
}

// UpSampling2D enlarges NHWC images sh times in height and sw times in width:
// by nearest neighbour (each pixel becomes an sh×sw block), or with the
// Bilinear option by bilinear interpolation.
func UpSampling2D(in *Layer, name string, sh, sw int, opts ...Option) *Layer {
	return newResample(in, name, "UpSampling2D", sh, sw, opts)
}

// DownSampling2D shrinks NHWC images sh times in height and sw times in width:
// by nearest neighbour (the first pixel of each sh×sw block; height and width
// must be multiples of the factors), or with the Bilinear option by bilinear
// interpolation (to height/sh × width/sw, rounded down).
func DownSampling2D(in *Layer, name string, sh, sw int, opts ...Option) *Layer {
	return newResample(in, name, "DownSampling2D", sh, sw, opts)
}
