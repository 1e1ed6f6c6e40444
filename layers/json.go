package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// jsonFormat tags the architecture files this package writes.
const jsonFormat = "tlgo-layers/1"

type netJSON struct {
	Format string      `json:"format"`
	Layers []layerJSON `json:"layers"`
}

type layerJSON struct {
	Name   string          `json:"name"`
	Kind   string          `json:"kind"`
	Inputs []int           `json:"inputs,omitempty"` // positions in Layers
	Reuse  bool            `json:"reuse,omitempty"`
	Config json.RawMessage `json:"config"`
}

// MarshalJSON writes the architecture of the network that ends with l: every
// layer's name, kind, config and inputs (as positions in the list), in the
// order of Layers. Weights are not included; they live in the graph's
// variables, named "<layer>/<param>". FromJSON reads it back.
func (l *Layer) MarshalJSON() ([]byte, error) {
	if l.err != nil {
		return nil, fmt.Errorf("layers: cannot write a network that failed to build: %w", l.err)
	}
	all := l.Layers()
	pos := make(map[*Layer]int, len(all))
	doc := netJSON{Format: jsonFormat}
	for i, x := range all {
		pos[x] = i
		cfg, err := json.Marshal(x.cfg)
		if err != nil {
			return nil, fmt.Errorf("layers: writing the config of %s %q: %w", x.Kind(), x.name, err)
		}
		e := layerJSON{Name: x.name, Kind: x.Kind(), Reuse: x.reuse, Config: cfg}
		for _, in := range x.inputs {
			e.Inputs = append(e.Inputs, pos[in])
		}
		doc.Layers = append(doc.Layers, e)
	}
	return json.Marshal(doc)
}

// Func is the Go function of a Lambda layer: it builds the layer's output from
// its input nodes.
type Func func(in ...*graph.Node) *graph.Node

// LoadOption supplies FromJSON with what JSON cannot hold.
type LoadOption func(*loadOpts)

type loadOpts struct {
	funcs map[string]Func
	inits map[string]tensor.Initializer
	// maxParams bounds the values of the parameters FromJSON creates, and
	// params counts them: a file of a few bytes that declares a layer of
	// 10^9 units fails before the memory is allocated.
	maxParams, params int
}

// DefaultMaxParams is how many parameter values (float32) FromJSON creates at
// most unless MaxParams says otherwise: 2^30, 4 GiB.
const DefaultMaxParams = 1 << 30

// MaxParams bounds the parameter values FromJSON may create (parameters that
// already exist in the graph do not count). A loader that knows the size of
// the weights file the architecture goes with passes what that file can hold,
// so that an architecture cannot claim more memory than its weights back.
func MaxParams(n int) LoadOption {
	return func(o *loadOpts) { o.maxParams = n }
}

// WithFunc gives FromJSON the function of the Lambda layers whose config names
// it (by default a Lambda's function is named after the layer).
func WithFunc(name string, fn Func) LoadOption {
	return func(o *loadOpts) { o.funcs[name] = fn }
}

// WithInit gives FromJSON an initializer that package tensor does not know, by
// the name its String method returns.
func WithInit(name string, init tensor.Initializer) LoadOption {
	return func(o *loadOpts) { o.inits[name] = init }
}

// FromJSON rebuilds in g the network that MarshalJSON wrote and returns its last
// layer. Parameters get the same names as in the original network, so weights
// saved from it load into this one; if g already has them (the same graph, or
// weights loaded first), they are shared. The parameters it creates hold at
// most DefaultMaxParams values, or what MaxParams says.
func FromJSON(g *graph.Graph, data []byte, opts ...LoadOption) (*Layer, error) {
	load := &loadOpts{funcs: map[string]Func{}, inits: map[string]tensor.Initializer{}, maxParams: DefaultMaxParams}
	for _, o := range opts {
		o(load)
	}
	var doc netJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("layers: FromJSON: %w", err)
	}
	if doc.Format != jsonFormat {
		return nil, fmt.Errorf("layers: FromJSON: format %q, want %q", doc.Format, jsonFormat)
	}
	if len(doc.Layers) == 0 {
		return nil, errors.New("layers: FromJSON: no layers")
	}
	built := make([]*Layer, len(doc.Layers))
	for i, e := range doc.Layers {
		cfg, err := NewConfig(e.Kind)
		if err != nil {
			return nil, fmt.Errorf("layers: FromJSON: layer %d %q: %w", i, e.Name, err)
		}
		cd := json.NewDecoder(bytes.NewReader(e.Config))
		cd.DisallowUnknownFields()
		if err := cd.Decode(cfg); err != nil {
			return nil, fmt.Errorf("layers: FromJSON: layer %d, %s %q: config: %w", i, e.Kind, e.Name, err)
		}
		var ins []*Layer
		for _, j := range e.Inputs {
			if j < 0 || j >= i {
				return nil, fmt.Errorf("layers: FromJSON: layer %d %q reads layer %d; inputs must come earlier in the list", i, e.Name, j)
			}
			ins = append(ins, built[j])
		}
		l := build(g, e.Name, cfg, e.Reuse, load, ins...)
		if l.err != nil {
			return nil, fmt.Errorf("layers: FromJSON: layer %d: %w", i, l.err)
		}
		built[i] = l
	}
	return built[len(built)-1], nil
}

// NewConfig returns the empty config of a layer kind ("Dense", "Conv2D", ...),
// to fill and give to Build. Kinds that share a config type (Conv1D, Conv2D
// and DeConv2D share ConvConfig; the pools, the global pools, the two
// resamplings and the recurrent layers likewise) get it with their kind set.
func NewConfig(kind string) (Config, error) {
	var c Config
	switch kind {
	case "Input":
		c = &InputConfig{}
	case "Dense":
		c = &DenseConfig{}
	case "DropConnectDense":
		c = &DropConnectDenseConfig{}
	case "Dropout":
		c = &DropoutConfig{}
	case "GaussianNoise":
		c = &GaussianNoiseConfig{}
	case "Flatten":
		c = &FlattenConfig{}
	case "Reshape":
		c = &ReshapeConfig{}
	case "Concat":
		c = &ConcatConfig{}
	case "Elementwise":
		c = &ElementwiseConfig{}
	case "Activation":
		c = &ActivationConfig{}
	case "Embedding":
		c = &EmbeddingConfig{}
	case "PReLU":
		c = &PReLUConfig{}
	case "Lambda":
		c = &LambdaConfig{}
	case "Transpose":
		c = &TransposeConfig{}
	case "Conv1D", "Conv2D", "DeConv2D":
		c = &ConvConfig{kind: kind}
	case "MaxPool1D", "MaxPool2D", "MeanPool1D", "MeanPool2D":
		c = &PoolConfig{kind: kind}
	case "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMeanPool1D", "GlobalMeanPool2D":
		c = &GlobalPoolConfig{kind: kind}
	case "UpSampling2D", "DownSampling2D":
		c = &ResampleConfig{kind: kind}
	case "SubPixel2D":
		c = &SubPixelConfig{}
	case "RNN", "LSTM", "GRU":
		c = &RecurrentConfig{kind: kind}
	case "SequenceMask":
		c = &SequenceMaskConfig{}
	case "TimeMerge":
		c = &TimeMergeConfig{}
	case "TimeSplit":
		c = &TimeSplitConfig{}
	case "Word2vecEmbedding":
		c = &Word2vecConfig{}
	case "BatchNorm":
		c = &BatchNormConfig{}
	case "LayerNorm":
		c = &LayerNormConfig{}
	case "LocalResponseNorm":
		c = &LocalResponseNormConfig{}
	default:
		return nil, fmt.Errorf("%w: unknown layer kind %q", ErrBadConfig, kind)
	}
	return c, nil
}
