package layers

import (
	"fmt"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// RecurrentConfig is the config of the recurrent layers RNN, LSTM and GRU.
type RecurrentConfig struct {
	kind          string
	Units         int        `json:"units"`
	Act           Activation `json:"act,omitempty"` // RNN only (default tanh)
	ForgetBias    float32    `json:"forget_bias"`   // LSTM only
	ReturnLast    bool       `json:"return_last,omitempty"`
	Bidirectional bool       `json:"bidirectional,omitempty"`
	Masked        bool       `json:"masked,omitempty"`        // the second input is the mask
	InitialState  bool       `json:"initial_state,omitempty"` // the last inputs are h0 (and c0)
	OutputKeep    float32    `json:"output_keep,omitempty"`   // dropout on the outputs (0: none)
	WInit         Init       `json:"w_init"`
}

// Kind implements Config: "RNN", "LSTM" or "GRU".
func (c *RecurrentConfig) Kind() string { return c.kind }

type bidiOpt struct{}

// Bidirectional runs a recurrent layer over the sequence in both directions
// and joins the two outputs along the last axis (2·units). With a Mask, the
// backward direction starts at each sequence's last real step.
func Bidirectional() Option       { return bidiOpt{} }
func (bidiOpt) key() string       { return "bidirectional" }
func (bidiOpt) apply(s *settings) { s.bidi = true }

type stateOpt []*Layer

// InitialState gives a recurrent layer its starting state instead of zeros:
// h (batch, units) for RNN and GRU, h and c for LSTM. With it, a language
// model carries its state from one batch to the next: feed the final state,
// Aux("h") (and Aux("c")), of one step as the initial state of the next.
func InitialState(states ...*Layer) Option { return stateOpt(states) }
func (stateOpt) key() string               { return "initial_state" }
func (o stateOpt) apply(s *settings)       { s.states = o }

type outDropOpt float32

// OutputDropout applies dropout, keeping each output with probability keep, to
// every output of a recurrent layer, in training plans (TensorFlow's
// DropoutWrapper with output_keep_prob). It equals a Dropout layer after the
// layer, but on the fused LSTM it runs in the sequence op's time-major layout,
// so that stacked layers pass their sequences on without transposing them.
func OutputDropout(keep float32) Option { return outDropOpt(keep) }
func (outDropOpt) key() string          { return "output_dropout" }
func (o outDropOpt) apply(s *settings)  { s.outKeep = float32(o) }

type forgetOpt float32

// ForgetBias sets the constant an LSTM adds to its forget gate (default 1, as
// TensorFlow's LSTM cells: remember by default early in training).
func ForgetBias(b float32) Option     { return forgetOpt(b) }
func (forgetOpt) key() string         { return "forget_bias" }
func (o forgetOpt) apply(s *settings) { s.forgetBias = float32(o) }

func (c *RecurrentConfig) build(b *builder) (*graph.Node, error) {
	if c.Units <= 0 {
		return nil, fmt.Errorf("%w: units must be positive, got %d", ErrBadConfig, c.Units)
	}
	if c.OutputKeep < 0 || c.OutputKeep > 1 {
		return nil, fmt.Errorf("%w: output_keep must be in (0, 1], got %g", ErrBadConfig, c.OutputKeep)
	}
	if err := c.Act.check(); err != nil {
		return nil, err
	}
	s, err := b.inShape(0, 3, "(batch, steps, features)")
	if err != nil {
		return nil, err
	}
	if s[1] <= 0 || s[2] <= 0 {
		return nil, fmt.Errorf("%w: input %q has shape %v: the steps and features must be known (the graph is unrolled over the steps)", ErrBadConfig, b.layers[0].name, s)
	}
	if s[1] > maxSteps {
		return nil, fmt.Errorf("%w: input %q has shape %v: %d steps, at most %d (the graph is unrolled over the steps)", ErrBadConfig, b.layers[0].name, s, s[1], maxSteps)
	}
	nStates := 1
	if c.kind == "LSTM" {
		nStates = 2
	}
	want := 1
	if c.Masked {
		want++
	}
	if c.InitialState {
		want += nStates
	}
	if len(b.ins) != want {
		return nil, fmt.Errorf("%w: %d inputs, want %d (the sequence, then the mask if masked, then the initial state if given)", ErrBadConfig, len(b.ins), want)
	}
	var mask *graph.Node
	if c.Masked {
		mask = b.ins[1]
		ms := mask.Shape()
		if mask.Value().DType != tensor.Float32 || len(ms) != 2 || (ms[1] >= 0 && ms[1] != s[1]) {
			return nil, fmt.Errorf("%w: mask %q is %v, want float32 (batch, %d) like the input %v", ErrBadConfig, b.layers[1].name, mask.Value(), s[1], s)
		}
	}
	var init []*graph.Node
	if c.InitialState {
		if c.Bidirectional {
			return nil, fmt.Errorf("%w: an initial state is for one direction; a bidirectional layer starts from zeros", ErrBadConfig)
		}
		init = b.ins[len(b.ins)-nStates:]
		for i, st := range init {
			ss := st.Shape()
			if st.Value().DType != tensor.Float32 || len(ss) != 2 || (ss[1] >= 0 && ss[1] != c.Units) {
				return nil, fmt.Errorf("%w: initial state %q is %v, want float32 (batch, %d)", ErrBadConfig, b.layers[len(b.ins)-nStates+i].name, st.Value(), c.Units)
			}
		}
	}
	b.aux = map[string]*graph.Node{}
	if !c.Bidirectional {
		return c.direction(b, "", b.ins[0], mask, init, s[1], s[2], false)
	}
	if c.OutputKeep > 0 && c.OutputKeep < 1 {
		return nil, fmt.Errorf("%w: output_dropout is for one direction; put a Dropout layer after a bidirectional one", ErrBadConfig)
	}
	fw, err := c.direction(b, "fw/", b.ins[0], mask, nil, s[1], s[2], false)
	if err != nil {
		return nil, err
	}
	bw, err := c.direction(b, "bw/", b.ins[0], mask, nil, s[1], s[2], true)
	if err != nil {
		return nil, err
	}
	return graph.Concat(-1, fw, bw), nil
}

// maxSteps bounds the steps a recurrent layer unrolls over: each is a few
// graph nodes, and a shape read from a file must not make millions of them.
const maxSteps = 1 << 16

// direction unrolls the layer over steps steps, forwards or backwards, and
// returns the output sequence (batch, steps, units) or the last state.
func (c *RecurrentConfig) direction(b *builder, prefix string, x, mask *graph.Node, init []*graph.Node, steps, in int, backward bool) (*graph.Node, error) {
	h := c.Units
	var step func(t int, xt, hPrev, cPrev *graph.Node) (hNew, cNew *graph.Node)
	var fused func(h0, c0 *graph.Node) (seq, hN, cN *graph.Node) // seq time-major
	switch c.kind {
	case "RNN":
		w, err := b.param(prefix+"W", c.WInit, in+h, h)
		if err != nil {
			return nil, err
		}
		bias, err := b.param(prefix+"b", Init{tensor.Zeros()}, h)
		if err != nil {
			return nil, err
		}
		wx, wh := graph.Slice(w, 0, 0, in), graph.Slice(w, 0, in, in+h)
		act := c.Act
		if act == Linear {
			act = Tanh
		}
		xw := project(x, wx, bias, steps, in, h)
		step = func(t int, _, hPrev, _ *graph.Node) (*graph.Node, *graph.Node) {
			return act.on(graph.Add(xw(t), graph.MatMul(hPrev, wh))), nil
		}
	case "LSTM":
		w, err := b.param(prefix+"W", c.WInit, in+h, 4*h)
		if err != nil {
			return nil, err
		}
		bias, err := b.param(prefix+"b", Init{tensor.Zeros()}, 4*h)
		if err != nil {
			return nil, err
		}
		step = func(t int, xt, hPrev, cPrev *graph.Node) (*graph.Node, *graph.Node) {
			return graph.LSTMState(graph.LSTMCell(xt, hPrev, cPrev, w, bias, c.ForgetBias))
		}
		if mask == nil && !backward {
			// The engine's fused sequence op: one product for the input
			// projections of every step. It reads time-major sequences.
			fused = func(h0, c0 *graph.Node) (seq, hN, cN *graph.Node) {
				hs, hN, cN := graph.LSTMOutputs(graph.LSTM(graph.Transpose(x, 1, 0, 2), h0, c0, w, bias, c.ForgetBias))
				return hs, hN, cN
			}
		}
	case "GRU":
		// TensorFlow's GRUCell: r, u = σ([x, h]·Wg + bg); n = tanh([x, r⊙h]·Wc + bc);
		// h' = u⊙h + (1-u)⊙n.
		wg, err := b.param(prefix+"gates/W", c.WInit, in+h, 2*h)
		if err != nil {
			return nil, err
		}
		bg, err := b.param(prefix+"gates/b", Init{tensor.Ones()}, 2*h)
		if err != nil {
			return nil, err
		}
		wc, err := b.param(prefix+"candidate/W", c.WInit, in+h, h)
		if err != nil {
			return nil, err
		}
		bc, err := b.param(prefix+"candidate/b", Init{tensor.Zeros()}, h)
		if err != nil {
			return nil, err
		}
		wgx, wgh := graph.Slice(wg, 0, 0, in), graph.Slice(wg, 0, in, in+h)
		wcx, wch := graph.Slice(wc, 0, 0, in), graph.Slice(wc, 0, in, in+h)
		xg, xc := project(x, wgx, bg, steps, in, 2*h), project(x, wcx, bc, steps, in, h)
		step = func(t int, _, hPrev, _ *graph.Node) (*graph.Node, *graph.Node) {
			gates := graph.Sigmoid(graph.Add(xg(t), graph.MatMul(hPrev, wgh)))
			r, u := graph.Slice(gates, 1, 0, h), graph.Slice(gates, 1, h, 2*h)
			n := graph.Tanh(graph.Add(xc(t), graph.MatMul(graph.Mul(r, hPrev), wch)))
			return graph.Add(n, graph.Mul(u, graph.Sub(hPrev, n))), nil
		}
	default:
		return nil, fmt.Errorf("%w: unknown recurrent kind %q", ErrBadConfig, c.kind)
	}
	// The zero state, shaped (batch, units) with the batch known only at run time.
	zero := batchZeros(x, h)
	hs, cs := zero, zero
	if len(init) > 0 {
		hs = init[0]
		if len(init) > 1 {
			cs = init[1]
		}
	}
	drop := func(x *graph.Node) *graph.Node {
		if c.OutputKeep > 0 && c.OutputKeep < 1 {
			return graph.Dropout(x, c.OutputKeep)
		}
		return x
	}
	if fused != nil {
		seq, hN, cN := fused(hs, cs)
		b.aux[prefix+"h"], b.aux[prefix+"c"] = hN, cN
		if c.ReturnLast {
			return drop(hN), nil
		}
		return graph.Transpose(drop(seq), 1, 0, 2), nil
	}
	outs := make([]*graph.Node, steps)
	for i := 0; i < steps; i++ {
		t := i
		if backward {
			t = steps - 1 - i
		}
		var xt *graph.Node
		if c.kind == "LSTM" { // the others read their projection of x_t
			xt = graph.Reshape(graph.Slice(x, 1, t, t+1), -1, in)
		}
		hn, cn := step(t, xt, hs, cs)
		if mask != nil {
			// A masked step keeps the state and outputs zeros: h = h + m·(h' - h).
			m := graph.Slice(mask, 1, t, t+1)
			hn = graph.Add(hs, graph.Mul(m, graph.Sub(hn, hs)))
			if cn != nil {
				cn = graph.Add(cs, graph.Mul(m, graph.Sub(cn, cs)))
			}
			outs[t] = graph.Mul(m, hn)
		} else {
			outs[t] = hn
		}
		hs, cs = hn, cn
	}
	b.aux[prefix+"h"] = hs
	if cs != nil && c.kind == "LSTM" {
		b.aux[prefix+"c"] = cs
	}
	if c.ReturnLast {
		return drop(hs), nil
	}
	for t, o := range outs {
		outs[t] = graph.Reshape(o, -1, 1, h)
	}
	return drop(graph.Concat(1, outs...)), nil
}

// project computes x_t·w + b for every step at once, one product over
// (batch·steps) rows instead of one small product per step, and returns the
// step-t part, shaped (batch, width).
func project(x, w, b *graph.Node, steps, in, width int) func(t int) *graph.Node {
	all := graph.Reshape(graph.BiasAdd(graph.MatMul(graph.Reshape(x, -1, in), w), b), -1, steps, width)
	return func(t int) *graph.Node { return graph.Reshape(graph.Slice(all, 1, t, t+1), -1, width) }
}

// rnnOptions are the options every recurrent layer takes.
func rnnOptions() []string {
	return []string{"mask", "initial_state", "return_last", "bidirectional", "w_init", "output_dropout"}
}

func newRecurrent(in *Layer, name, kind string, units int, opts []Option, allowed ...string) *Layer {
	c := &RecurrentConfig{kind: kind, Units: units}
	return newLayer(name, c, opts, append(allowed, rnnOptions()...), func(s *settings) error {
		c.Act, c.ReturnLast, c.Bidirectional = s.act, s.last, s.bidi
		c.Masked, c.InitialState = s.mask != nil, len(s.states) > 0
		if n := len(s.states); n > 0 && n != map[bool]int{true: 2, false: 1}[kind == "LSTM"] {
			return fmt.Errorf("%w: %s takes %d initial state layers, got %d", ErrBadOption, kind, map[bool]int{true: 2, false: 1}[kind == "LSTM"], n)
		}
		c.WInit = orDefault(s.wInit, tensor.GlorotUniform())
		if s.has("output_dropout") {
			if s.outKeep <= 0 || s.outKeep > 1 {
				return fmt.Errorf("%w: OutputDropout keep must be in (0, 1], got %g", ErrBadOption, s.outKeep)
			}
			c.OutputKeep = s.outKeep
		}
		if kind == "LSTM" {
			c.ForgetBias = 1
			if s.has("forget_bias") {
				c.ForgetBias = s.forgetBias
			}
		}
		return nil
	}, in)
}

// RNN is a simple recurrent layer over sequences (batch, steps, features):
// h_t = act(x_t·Wx + h_{t-1}·Wh + b), act tanh unless an Activation is given.
// It outputs every state, (batch, steps, units), or the last with ReturnLast.
// The graph is unrolled over the steps, so their number must be known; for
// sequences of varying length, pad them and pass a Mask. Parameters
// "<name>/W" (features+units, units: the input rows, then the recurrent rows)
// and "<name>/b"; with Bidirectional, "<name>/fw/..." and "<name>/bw/...".
// The final state is Aux("h") (Aux("fw/h") and Aux("bw/h") when
// bidirectional; LSTMs add "c"). Options: Mask, InitialState, ReturnLast,
// Bidirectional, WInit, OutputDropout, an Activation.
func RNN(in *Layer, name string, units int, opts ...Option) *Layer {
	return newRecurrent(in, name, "RNN", units, opts, "act")
}

// LSTM is a long short-term memory layer (Hochreiter and Schmidhuber 1997):
// gates i, f, g, o in TensorFlow's order, ForgetBias (default 1) added to the
// forget gate. It runs on the engine's fused sequence op (one product for the
// input projections of all steps), or on its fused cell step by step when
// masked or running backwards. Outputs, masks and directions as RNN.
// Parameters "<name>/W" (features+units, 4·units) and "<name>/b" (4·units).
// Options: Mask, InitialState (h and c), ReturnLast, Bidirectional, WInit,
// ForgetBias, OutputDropout.
func LSTM(in *Layer, name string, units int, opts ...Option) *Layer {
	return newRecurrent(in, name, "LSTM", units, opts, "forget_bias")
}

// GRU is a gated recurrent unit layer (Cho et al. 2014) as TensorFlow's
// GRUCell: r, u = σ([x, h]·Wg + bg), n = tanh([x, r⊙h]·Wc + bc),
// h' = u⊙h + (1-u)⊙n. Outputs, masks and directions as RNN. Parameters
// "<name>/gates/W" (features+units, 2·units), "<name>/gates/b" (starts at 1),
// "<name>/candidate/W" (features+units, units), "<name>/candidate/b". Options:
// Mask, InitialState, ReturnLast, Bidirectional, WInit.
func GRU(in *Layer, name string, units int, opts ...Option) *Layer {
	return newRecurrent(in, name, "GRU", units, opts)
}

// TimeMergeConfig is the config of the layer TimeDistributed puts before the
// layers it wraps: (batch, steps, ...) to (batch·steps, ...).
type TimeMergeConfig struct{}

// Kind implements Config.
func (*TimeMergeConfig) Kind() string { return "TimeMerge" }

func (*TimeMergeConfig) build(b *builder) (*graph.Node, error) {
	s := b.ins[0].Shape()
	if len(s) < 3 || !tensor.Shape(s[1:]).Known() {
		return nil, fmt.Errorf("%w: input %q has shape %v, want (batch, steps, ...) with all but the batch known", ErrBadConfig, b.layers[0].name, s)
	}
	return graph.Reshape(b.ins[0], append([]int{-1}, s[2:]...)...), nil
}

// TimeSplitConfig is the config of the layer TimeDistributed puts after the
// layers it wraps: (batch·steps, ...) back to (batch, steps, ...).
type TimeSplitConfig struct {
	Steps int `json:"steps"`
}

// Kind implements Config.
func (*TimeSplitConfig) Kind() string { return "TimeSplit" }

func (c *TimeSplitConfig) build(b *builder) (*graph.Node, error) {
	s := b.ins[0].Shape()
	if c.Steps <= 0 || len(s) < 2 || !tensor.Shape(s[1:]).Known() {
		return nil, fmt.Errorf("%w: input %q has shape %v and steps %d: want (batch·steps, ...) with all but the first axis known", ErrBadConfig, b.layers[0].name, s, c.Steps)
	}
	shape := append([]int{-1, c.Steps}, s[1:]...)
	if err := checkSize(shape); err != nil {
		return nil, err
	}
	return graph.Reshape(b.ins[0], shape...), nil
}

// TimeDistributed applies the layers that body builds to every step of a
// sequence (batch, steps, ...), with the same parameters at every step: a
// TimeMerge layer called "<name>/merge" folds the steps into the batch, body
// builds on it, and a TimeSplit layer called name unfolds the result. In JSON
// the three parts are ordinary layers, so the network rebuilds without body.
//
//	out := layers.TimeDistributed(seq, "td", func(x *layers.Layer) *layers.Layer {
//		return layers.Dense(x, "td/fc", 10, layers.Softmax)
//	})
func TimeDistributed(in *Layer, name string, body func(x *Layer) *Layer) *Layer {
	merged := newLayer(name+"/merge", &TimeMergeConfig{}, nil, nil, nil, in)
	if merged.err != nil {
		return merged
	}
	if body == nil {
		return newLayer(name, &TimeSplitConfig{}, nil, nil, func(*settings) error {
			return fmt.Errorf("%w: nil body", ErrBadConfig)
		}, merged)
	}
	return newLayer(name, &TimeSplitConfig{Steps: in.Shape()[1]}, nil, nil, nil, body(merged))
}

// SequenceMaskConfig is the config of a SequenceMask layer.
type SequenceMaskConfig struct {
	Steps int `json:"steps"`
}

// Kind implements Config.
func (*SequenceMaskConfig) Kind() string { return "SequenceMask" }

func (c *SequenceMaskConfig) build(b *builder) (*graph.Node, error) {
	if c.Steps <= 0 {
		return nil, fmt.Errorf("%w: steps must be positive, got %d", ErrBadConfig, c.Steps)
	}
	if v := b.ins[0].Value(); v.DType != tensor.Int32 || len(v.Shape) != 1 {
		return nil, fmt.Errorf("%w: lengths %q are %v, want int32 (batch,)", ErrBadConfig, b.layers[0].name, v)
	}
	return b.g.Apply(&seqMaskOp{steps: c.Steps}, b.ins[0]), nil
}

// SequenceMask turns int32 sequence lengths (batch,) into the float32 mask
// (batch, steps) that recurrent layers take (Mask): 1 for the first length
// steps of each sequence, 0 for the padding after.
//
//	lengths := layers.IntInput(g, "lengths", -1)
//	mask := layers.SequenceMask(lengths, "mask", 35)
//	net = layers.LSTM(net, "lstm", 200, layers.Mask(mask))
func SequenceMask(lengths *Layer, name string, steps int) *Layer {
	return newLayer(name, &SequenceMaskConfig{Steps: steps}, nil, nil, nil, lengths)
}
