package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
)

// SubPixelConfig is the config of a SubPixel2D layer.
type SubPixelConfig struct {
	Scale int `json:"scale"`
}

// Kind implements Config.
func (*SubPixelConfig) Kind() string { return "SubPixel2D" }

func (c *SubPixelConfig) build(b *builder) (*graph.Node, error) {
	r := c.Scale
	if r <= 0 || r > maxScale {
		return nil, fmt.Errorf("%w: scale %d: from 1 to %d", ErrBadConfig, r, maxScale)
	}
	s, err := b.inShape(0, 4, "(batch, height, width, channels)")
	if err != nil {
		return nil, err
	}
	h, w, ch := s[1], s[2], s[3]
	if h <= 0 || w <= 0 || ch <= 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: height, width and channels must be known", ErrBadConfig, b.layers[0].name, s)
	}
	if ch%(r*r) != 0 {
		return nil, fmt.Errorf("%w: input %q has %d channels: a scale of %d needs a multiple of %d (scale²) channels", ErrBadConfig, b.layers[0].name, ch, r, r*r)
	}
	if err := checkSize([]int{h * r, w * r, ch / (r * r)}); err != nil {
		return nil, err
	}
	// Channel k = (dy·r + dx)·C + c of pixel (y, x) goes to pixel
	// (y·r + dy, x·r + dx), channel c: TensorFlow's depth_to_space.
	x := graph.Reshape(b.ins[0], -1, h, w, r, r, ch/(r*r))
	x = graph.Transpose(x, 0, 1, 3, 2, 4, 5)
	return graph.Reshape(x, -1, h*r, w*r, ch/(r*r)), nil
}

// SubPixel2D rearranges the channels of NHWC images into space (the sub-pixel
// convolution's shuffle of Shi et al. 2016, TensorFlow's depth_to_space):
// (batch, h, w, r²·c) becomes (batch, r·h, r·w, c), channel (dy·r + dx)·c + k
// of each pixel going to offset (dy, dx) of its r×r block. A convolution to
// r²·c channels followed by SubPixel2D upsamples r times without the
// checkerboard of a strided transposed convolution (SRGAN's upsampling). No
// parameters; the channels must be a multiple of r².
func SubPixel2D(in *Layer, name string, r int) *Layer {
	return newLayer(name, &SubPixelConfig{Scale: r}, nil, nil, nil, in)
}
