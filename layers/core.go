package layers

import (
	"fmt"
	"slices"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// InputConfig is the config of an Input layer.
type InputConfig struct {
	Shape []int       `json:"shape"` // -1 for dimensions fed at run time
	DType string      `json:"dtype"` // "float32" or "int32"
	node  *graph.Node // InputNode: the node itself
}

// Kind implements Config.
func (*InputConfig) Kind() string { return "Input" }

func (c *InputConfig) build(b *builder) (*graph.Node, error) {
	if c.node != nil {
		return c.node, nil
	}
	var dt tensor.DType
	switch c.DType {
	case "float32", "":
		dt = tensor.Float32
	case "int32":
		dt = tensor.Int32
	default:
		return nil, fmt.Errorf("%w: dtype %q, want float32 or int32", ErrBadConfig, c.DType)
	}
	if len(c.Shape) == 0 {
		return nil, fmt.Errorf("%w: an input needs a shape, e.g. (-1, 28, 28, 1)", ErrBadConfig)
	}
	for _, d := range c.Shape {
		if d == 0 || d < -1 {
			return nil, fmt.Errorf("%w: shape %v: dimensions are positive, or -1 when fed at run time", ErrBadConfig, c.Shape)
		}
	}
	if err := checkSize(c.Shape); err != nil {
		return nil, err
	}
	return b.g.Placeholder(b.name, dt, c.Shape...), nil
}

// maxShapeSize bounds the product of a shape's known dimensions: shapes come
// from files (an architecture's JSON), and a product that overflows an int
// wraps to a size that matches anything ([-1, 2^32, 2^32, 2^32] reshaped any
// input of 2 values).
const maxShapeSize = 1 << 40

// checkSize rejects a shape whose known dimensions multiply past maxShapeSize.
func checkSize(shape []int) error {
	n := 1
	for _, d := range shape {
		if d <= 0 {
			continue
		}
		if n > maxShapeSize/d {
			return fmt.Errorf("%w: shape %v holds more than %d values", ErrBadConfig, shape, maxShapeSize)
		}
		n *= d
	}
	return nil
}

// Input starts a network: a float32 placeholder called name, of the given shape
// (-1 for the batch, fed at run time; each batch size compiles its own plan).
// Feed it through its Output node.
func Input(g *graph.Graph, name string, shape ...int) *Layer {
	return build(g, name, &InputConfig{Shape: slices.Clone(shape), DType: "float32"}, false, nil)
}

// IntInput is an int32 Input: word ids for an Embedding, labels.
func IntInput(g *graph.Graph, name string, shape ...int) *Layer {
	return build(g, name, &InputConfig{Shape: slices.Clone(shape), DType: "int32"}, false, nil)
}

// DenseConfig is the config of a Dense layer.
type DenseConfig struct {
	Units int        `json:"units"`
	Act   Activation `json:"act,omitempty"`
	WInit Init       `json:"w_init"`
	BInit Init       `json:"b_init"` // null: no bias
}

// Kind implements Config.
func (*DenseConfig) Kind() string { return "Dense" }

func (c *DenseConfig) build(b *builder) (*graph.Node, error) {
	return denseBuild(b, c.Units, c.Act, c.WInit, c.BInit, 0)
}

// denseBuild is act(x·W + b) for Dense and DropConnectDense (keep < 1 drops
// weights in training).
func denseBuild(b *builder, units int, act Activation, wInit, bInit Init, keep float32) (*graph.Node, error) {
	if units <= 0 {
		return nil, fmt.Errorf("%w: units must be positive, got %d", ErrBadConfig, units)
	}
	if err := act.check(); err != nil {
		return nil, err
	}
	s, err := b.inShape(0, 2, "(batch, features): put a Flatten before a Dense")
	if err != nil {
		return nil, err
	}
	w, err := b.param("W", wInit, s[1], units)
	if err != nil {
		return nil, err
	}
	if keep > 0 {
		w = graph.Mul(w, graph.DropoutMask(w, keep))
	}
	var bias *graph.Node
	if bInit.Initializer != nil {
		if bias, err = b.param("b", bInit, units); err != nil {
			return nil, err
		}
	}
	return act.biasAct(graph.MatMul(b.ins[0], w), bias), nil
}

// Dense is a fully connected layer: act(x·W + b), x of shape (batch, features).
// Parameters: "<name>/W" (features, units), "<name>/b" (units). Options:
// an Activation, WInit, BInit, NoBias.
func Dense(in *Layer, name string, units int, opts ...Option) *Layer {
	c := &DenseConfig{Units: units}
	return newLayer(name, c, opts, []string{"act", "w_init", "b_init", "no_bias"}, func(s *settings) error {
		c.Act, c.WInit, c.BInit = s.act, orDefault(s.wInit, tensor.GlorotUniform()), orDefault(s.bInit, tensor.Zeros())
		if s.noBias {
			c.BInit = Init{}
		}
		return nil
	}, in)
}

// DropConnectDenseConfig is the config of a DropConnectDense layer.
type DropConnectDenseConfig struct {
	DenseConfig
	Keep float32 `json:"keep"`
}

// Kind implements Config.
func (*DropConnectDenseConfig) Kind() string { return "DropConnectDense" }

func (c *DropConnectDenseConfig) build(b *builder) (*graph.Node, error) {
	if !(c.Keep > 0 && c.Keep <= 1) {
		return nil, fmt.Errorf("%w: keep must be in (0, 1], got %g", ErrBadConfig, c.Keep)
	}
	return denseBuild(b, c.Units, c.Act, c.WInit, c.BInit, c.Keep)
}

// DropConnectDense is a Dense layer whose weights, in training, are each kept
// with probability keep (and scaled by 1/keep) or dropped, afresh at every step
// (Wan et al. 2013, TensorLayer's DropconnectDenseLayer). In inference the
// weights are used as they are. Parameters and options as Dense.
func DropConnectDense(in *Layer, name string, units int, keep float32, opts ...Option) *Layer {
	c := &DropConnectDenseConfig{DenseConfig: DenseConfig{Units: units}, Keep: keep}
	return newLayer(name, c, opts, []string{"act", "w_init", "b_init", "no_bias"}, func(s *settings) error {
		c.Act, c.WInit, c.BInit = s.act, orDefault(s.wInit, tensor.GlorotUniform()), orDefault(s.bInit, tensor.Zeros())
		if s.noBias {
			c.BInit = Init{}
		}
		return nil
	}, in)
}

// DropoutConfig is the config of a Dropout layer.
type DropoutConfig struct {
	Keep float32 `json:"keep"`
}

// Kind implements Config.
func (*DropoutConfig) Kind() string { return "Dropout" }

func (c *DropoutConfig) build(b *builder) (*graph.Node, error) {
	if !(c.Keep > 0 && c.Keep <= 1) {
		return nil, fmt.Errorf("%w: keep must be in (0, 1], got %g", ErrBadConfig, c.Keep)
	}
	if c.Keep == 1 {
		return b.ins[0], nil
	}
	return graph.Dropout(b.ins[0], c.Keep), nil
}

// Dropout keeps each element with probability keep, scaled by 1/keep, and zeroes
// the rest, in plans compiled for training (graph.Options{Training: true}); in
// inference it passes its input through. keep is TensorLayer's keep, 1 - Keras'
// rate.
func Dropout(in *Layer, name string, keep float32) *Layer {
	return newLayer(name, &DropoutConfig{Keep: keep}, nil, nil, nil, in)
}

// GaussianNoiseConfig is the config of a GaussianNoise layer.
type GaussianNoiseConfig struct {
	Stddev float32 `json:"stddev"`
}

// Kind implements Config.
func (*GaussianNoiseConfig) Kind() string { return "GaussianNoise" }

func (c *GaussianNoiseConfig) build(b *builder) (*graph.Node, error) {
	if !(c.Stddev >= 0) {
		return nil, fmt.Errorf("%w: stddev must be >= 0, got %g", ErrBadConfig, c.Stddev)
	}
	return graph.Add(b.ins[0], gaussianNoise(b.ins[0], c.Stddev)), nil
}

// GaussianNoise adds N(0, stddev²) noise to its input in training, and nothing in
// inference (a regulariser).
func GaussianNoise(in *Layer, name string, stddev float32) *Layer {
	return newLayer(name, &GaussianNoiseConfig{Stddev: stddev}, nil, nil, nil, in)
}

// FlattenConfig is the config of a Flatten layer.
type FlattenConfig struct{}

// Kind implements Config.
func (*FlattenConfig) Kind() string { return "Flatten" }

func (*FlattenConfig) build(b *builder) (*graph.Node, error) {
	s := b.ins[0].Shape()
	if len(s) < 1 {
		return nil, fmt.Errorf("%w: input %q is a scalar", ErrBadConfig, b.layers[0].name)
	}
	n := tensor.Shape(s[1:]).Size()
	if n < 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: every dimension but the first must be known", ErrBadConfig, b.layers[0].name, s)
	}
	return graph.Reshape(b.ins[0], -1, n), nil
}

// Flatten reshapes (batch, d1, d2, ...) to (batch, d1·d2·...), without copying.
func Flatten(in *Layer, name string) *Layer {
	return newLayer(name, &FlattenConfig{}, nil, nil, nil, in)
}

// ReshapeConfig is the config of a Reshape layer.
type ReshapeConfig struct {
	Shape []int `json:"shape"`
}

// Kind implements Config.
func (*ReshapeConfig) Kind() string { return "Reshape" }

func (c *ReshapeConfig) build(b *builder) (*graph.Node, error) {
	if err := checkSize(c.Shape); err != nil {
		return nil, err
	}
	return graph.Reshape(b.ins[0], c.Shape...), nil
}

// Reshape views its input with another shape, the batch included (one dimension
// may be -1: Reshape(net, "r", -1, 7, 7, 16)). No data moves.
func Reshape(in *Layer, name string, shape ...int) *Layer {
	return newLayer(name, &ReshapeConfig{Shape: slices.Clone(shape)}, nil, nil, nil, in)
}

// TransposeConfig is the config of a Transpose layer.
type TransposeConfig struct {
	Perm []int `json:"perm"`
}

// Kind implements Config.
func (*TransposeConfig) Kind() string { return "Transpose" }

func (c *TransposeConfig) build(b *builder) (*graph.Node, error) {
	s := b.ins[0].Shape()
	if len(c.Perm) != len(s) {
		return nil, fmt.Errorf("%w: perm %v for input %q of shape %v: want a permutation of %d axes", ErrBadConfig, c.Perm, b.layers[0].name, s, len(s))
	}
	return graph.Transpose(b.ins[0], c.Perm...), nil
}

// Transpose permutes the axes of its input, the batch included: output axis i is
// input axis perm[i] (Transpose(net, "t", 0, 2, 1) swaps the last two axes of a
// rank-3 input).
func Transpose(in *Layer, name string, perm ...int) *Layer {
	return newLayer(name, &TransposeConfig{Perm: slices.Clone(perm)}, nil, nil, nil, in)
}

// ConcatConfig is the config of a Concat layer.
type ConcatConfig struct {
	Axis int `json:"axis"`
}

// Kind implements Config.
func (*ConcatConfig) Kind() string { return "Concat" }

func (c *ConcatConfig) build(b *builder) (*graph.Node, error) {
	if len(b.ins) < 1 {
		return nil, fmt.Errorf("%w: Concat needs at least one input", ErrBadConfig)
	}
	r := len(b.ins[0].Shape())
	if c.Axis < -r || c.Axis >= r {
		return nil, fmt.Errorf("%w: axis %d out of range for inputs of rank %d", ErrBadConfig, c.Axis, r)
	}
	return graph.Concat(c.Axis, b.ins...), nil
}

// Concat joins its inputs along axis (negative counts from the end: -1 is the
// channels of NHWC images or the features of (batch, features)).
func Concat(name string, axis int, ins ...*Layer) *Layer {
	return newLayer(name, &ConcatConfig{Axis: axis}, nil, nil, nil, ins...)
}

// ElementwiseOp names how an Elementwise layer combines its inputs.
type ElementwiseOp string

// The combinations of Elementwise.
const (
	Add ElementwiseOp = "add"
	Mul ElementwiseOp = "multiply"
	Max ElementwiseOp = "max"
)

// ElementwiseConfig is the config of an Elementwise layer.
type ElementwiseConfig struct {
	Op  ElementwiseOp `json:"op"`
	Act Activation    `json:"act,omitempty"`
}

// Kind implements Config.
func (*ElementwiseConfig) Kind() string { return "Elementwise" }

func (c *ElementwiseConfig) build(b *builder) (*graph.Node, error) {
	if len(b.ins) < 2 {
		return nil, fmt.Errorf("%w: Elementwise needs at least two inputs, got %d", ErrBadConfig, len(b.ins))
	}
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	s0 := b.ins[0].Shape()
	for i, in := range b.ins[1:] {
		if !in.Shape().Equal(s0) {
			return nil, fmt.Errorf("%w: input %q has shape %v, input %q has %v: Elementwise needs equal shapes", ErrBadConfig, b.layers[i+1].name, in.Shape(), b.layers[0].name, s0)
		}
	}
	var out *graph.Node
	switch c.Op {
	case Add:
		out = graph.AddN(b.ins...)
	case Mul, Max:
		f := graph.Mul
		if c.Op == Max {
			f = graph.Maximum
		}
		out = b.ins[0]
		for _, in := range b.ins[1:] {
			out = f(out, in)
		}
	default:
		return nil, fmt.Errorf("%w: op %q, want add, multiply or max", ErrBadConfig, c.Op)
	}
	return c.Act.on(out), nil
}

// Elementwise combines inputs of equal shapes element by element: Add (a
// residual connection), Mul or Max. For an activation after it, set Act with
// Build or follow it with Activate.
func Elementwise(name string, op ElementwiseOp, ins ...*Layer) *Layer {
	return newLayer(name, &ElementwiseConfig{Op: op}, nil, nil, nil, ins...)
}

// ActivationConfig is the config of an Activation layer.
type ActivationConfig struct {
	Act Activation `json:"act"`
}

// Kind implements Config.
func (*ActivationConfig) Kind() string { return "Activation" }

func (c *ActivationConfig) build(b *builder) (*graph.Node, error) {
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	return c.Act.on(b.ins[0]), nil
}

// Activate applies an activation as a layer of its own (after a BatchNorm, say).
func Activate(in *Layer, name string, act Activation) *Layer {
	return newLayer(name, &ActivationConfig{Act: act}, nil, nil, nil, in)
}

// EmbeddingConfig is the config of an Embedding layer.
type EmbeddingConfig struct {
	Vocab int  `json:"vocab"`
	Dim   int  `json:"dim"`
	Init  Init `json:"init"`
}

// Kind implements Config.
func (*EmbeddingConfig) Kind() string { return "Embedding" }

func (c *EmbeddingConfig) build(b *builder) (*graph.Node, error) {
	if c.Vocab <= 0 || c.Dim <= 0 {
		return nil, fmt.Errorf("%w: vocab and dim must be positive, got %d and %d", ErrBadConfig, c.Vocab, c.Dim)
	}
	if b.ins[0].Value().DType != tensor.Int32 {
		return nil, fmt.Errorf("%w: input %q is %v, an Embedding reads int32 ids (use IntInput)", ErrBadConfig, b.layers[0].name, b.ins[0].Value())
	}
	w, err := b.param("embeddings", c.Init, c.Vocab, c.Dim)
	if err != nil {
		return nil, err
	}
	return graph.Gather(w, b.ins[0]), nil
}

// Embedding looks int32 ids of any shape up in a (vocab, dim) table: the output
// has the ids' shape plus dim. Its gradient is sparse, so optimizers update only
// the rows a batch used. Parameter "<name>/embeddings". Options: WInit (default
// uniform(-0.1, 0.1)).
func Embedding(in *Layer, name string, vocab, dim int, opts ...Option) *Layer {
	c := &EmbeddingConfig{Vocab: vocab, Dim: dim}
	return newLayer(name, c, opts, []string{"w_init"}, func(s *settings) error {
		c.Init = orDefault(s.wInit, tensor.Uniform(-0.1, 0.1))
		return nil
	}, in)
}

// PReLUConfig is the config of a PReLU layer.
type PReLUConfig struct {
	Init Init `json:"init"`
}

// Kind implements Config.
func (*PReLUConfig) Kind() string { return "PReLU" }

func (c *PReLUConfig) build(b *builder) (*graph.Node, error) {
	s := b.ins[0].Shape()
	if len(s) < 2 || s[len(s)-1] <= 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v, want (batch, ..., channels) with known channels", ErrBadConfig, b.layers[0].name, s)
	}
	alpha, err := b.param("alpha", c.Init, s[len(s)-1])
	if err != nil {
		return nil, err
	}
	x := b.ins[0]
	// max(0, x) + alpha·min(0, x) = relu(x) - alpha·relu(-x)
	return graph.Sub(graph.Relu(x), graph.Mul(graph.Relu(graph.Neg(x)), alpha)), nil
}

// PReLU is a leaky ReLU whose slope for negative inputs is learnt, one per
// channel (the last axis): max(0, x) + alpha·min(0, x) (He et al. 2015).
// Parameter "<name>/alpha" (channels). Options: WInit (default constant(0.25)).
func PReLU(in *Layer, name string, opts ...Option) *Layer {
	c := &PReLUConfig{}
	return newLayer(name, c, opts, []string{"w_init"}, func(s *settings) error {
		c.Init = orDefault(s.wInit, tensor.Constant(0.25))
		return nil
	}, in)
}

// LambdaConfig is the config of a Lambda layer. JSON holds only the function's
// name: FromJSON needs the function itself, through WithFunc.
type LambdaConfig struct {
	Func string `json:"func"`
	fn   Func
}

// Kind implements Config.
func (*LambdaConfig) Kind() string { return "Lambda" }

func (c *LambdaConfig) build(b *builder) (*graph.Node, error) {
	fn := c.fn
	if fn == nil && b.load != nil {
		fn = b.load.funcs[c.Func]
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: no Go function for %q (pass it to FromJSON with WithFunc)", ErrBadConfig, c.Func)
	}
	out := fn(b.ins...)
	if out == nil {
		return nil, fmt.Errorf("%w: function %q returned a nil node", ErrBadConfig, c.Func)
	}
	if out.Graph() != b.g {
		return nil, fmt.Errorf("%w: function %q returned a node of another graph", ErrBadConfig, c.Func)
	}
	if err := out.Err(); err != nil {
		return nil, fmt.Errorf("function %q: %w", c.Func, err)
	}
	b.params = append(b.params, variablesBetween(out, b.ins)...)
	return out, nil
}

// variablesBetween returns the variables out reads that are not behind the
// nodes of ins: the parameters a Lambda's function made or picked up.
func variablesBetween(out *graph.Node, ins []*graph.Node) []*graph.Node {
	stop := map[*graph.Node]bool{}
	for _, in := range ins {
		stop[in] = true
	}
	seen := map[*graph.Node]bool{}
	var vars []*graph.Node
	var visit func(n *graph.Node)
	visit = func(n *graph.Node) {
		if seen[n] || stop[n] {
			return
		}
		seen[n] = true
		if isVar, _ := n.IsVariable(); isVar {
			vars = append(vars, n)
			return
		}
		for _, x := range n.Inputs() {
			visit(x)
		}
	}
	visit(out)
	slices.SortFunc(vars, func(a, b *graph.Node) int { return a.ID() - b.ID() })
	return vars
}

// Lambda is a layer made of any Go function over graph nodes: the way to bring
// foreign code into a network (the paper's LambdaLayer). Variables the function
// reads (made with g.Variable, say) count as the layer's parameters. The
// function is not saved in JSON: FromJSON takes it back by the layer's name
// with WithFunc(name, fn).
func Lambda(in *Layer, name string, fn func(x *graph.Node) *graph.Node) *Layer {
	var f Func
	if fn != nil {
		f = func(in ...*graph.Node) *graph.Node { return fn(in[0]) }
	}
	return newLayer(name, &LambdaConfig{Func: name, fn: f}, nil, nil, nil, in)
}

// LambdaN is Lambda over several inputs.
func LambdaN(name string, fn Func, ins ...*Layer) *Layer {
	return newLayer(name, &LambdaConfig{Func: name, fn: fn}, nil, nil, nil, ins...)
}

// InputNode makes a graph node that is already built (a placeholder, or the
// output of code written directly against the graph) the input of a network.
// It is an Input layer: in JSON it becomes a placeholder of the node's shape.
func InputNode(name string, n *graph.Node) *Layer {
	if n == nil {
		return &Layer{name: name, cfg: &InputConfig{}, err: &Error{Layer: name, Kind: "Input", Err: fmt.Errorf("%w: nil node", ErrBadConfig)}}
	}
	c := &InputConfig{Shape: slices.Clone(n.Shape()), DType: n.Value().DType.String(), node: n}
	return build(n.Graph(), name, c, false, nil)
}
