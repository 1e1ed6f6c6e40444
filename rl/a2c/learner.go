package a2c

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/vtrace"
	"github.com/tlgo/tl/tensor"
)

// Net builds the network on an observation input ([-1, obs...]): logits with one
// unit per action, and a value with one unit.
type Net func(obs *layers.Layer) (logits, value *layers.Layer)

// Config sets up a learner. Zero values take the defaults given.
type Config struct {
	ObsShape   []int
	NumActions int
	Net        Net
	// Unroll is T, the steps per trajectory; Batch the trajectories per update.
	Unroll, Batch int
	// LR is Adam's learning rate (default 1e-3).
	LR float32
	// Discount is γ (default 0.99).
	Discount float32
	// EntropyCost weighs the entropy bonus (default 0.01); ValueCost the
	// critic's loss (default 0.5). A negative value means 0.
	EntropyCost, ValueCost float32
	// ClipNorm clips the gradients by global norm (default 40; negative: none).
	ClipNorm float32
	// Clip holds V-trace's ρ̄ and c̄ (default 1 and 1).
	Clip vtrace.Clip
	// NoCorrection takes every importance ratio as 1: the plain on-policy
	// actor-critic, whatever the players' lag (for comparison).
	NoCorrection bool
	// Seed initialises the weights; Threads sizes the kernels' pool (0: all
	// cores).
	Seed    uint64
	Threads int
	// Device, when set, runs the learner's forward pass and training step on
	// it (a GPU: cuda.Open's device); the weights live there and come back to
	// the host for Params. Nil: the CPU.
	Device graph.Device
}

func (c *Config) defaults() error {
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Discount == 0 {
		c.Discount = 0.99
	}
	if c.EntropyCost == 0 {
		c.EntropyCost = 0.01
	}
	if c.ValueCost == 0 {
		c.ValueCost = 0.5
	}
	c.EntropyCost, c.ValueCost = max(c.EntropyCost, 0), max(c.ValueCost, 0)
	if c.ClipNorm == 0 {
		c.ClipNorm = 40
	}
	if c.Clip == (vtrace.Clip{}) {
		c.Clip = vtrace.Clip{RhoBar: 1, CBar: 1}
	}
	switch {
	case c.Net == nil:
		return errors.New("a2c: Config.Net is nil")
	case len(c.ObsShape) == 0 || env.Size(c.ObsShape) <= 0:
		return fmt.Errorf("a2c: observation shape %v, want positive sizes", c.ObsShape)
	case c.NumActions < 2:
		return fmt.Errorf("a2c: %d actions, want at least 2", c.NumActions)
	case c.Unroll < 1 || c.Batch < 1:
		return fmt.Errorf("a2c: unroll %d and batch %d, want at least 1 each", c.Unroll, c.Batch)
	}
	return nil
}

// build makes the network on g with a batch of -1.
func build(g *graph.Graph, c *Config) (x, logits, value *layers.Layer, err error) {
	x = layers.Input(g, "obs", append([]int{-1}, c.ObsShape...)...)
	logits, value = c.Net(x)
	if err := logits.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("a2c: building the network: %w", err)
	}
	if err := value.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("a2c: building the network: %w", err)
	}
	if s := logits.Shape(); len(s) != 2 || s[1] != c.NumActions {
		return nil, nil, nil, fmt.Errorf("a2c: the network's logits have shape %v, want [-1 %d]", s, c.NumActions)
	}
	if s := value.Shape(); len(s) != 2 || s[1] != 1 {
		return nil, nil, nil, fmt.Errorf("a2c: the network's value has shape %v, want [-1 1]", s)
	}
	return x, logits, value, nil
}

// whole joins the heads into one layer ([-1, actions+1]: the logits, then the
// value), the network a model store saves with every parameter.
func whole(logits, value *layers.Layer) (*layers.Layer, error) {
	out := layers.Concat("policy_value", 1, logits, value)
	if err := out.Err(); err != nil {
		return nil, fmt.Errorf("a2c: joining the heads: %w", err)
	}
	return out, nil
}

// Params is a snapshot of the network's weights at a version.
type Params struct {
	Version int64
	Names   []string
	Values  [][]float32
}

// Stats describe one update.
type Stats struct {
	Version    int64   // the version after the update
	PolicyLoss float32 // −mean(A·log π)
	ValueLoss  float32 // ½·mean((V − v)²)
	Entropy    float32 // mean entropy of π
	GradNorm   float32 // before clipping
	MeanRho    float32 // mean truncated importance weight
	MeanLag    float64 // mean of (learner version − trajectory version)
}

// Learner trains the network on batches of trajectories.
type Learner struct {
	cfg     Config
	g       *graph.Graph
	pool    *par.Pool
	x       *layers.Layer
	net     *layers.Layer
	vars    []*graph.Node
	fwd     runner
	trainX  runner
	od      *graph.OnDevice // the device's copy of the variables, or nil
	w, vt   *graph.Node
	outs    [4]*graph.Node // policy loss, value loss, negative entropy, grad norm
	version int64
	osz     int

	// Buffers, sized once.
	allObs, trObs *tensor.Tensor
	wT, vtT       *tensor.Tensor
	logp, vals    []float32 // per trajectory step, T+1 values
	lr, rew, disc []float32
	vs, adv       []float32
	logits        []float32
	pullErr       error // a failed Pull in Params, reported by the next Update
}

// runner is a graph.Executor or a graph.DeviceExecutor.
type runner = graph.Runner

// New builds the learner's graph and compiles nothing yet.
func New(cfg Config) (*Learner, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	l := &Learner{cfg: cfg, g: graph.New(cfg.Seed), osz: env.Size(cfg.ObsShape)}
	x, logits, value, err := build(l.g, &l.cfg)
	if err != nil {
		return nil, err
	}
	l.x = x
	if l.net, err = whole(logits, value); err != nil {
		return nil, err
	}
	B, T, A := cfg.Batch, cfg.Unroll, cfg.NumActions
	n := float32(B * T)
	g := l.g
	l.w = g.Placeholder("pg_weights", tensor.Float32, -1, A)
	l.vt = g.Placeholder("value_targets", tensor.Float32, -1, 1)
	loss, pg, vl, negEnt := lossNodes(logits.Output(), value.Output(), l.w, l.vt, n, cfg.ValueCost, cfg.EntropyCost)
	l.vars = slices.Concat(logits.Trainable(), value.Trainable())
	l.vars = uniq(l.vars)
	opt := optim.NewAdam(g, "adam", cfg.LR, 0.9, 0.999, 1e-5)
	clip := max(cfg.ClipNorm, 0)
	step, err := optim.MinimizeWith(opt, loss, optim.MinimizeOptions{Vars: l.vars, ClipNorm: clip})
	if err != nil {
		return nil, fmt.Errorf("a2c: the loss: %w", err)
	}
	gn := step.GradNorm
	if gn == nil {
		gn = graph.GlobalNorm(graph.ZerosLike(pg))
	}
	l.outs = [4]*graph.Node{pg, vl, negEnt, gn}
	l.pool = par.NewPool(cfg.Threads)
	if cfg.Device != nil {
		l.od = g.OnDevice(cfg.Device)
		l.fwd = l.od.NewExecutor(graph.DeviceOptions{}, logits.Output(), value.Output())
		l.trainX = l.od.NewExecutor(graph.DeviceOptions{Training: true}, pg, vl, negEnt, gn, step.Update)
	} else {
		fwd, err := g.NewExecutor(graph.Options{Pool: l.pool}, logits.Output(), value.Output())
		if err != nil {
			return nil, fmt.Errorf("a2c: %w", err)
		}
		trainX, err := g.NewExecutor(graph.Options{Pool: l.pool, Training: true}, pg, vl, negEnt, gn, step.Update)
		if err != nil {
			fwd.Close()
			return nil, fmt.Errorf("a2c: %w", err)
		}
		l.fwd, l.trainX = fwd, trainX
	}
	l.allObs = tensor.New(tensor.Float32, append([]int{B * (T + 1)}, cfg.ObsShape...)...)
	l.trObs = tensor.New(tensor.Float32, append([]int{B * T}, cfg.ObsShape...)...)
	l.wT = tensor.New(tensor.Float32, B*T, A)
	l.vtT = tensor.New(tensor.Float32, B*T, 1)
	l.logp = make([]float32, B*(T+1))
	l.vals = make([]float32, B*(T+1))
	l.lr, l.rew, l.disc = make([]float32, T), make([]float32, T), make([]float32, T)
	l.vs, l.adv = make([]float32, T), make([]float32, T)
	return l, nil
}

func uniq(ns []*graph.Node) []*graph.Node {
	seen := map[*graph.Node]bool{}
	out := ns[:0]
	for _, n := range ns {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Config returns the configuration, defaults filled in.
func (l *Learner) Config() Config { return l.cfg }

// Version is the number of updates applied (and of the Params it would give).
func (l *Learner) Version() int64 { return l.version }

// Network is the whole network as one layer, the policy's logits and the value
// side by side ([-1, actions+1]): what netstore.Save stores (every parameter),
// and what a player rebuilds from the store and turns into Params with
// ParamsOf.
func (l *Learner) Network() *layers.Layer { return l.net }

// SetVersion sets the version counter, for a learner resumed from a saved
// version (its weights loaded with Load).
func (l *Learner) SetVersion(v int64) { l.version = v }

// Load copies a snapshot's weights into the learner (a resumed run); the
// optimizer's moments start afresh.
func (l *Learner) Load(s *Params) error {
	byName := map[string]*graph.Node{}
	for _, v := range l.vars {
		byName[v.Name()] = v
	}
	if err := load(byName, s); err != nil {
		return fmt.Errorf("a2c: learner: %w", err)
	}
	if l.od != nil {
		if err := l.od.PushVars(l.vars...); err != nil {
			return fmt.Errorf("a2c: learner: weights to the device: %w", err)
		}
	}
	l.version = s.Version
	return nil
}

// ParamsOf snapshots any network's parameters (a network loaded from the model
// store, say) as Params of the given version.
func ParamsOf(net *layers.Layer, version int64) *Params {
	ps := net.AllParams()
	p := &Params{Version: version, Names: make([]string, len(ps)), Values: make([][]float32, len(ps))}
	for i, v := range ps {
		p.Names[i] = v.Name()
		p.Values[i] = slices.Clone(v.Tensor().Float32s())
	}
	return p
}

func load(vars map[string]*graph.Node, s *Params) error {
	if len(s.Names) != len(s.Values) {
		return fmt.Errorf("the snapshot of version %d has %d names and %d values", s.Version, len(s.Names), len(s.Values))
	}
	for i, name := range s.Names {
		v := vars[name]
		if v == nil {
			return fmt.Errorf("the snapshot of version %d has a variable %q this network lacks", s.Version, name)
		}
		dst := v.Tensor().Float32s()
		if len(dst) != len(s.Values[i]) {
			return fmt.Errorf("variable %q has %d values in the snapshot of version %d, %d here", name, len(s.Values[i]), s.Version, len(dst))
		}
		copy(dst, s.Values[i])
	}
	return nil
}

// Close stops the kernels' pool.
func (l *Learner) Close() {
	if l.od != nil {
		l.od.Close() // its executors' plans with it
	} else {
		l.fwd.(*graph.Executor).Close()
		l.trainX.(*graph.Executor).Close()
	}
	l.pool.Close()
}

// Pull brings the device's weights to the host (Network's and Params' copies);
// on the CPU it does nothing. Params pulls by itself.
func (l *Learner) Pull() error {
	if l.od == nil {
		return nil
	}
	if err := l.od.Pull(); err != nil {
		return fmt.Errorf("a2c: learner: weights from the device: %w", err)
	}
	return nil
}

// Params snapshots the weights at the current version (copies). On a device
// it pulls them first; a failure there leaves the last pulled copies (and is
// reported by the next Update).
func (l *Learner) Params() *Params {
	if err := l.Pull(); err != nil {
		l.pullErr = err
	}
	p := &Params{Version: l.version, Names: make([]string, len(l.vars)), Values: make([][]float32, len(l.vars))}
	for i, v := range l.vars {
		p.Names[i] = v.Name()
		p.Values[i] = slices.Clone(v.Tensor().Float32s())
	}
	return p
}

// Update trains on one batch of cfg.Batch trajectories of cfg.Unroll steps.
// A trajectory from a version newer than the learner's is refused.
func (l *Learner) Update(batch []*Trajectory) (Stats, error) {
	c := &l.cfg
	B, T, A, osz := c.Batch, c.Unroll, c.NumActions, l.osz
	if len(batch) != B {
		return Stats{}, fmt.Errorf("a2c: batch of %d trajectories, want %d", len(batch), B)
	}
	if err := l.pullErr; err != nil {
		l.pullErr = nil
		return Stats{}, err
	}
	var lag float64
	all, tr := l.allObs.Float32s(), l.trObs.Float32s()
	for i, tj := range batch {
		if err := tj.Validate(T, osz, A); err != nil {
			return Stats{}, fmt.Errorf("a2c: batch item %d: %w", i, err)
		}
		if tj.Version > l.version {
			return Stats{}, fmt.Errorf("a2c: batch item %d comes from policy version %d, newer than the learner's %d", i, tj.Version, l.version)
		}
		lag += float64(l.version - tj.Version)
		copy(all[i*(T+1)*osz:], tj.Obs)
		copy(tr[i*T*osz:], tj.Obs[:T*osz])
	}
	out, err := l.fwd.Run(l.x.Feed(l.allObs))
	if err != nil {
		return Stats{}, fmt.Errorf("a2c: forward pass: %w", err)
	}
	logits, values := out[0].Float32s(), out[1].Float32s()
	w, vt := l.wT.Float32s(), l.vtT.Float32s()
	clear(w)
	var rhoSum float32
	for i, tj := range batch {
		for t := 0; t <= T; t++ {
			l.vals[t] = values[i*(T+1)+t]
		}
		for t := 0; t < T; t++ {
			row := logits[(i*(T+1)+t)*A : (i*(T+1)+t+1)*A]
			lp := logSoftmaxAt(row, int(tj.Actions[t]))
			l.lr[t] = 0
			if !c.NoCorrection {
				l.lr[t] = lp - tj.LogProbs[t]
			}
			l.rew[t] = tj.Rewards[t]
			l.disc[t] = c.Discount
			if tj.Dones[t] {
				l.disc[t] = 0
			}
		}
		m, err := vtrace.Compute(vtrace.Unroll{LogRhos: l.lr, Rewards: l.rew, Discounts: l.disc, Values: l.vals[:T+1]}, c.Clip, l.vs, l.adv)
		if err != nil {
			return Stats{}, fmt.Errorf("a2c: %w", err)
		}
		rhoSum += m
		for t := 0; t < T; t++ {
			k := i*T + t
			w[k*A+int(tj.Actions[t])] = l.adv[t]
			vt[k] = l.vs[t]
		}
	}
	res, err := l.trainX.Run(l.x.Feed(l.trObs), graph.Feed{Node: l.w, Value: l.wT}, graph.Feed{Node: l.vt, Value: l.vtT})
	if err != nil {
		return Stats{}, fmt.Errorf("a2c: training step: %w", err)
	}
	l.version++
	st := Stats{
		Version:    l.version,
		PolicyLoss: res[0].Float32s()[0],
		ValueLoss:  res[1].Float32s()[0],
		Entropy:    -res[2].Float32s()[0],
		GradNorm:   res[3].Float32s()[0],
		MeanRho:    rhoSum / float32(B),
		MeanLag:    lag / float64(B),
	}
	if math.IsNaN(float64(st.PolicyLoss)) || math.IsNaN(float64(st.ValueLoss)) {
		return st, fmt.Errorf("a2c: update %d: the loss is NaN (policy %v, value %v)", l.version, st.PolicyLoss, st.ValueLoss)
	}
	return st, nil
}

// lossNodes builds the actor-critic loss over n samples: w holds each sample's
// advantage at its action's column (0 elsewhere), vt the value targets.
func lossNodes(logits, value, w, vt *graph.Node, n, valueCost, entropyCost float32) (loss, pg, vl, negEnt *graph.Node) {
	logp := graph.LogSoftmax(logits)
	p := graph.Softmax(logits)
	pg = graph.Scale(graph.ReduceSum(graph.Mul(w, logp)), -1/n)
	negEnt = graph.Scale(graph.ReduceSum(graph.Mul(p, logp)), 1/n)
	vl = graph.Scale(graph.ReduceSum(graph.Square(graph.Sub(value, vt))), 0.5/n)
	loss = graph.AddN(pg, graph.Scale(vl, valueCost), graph.Scale(negEnt, entropyCost))
	return loss, pg, vl, negEnt
}

// logSoftmaxAt is log softmax(row)[a].
func logSoftmaxAt(row []float32, a int) float32 {
	m := row[0]
	for _, v := range row[1:] {
		m = max(m, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v - m))
	}
	return float32(float64(row[a]-m) - math.Log(s))
}
