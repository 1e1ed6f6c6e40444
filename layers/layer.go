package layers

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Errors that layer errors wrap; test for them with errors.Is.
var (
	// ErrDuplicateName: two different layers of one network have the same name
	// and the later one did not ask for Reuse.
	ErrDuplicateName = errors.New("duplicate layer name")
	// ErrParamShape: a layer's parameter exists in the graph (built by a layer
	// of the same name) with another shape.
	ErrParamShape = errors.New("parameter exists with another shape")
	// ErrBadOption: an option that the layer does not take, or given twice.
	ErrBadOption = errors.New("bad option")
	// ErrBadConfig: a setting out of range (units <= 0, a rate outside [0, 1),
	// an unknown activation) or an input of the wrong shape for the layer.
	ErrBadConfig = errors.New("bad layer config")
)

// Error is the error of a layer that could not be built: it names the layer
// and its kind, and wraps the cause.
type Error struct {
	Layer string // the layer's name
	Kind  string // Dense, Conv2D, ...
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("layers: %s %q: %v", e.Kind, e.Layer, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Config is a layer's kind and settings: everything, besides its inputs and
// name, needed to build it again. It is what a layer's JSON holds. The configs
// of this package are the *Config types (DenseConfig, Conv2DConfig, ...).
type Config interface {
	// Kind names the layer type: "Dense", "Conv2D", ...
	Kind() string
	// build adds the layer's nodes to the graph.
	build(b *builder) (*graph.Node, error)
}

// Layer is one layer of a network and, through its inputs, the network that
// ends with it: the layer functions take layers and return a new one, so a
// network is built by feeding layers into layers, and the last layer stands
// for the whole network (Layers, AllParams, Summary, MarshalJSON).
//
// A Layer is immutable once built. A layer that failed to build carries its
// error (Err), records it in the graph (so compiling fails too), and layers
// built on it fail with the same error: check once at the end.
type Layer struct {
	name   string
	cfg    Config
	inputs []*Layer
	out    *graph.Node
	params []*graph.Node
	reuse  bool
	aux    map[string]*graph.Node
	g      *graph.Graph
	err    error
}

// Name is the layer's unique name; its parameters are named "<name>/<param>".
func (l *Layer) Name() string { return l.name }

// Kind is the layer type ("Dense", "Conv2D", ...).
func (l *Layer) Kind() string {
	if l.cfg == nil {
		return ""
	}
	return l.cfg.Kind()
}

// Config returns the layer's settings (a *DenseConfig for a Dense layer, ...).
// Do not change it.
func (l *Layer) Config() Config { return l.cfg }

// Output is the graph node the layer computes. Use it to go down to the graph:
// add a loss, differentiate, compile.
func (l *Layer) Output() *graph.Node { return l.out }

// Feed pairs the layer's output node, an Input's placeholder, with a value for
// one run: exe.Run(x.Feed(images), y.Feed(labels)).
func (l *Layer) Feed(v *tensor.Tensor) graph.Feed { return graph.Feed{Node: l.out, Value: v} }

// Shape is the shape of the layer's output; -1 marks a dimension known only when
// the network is run (the batch).
func (l *Layer) Shape() tensor.Shape {
	if l.out == nil {
		return nil
	}
	return l.out.Shape()
}

// Inputs are the layers this one reads.
func (l *Layer) Inputs() []*Layer { return slices.Clone(l.inputs) }

// Params are the layer's own parameters (graph variables, trainable or not),
// in a fixed order: weights, then bias, then the rest.
func (l *Layer) Params() []*graph.Node { return slices.Clone(l.params) }

// Aux returns a node a layer builds besides its output, by name: the
// "nce_loss" of a Word2vecEmbedding, say. Nil if there is none. AuxNames lists
// them.
func (l *Layer) Aux(name string) *graph.Node { return l.aux[name] }

// AuxNames lists the names of the layer's Aux nodes, sorted.
func (l *Layer) AuxNames() []string {
	names := make([]string, 0, len(l.aux))
	for k := range l.aux {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Graph is the graph the layer's nodes live in.
func (l *Layer) Graph() *graph.Graph { return l.g }

// Reused reports whether the layer was built with the Reuse option.
func (l *Layer) Reused() bool { return l.reuse }

// Err is the error met building this layer or any layer it reads, or nil.
func (l *Layer) Err() error { return l.err }

// Layers returns every layer of the network that ends with l, l last, in an
// order where each layer comes after its inputs (for a plain stack, the order
// of building).
func (l *Layer) Layers() []*Layer {
	var order []*Layer
	seen := map[*Layer]bool{}
	var visit func(x *Layer)
	visit = func(x *Layer) {
		if x == nil || seen[x] { // nil: the input of a failed layer
			return
		}
		seen[x] = true
		for _, in := range x.inputs {
			visit(in)
		}
		order = append(order, x)
	}
	visit(l)
	return order
}

// Find returns the layer of the network called name (the first, with Reuse),
// or nil.
func (l *Layer) Find(name string) *Layer {
	for _, x := range l.Layers() {
		if x.name == name {
			return x
		}
	}
	return nil
}

// Nodes returns the output node of every layer of the network, in the order of
// Layers.
func (l *Layer) Nodes() []*graph.Node {
	var ns []*graph.Node
	for _, x := range l.Layers() {
		ns = append(ns, x.out)
	}
	return ns
}

// AllParams returns the parameters of every layer of the network, each once
// (shared parameters appear at their first use), in the order of Layers.
func (l *Layer) AllParams() []*graph.Node {
	var ps []*graph.Node
	seen := map[*graph.Node]bool{}
	for _, x := range l.Layers() {
		for _, p := range x.params {
			if !seen[p] {
				seen[p] = true
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// Trainable returns the trainable parameters of the network (AllParams less
// moving averages and other state), what an optimizer should update.
func (l *Layer) Trainable() []*graph.Node {
	var ps []*graph.Node
	for _, p := range l.AllParams() {
		if _, tr := p.IsVariable(); tr {
			ps = append(ps, p)
		}
	}
	return ps
}

// TrainableUnder returns the trainable parameters of the network whose names
// start with prefix: the discriminator's ("d/") or the generator's ("g/") of a
// GAN, each updated by its own optimizer.
func (l *Layer) TrainableUnder(prefix string) []*graph.Node {
	var ps []*graph.Node
	for _, p := range l.Trainable() {
		if strings.HasPrefix(p.Name(), prefix) {
			ps = append(ps, p)
		}
	}
	return ps
}

// InputLayers returns the Input layers of the network, in the order of Layers:
// feed them through their Output nodes.
func (l *Layer) InputLayers() []*Layer {
	var ins []*Layer
	for _, x := range l.Layers() {
		if x.Kind() == "Input" {
			ins = append(ins, x)
		}
	}
	return ins
}

// Build adds a layer of any kind from its config: the general form of the layer
// functions (Dense(in, "fc1", 10) is Build(g, "fc1", &DenseConfig{Units: 10, ...},
// in)). g is needed only for layers without inputs (Input); otherwise it may be
// nil. NewConfig gives the config of any kind by name.
func Build(g *graph.Graph, name string, cfg Config, ins ...*Layer) *Layer {
	return build(g, name, cfg, false, nil, ins...)
}

// builder is what a Config's build method uses: the graph, the layer's name and
// input nodes, and helpers that create parameters.
type builder struct {
	g      *graph.Graph
	name   string
	kind   string
	ins    []*graph.Node
	layers []*Layer
	params []*graph.Node
	aux    map[string]*graph.Node
	load   *loadOpts // set when rebuilding from JSON
}

// param returns the trainable variable "<layer>/<suffix>", creating it with
// init, or the existing one of that name (parameter sharing) when the shape
// matches.
func (b *builder) param(suffix string, init Init, shape ...int) (*graph.Node, error) {
	return b.variable(suffix, init, true, shape)
}

// state is param for variables optimizers leave alone (moving averages).
func (b *builder) state(suffix string, init Init, shape ...int) (*graph.Node, error) {
	return b.variable(suffix, init, false, shape)
}

func (b *builder) variable(suffix string, init Init, trainable bool, shape []int) (*graph.Node, error) {
	full := b.name + "/" + suffix
	size := 1
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("%w: parameter %s would have shape %v: every dimension must be known and positive (is an input dimension unknown?)", ErrBadConfig, full, shape)
		}
		if size > maxParamSize/d {
			return nil, fmt.Errorf("%w: parameter %s would have shape %v, over %d values", ErrBadConfig, full, shape, maxParamSize)
		}
		size *= d
	}
	if v := b.g.VariableByName(full); v != nil {
		if !v.Shape().Equal(shape) {
			return nil, fmt.Errorf("%w: parameter %s has shape %v in the graph (built by an earlier layer %q), this layer needs %v", ErrParamShape, full, v.Shape(), b.name, tensor.Shape(shape))
		}
		if _, tr := v.IsVariable(); tr != trainable {
			return nil, fmt.Errorf("%w: parameter %s exists but trainable=%v, this layer needs trainable=%v", ErrParamShape, full, tr, trainable)
		}
		b.params = append(b.params, v)
		return v, nil
	}
	if b.load != nil {
		if b.load.params+size > b.load.maxParams {
			return nil, fmt.Errorf("%w: parameter %s of shape %v would bring the network's parameters to %d values, over the limit of %d (layers.MaxParams)", ErrBadConfig, full, shape, b.load.params+size, b.load.maxParams)
		}
		b.load.params += size
	}
	in, err := init.resolve(b.load)
	if err != nil {
		return nil, fmt.Errorf("parameter %s: %w", full, err)
	}
	var v *graph.Node
	if trainable {
		v = b.g.Variable(full, in, shape...)
	} else {
		v = b.g.State(full, in, shape...)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	b.params = append(b.params, v)
	return v, nil
}

// inShape checks that input i has the given rank and returns its shape.
func (b *builder) inShape(i, rank int, what string) (tensor.Shape, error) {
	s := b.ins[i].Shape()
	if rank >= 0 && len(s) != rank {
		return nil, fmt.Errorf("%w: input %q has shape %v, want %s", ErrBadConfig, b.layers[i].name, s, what)
	}
	return s, nil
}

// failOp records a layer error in the graph, so that Compile and NewExecutor
// report it even when nobody checks the layer.
type failOp struct{ err error }

func (failOp) Type() string                               { return "Layer" }
func (o failOp) Infer([]graph.Value) (graph.Value, error) { return graph.Value{}, o.err }
func (failOp) Compile(*graph.KernelCtx, []*tensor.Tensor, *tensor.Tensor) (graph.Kernel, error) {
	return nil, errors.New("layers: failOp never compiles")
}

// build is the one place where layers are made: it checks names, inputs and
// duplicates, runs the config's build, and records errors.
func build(g *graph.Graph, name string, cfg Config, reuse bool, load *loadOpts, ins ...*Layer) *Layer {
	kind := "?"
	if cfg != nil {
		kind = cfg.Kind()
	}
	for _, in := range ins {
		if in != nil && in.err != nil {
			return &Layer{name: name, cfg: cfg, inputs: ins, g: in.g, err: in.err}
		}
	}
	if g == nil && len(ins) > 0 && ins[0] != nil {
		g = ins[0].g
	}
	l := &Layer{name: name, cfg: cfg, inputs: slices.Clone(ins), g: g, reuse: reuse}
	fail := func(err error) *Layer {
		l.err = &Error{Layer: name, Kind: kind, Err: err}
		if g != nil && g.Err() == nil {
			g.Apply(failOp{l.err})
		}
		return l
	}
	switch {
	case cfg == nil:
		return fail(fmt.Errorf("%w: nil config", ErrBadConfig))
	case g == nil:
		return fail(fmt.Errorf("%w: no graph (a layer without inputs needs one)", ErrBadConfig))
	case name == "":
		return fail(fmt.Errorf("%w: every layer needs a name", ErrBadConfig))
	}
	for i, in := range ins {
		if in == nil {
			return fail(fmt.Errorf("%w: input %d is nil", ErrBadConfig, i))
		}
		if in.g != g {
			return fail(fmt.Errorf("%w: input %q belongs to another graph", ErrBadConfig, in.name))
		}
	}
	if lo, hi := arity(kind); len(ins) < lo || len(ins) > hi {
		want := fmt.Sprintf("%d to %d", lo, hi)
		switch {
		case lo == hi:
			want = fmt.Sprint(lo)
		case hi == maxInputs:
			want = fmt.Sprintf("at least %d", lo)
		}
		return fail(fmt.Errorf("%w: %s reads %s inputs, got %d", ErrBadConfig, kind, want, len(ins)))
	}
	if err := checkNames(l); err != nil {
		return fail(err)
	}
	b := &builder{g: g, name: name, kind: kind, layers: ins, load: load}
	for _, in := range ins {
		b.ins = append(b.ins, in.out)
	}
	out, err := cfg.build(b)
	if err == nil && out == nil {
		err = errors.New("the layer built no output node")
	}
	if err == nil {
		err = out.Err()
	}
	if err != nil {
		return fail(err)
	}
	l.out, l.params, l.aux = out, b.params, b.aux
	return l
}

// checkNames rejects a network where two different layers share a name, unless
// the later one asked for Reuse.
func checkNames(l *Layer) error {
	byName := map[string]*Layer{}
	for _, x := range l.Layers() {
		prev, ok := byName[x.name]
		if !ok {
			byName[x.name] = x
			continue
		}
		if !x.reuse {
			return fmt.Errorf("%w: %q is already the name of a %s layer of this network; pick another name, or pass Reuse() to share its parameters", ErrDuplicateName, x.name, prev.Kind())
		}
		if prev.Kind() != x.Kind() {
			return fmt.Errorf("%w: %q reuses the name of a %s layer but is a %s", ErrDuplicateName, x.name, prev.Kind(), x.Kind())
		}
	}
	return nil
}

// newLayer parses options and builds: the body of most layer functions.
func newLayer(name string, cfg Config, opts []Option, allowed []string, fill func(s *settings) error, ins ...*Layer) *Layer {
	kind := cfg.Kind()
	s, err := parse(kind, opts, allowed...)
	if err == nil && fill != nil {
		err = fill(s)
	}
	if err != nil {
		var g *graph.Graph
		for _, in := range ins {
			if in != nil {
				if in.err != nil {
					return &Layer{name: name, cfg: cfg, inputs: ins, g: in.g, err: in.err}
				}
				g = in.g
				break
			}
		}
		l := &Layer{name: name, cfg: cfg, inputs: ins, g: g, err: &Error{Layer: name, Kind: kind, Err: err}}
		if g != nil && g.Err() == nil {
			g.Apply(failOp{l.err})
		}
		return l
	}
	if s.mask != nil {
		ins = append(ins, s.mask)
	}
	ins = append(ins, s.states...)
	return build(nil, name, cfg, s.reuse, nil, ins...)
}

const maxInputs = 1 << 20

// maxParamSize bounds one parameter (8 GiB of float32): a larger one is a
// mistake in a config, not a model.
const maxParamSize = 1 << 31

// arity is how many inputs a kind of layer reads.
func arity(kind string) (lo, hi int) {
	switch kind {
	case "Input":
		return 0, 0
	case "Concat", "Lambda":
		return 1, maxInputs
	case "Elementwise":
		return 2, maxInputs
	case "Word2vecEmbedding":
		return 2, 2
	case "RNN", "GRU":
		return 1, 3 // the sequence, a mask, an initial state
	case "LSTM":
		return 1, 4
	}
	return 1, 1
}
