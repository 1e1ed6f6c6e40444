package mltasks

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// Builder builds a network for samples of one shape: in is the shape of one
// sample as the view stores it, without the batch axis (28×28, 32×32×3, 784,
// 35 tokens), dtype the element type the network is fed (float32 for images
// and features, int32 for token ids), classes the number of classes. The
// network's input must take those samples (an H×W view may be fed as
// H×W×1); its output is the logits, (batch, classes).
type Builder func(g *graph.Graph, in ArchInput) (*layers.Layer, error)

// ArchInput is what a Builder builds for.
type ArchInput struct {
	Shape   []int
	DType   tensor.DType
	Classes int
	// Target is the shape of one sample's target tensor for a regression
	// (loss mse), nil for class ids. Classes is then the target's size: the
	// network's output must be (batch, Target...); (batch, 1) for a scalar.
	Target []int
	// Width multiplies the builder's hidden sizes (params.width; 0 means 1);
	// Dropout, when set, is the drop probability of its dropout layers
	// (params.dropout; 0: none).
	Width   float64
	Dropout *float64
}

// hidden is n hidden units or filters scaled by in.Width, at least 1.
func (in ArchInput) hidden(n int) int {
	if in.Width == 0 {
		return n
	}
	return max(1, int(math.Round(float64(n)*in.Width)))
}

// dropout adds a dropout layer that drops with probability in.Dropout, else
// def; none at 0.
func (in ArchInput) dropout(h *layers.Layer, name string, def float64) *layers.Layer {
	p := def
	if in.Dropout != nil {
		p = *in.Dropout
	}
	if p == 0 {
		return h
	}
	return layers.Dropout(h, name, float32(1-p)) // layers.Dropout takes the keep probability
}

// archs is a registry of builders by name, owned by one Kinds.
type archs map[string]Builder

func builtinArchs() archs { return archs{"mlp": buildMLP, "cnn": buildCNN} }

func (a archs) names() string { return strings.Join(slices.Sorted(maps.Keys(a)), ", ") }

// imageShape is in as H×W×C: an H×W view is one channel.
func imageShape(arch string, in ArchInput) ([]int, error) {
	switch len(in.Shape) {
	case 2:
		return []int{in.Shape[0], in.Shape[1], 1}, nil
	case 3:
		return slices.Clone(in.Shape), nil
	}
	return nil, fmt.Errorf("arch %s takes images (H×W or H×W×C samples), the samples are %v", arch, in.Shape)
}

// buildMLP is two hidden layers over the flattened sample, any shape.
func buildMLP(g *graph.Graph, in ArchInput) (*layers.Layer, error) {
	if in.DType != tensor.Float32 {
		return nil, fmt.Errorf("arch mlp takes float32 samples (images or features), the samples are %v", in.DType)
	}
	x := layers.Input(g, "image", append([]int{-1}, in.Shape...)...)
	h := x
	if len(in.Shape) != 1 {
		h = layers.Flatten(x, "flatten")
	}
	h = layers.Dense(h, "fc1", in.hidden(256), layers.ReLU)
	h = in.dropout(h, "drop1", 0.2)
	h = layers.Dense(h, "fc2", in.hidden(128), layers.ReLU)
	net := layers.Dense(h, "logits", in.Classes)
	return net, net.Err()
}

// buildCNN is two convolution and pooling blocks and a dense layer over
// H×W×C images of any size (at least 4×4: two poolings halve them twice).
func buildCNN(g *graph.Graph, in ArchInput) (*layers.Layer, error) {
	sh, err := imageShape("cnn", in)
	if err != nil {
		return nil, err
	}
	if in.DType != tensor.Float32 {
		return nil, fmt.Errorf("arch cnn takes float32 images, the samples are %v", in.DType)
	}
	if sh[0] < 4 || sh[1] < 4 {
		return nil, fmt.Errorf("arch cnn takes images of at least 4×4, the samples are %v", in.Shape)
	}
	x := layers.Input(g, "image", -1, sh[0], sh[1], sh[2])
	h := layers.Conv2D(x, "conv1", in.hidden(32), 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool1", 2, 2)
	h = layers.Conv2D(h, "conv2", in.hidden(64), 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool2", 2, 2)
	h = layers.Flatten(h, "flatten")
	h = layers.Dense(h, "fc1", in.hidden(128), layers.ReLU)
	h = in.dropout(h, "drop1", 0.5)
	net := layers.Dense(h, "logits", in.Classes)
	return net, net.Err()
}
