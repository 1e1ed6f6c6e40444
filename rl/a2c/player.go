package a2c

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/tensor"
)

// Policy is a player's copy of the network: inference only, over a fixed batch
// of observations, at the version it last loaded.
type Policy struct {
	cfg     Config
	x       *layers.Layer
	exec    *graph.Executor
	pool    *par.Pool
	vars    map[string]*graph.Node
	obs     *tensor.Tensor
	n       int
	version int64
	probs   []float64
}

// NewPolicy builds the network of cfg (its Net, ObsShape and NumActions) for
// batches of n observations, with one kernel thread (a player is one
// goroutine; run several players for more cores). Its weights are cfg.Seed's
// initialisation, version 0, until Load.
func NewPolicy(cfg Config, n int) (*Policy, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	g := graph.New(cfg.Seed)
	x, logits, _, err := build(g, &cfg)
	if err != nil {
		return nil, err
	}
	p := &Policy{cfg: cfg, x: x, n: n, vars: map[string]*graph.Node{}, probs: make([]float64, cfg.NumActions)}
	for _, v := range g.Variables() {
		p.vars[v.Name()] = v
	}
	p.pool = par.NewPool(1)
	if p.exec, err = g.NewExecutor(graph.Options{Pool: p.pool}, logits.Output()); err != nil {
		return nil, fmt.Errorf("a2c: policy: %w", err)
	}
	p.obs = tensor.New(tensor.Float32, append([]int{n}, cfg.ObsShape...)...)
	return p, nil
}

// Version is the version of the weights loaded.
func (p *Policy) Version() int64 { return p.version }

// Close stops the policy's pool.
func (p *Policy) Close() {
	p.exec.Close()
	p.pool.Close()
}

// Load copies a snapshot's weights in; every variable of the snapshot must exist
// with the same size.
func (p *Policy) Load(s *Params) error {
	if err := load(p.vars, s); err != nil {
		return fmt.Errorf("a2c: policy: %w", err)
	}
	p.version = s.Version
	return nil
}

// Act samples one action per observation (obs: n rows) from the policy's
// softmax, writing the actions and their log-probabilities.
func (p *Policy) Act(obs []float32, rng *rand.Rand, actions []int, logp []float32) error {
	copy(p.obs.Float32s(), obs)
	out, err := p.exec.Run(p.x.Feed(p.obs))
	if err != nil {
		return fmt.Errorf("a2c: policy: %w", err)
	}
	A := p.cfg.NumActions
	logits := out[0].Float32s()
	for i := 0; i < p.n; i++ {
		row := logits[i*A : (i+1)*A]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		var s float64
		for j, v := range row {
			p.probs[j] = math.Exp(float64(v - m))
			s += p.probs[j]
		}
		u := rng.Float64() * s
		a := A - 1
		for j, q := range p.probs {
			if u < q {
				a = j
				break
			}
			u -= q
		}
		actions[i] = a
		logp[i] = float32(float64(row[a]-m) - math.Log(s))
	}
	return nil
}

// Player plays a Vec of environments with a Policy and cuts the play into
// trajectories of T steps, one per environment.
type Player struct {
	vec     *env.Vec
	policy  *Policy
	rng     *rand.Rand
	T, osz  int
	obs     []float32 // current observations, n rows
	actions []int
	logp    []float32
	started bool
}

// NewPlayer makes a player over vec with a policy for cfg; seed drives the
// sampling of actions (the environments have the Vec's seed).
func NewPlayer(cfg Config, vec *env.Vec, seed uint64) (*Player, error) {
	pol, err := NewPolicy(cfg, vec.Len())
	if err != nil {
		return nil, err
	}
	n := vec.Len()
	return &Player{vec: vec, policy: pol, rng: rand.New(rand.NewPCG(seed, 0x853C49E6748FEA9B)), T: cfg.Unroll,
		osz: env.Size(cfg.ObsShape), obs: make([]float32, n*env.Size(cfg.ObsShape)), actions: make([]int, n), logp: make([]float32, n)}, nil
}

// Policy is the player's policy (Load a newer version into it).
func (p *Player) Policy() *Policy { return p.policy }

// Close releases the policy.
func (p *Player) Close() { p.policy.Close() }

// Unroll plays T steps of every environment and returns one trajectory per
// environment, and the episodes that ended meanwhile. onEpisode, if not nil, is
// called for each finished episode.
func (p *Player) Unroll(onEpisode func(env.Episode)) ([]*Trajectory, error) {
	n, T, osz := p.vec.Len(), p.T, p.osz
	if !p.started {
		copy(p.obs, p.vec.Reset())
		p.started = true
	}
	trs := make([]*Trajectory, n)
	for i := range trs {
		trs[i] = &Trajectory{Version: p.policy.version, Obs: make([]float32, (T+1)*osz),
			Actions: make([]int32, T), Rewards: make([]float32, T), Dones: make([]bool, T), LogProbs: make([]float32, T)}
	}
	for t := 0; t < T; t++ {
		for i, tr := range trs {
			copy(tr.Obs[t*osz:(t+1)*osz], p.obs[i*osz:(i+1)*osz])
		}
		if err := p.policy.Act(p.obs, p.rng, p.actions, p.logp); err != nil {
			return nil, err
		}
		obs, rew, done := p.vec.Step(p.actions)
		copy(p.obs, obs)
		for i, tr := range trs {
			tr.Actions[t], tr.LogProbs[t], tr.Rewards[t], tr.Dones[t] = int32(p.actions[i]), p.logp[i], rew[i], done[i]
		}
		for _, e := range p.vec.Finished() {
			trs[e.Env].Returns = append(trs[e.Env].Returns, float32(e.Return))
			if onEpisode != nil {
				onEpisode(e)
			}
		}
	}
	for i, tr := range trs {
		copy(tr.Obs[T*osz:], p.obs[i*osz:(i+1)*osz])
	}
	return trs, nil
}
