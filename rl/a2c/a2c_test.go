package a2c

import (
	"math"
	"slices"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	"github.com/tlgo/tl/tensor"

	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
)

func cartpoleNet(x *layers.Layer) (*layers.Layer, *layers.Layer) {
	h := layers.Dense(x, "fc1", 64, layers.Tanh)
	h = layers.Dense(h, "fc2", 64, layers.Tanh)
	return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
}

func cartpoleConfig(seed uint64) Config {
	return Config{ObsShape: []int{4}, NumActions: 2, Net: cartpoleNet, Unroll: 16, Batch: 16,
		LR: 3e-3, Discount: 0.99, EntropyCost: 0.01, Seed: seed, Threads: 1}
}

// trainCartPole trains with one player of cfg.Batch environments whose policy
// lags the learner by lag updates (0: the latest), and returns the mean length
// of the last 50 episodes after each update, stopping when it reaches stop.
func trainCartPole(t *testing.T, cfg Config, lag, updates int, stop float64) []float64 {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	vec, err := env.NewVec(cfg.Batch, cfg.Seed+1, func(int) env.Env { return cartpole.New() })
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(cfg, vec, cfg.Seed+2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	history := []*Params{l.Params()}
	var lengths []int
	var curve []float64
	for u := 0; u < updates; u++ {
		if err := p.Policy().Load(history[max(0, len(history)-1-lag)]); err != nil {
			t.Fatal(err)
		}
		trs, err := p.Unroll(func(e env.Episode) { lengths = append(lengths, e.Length) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Update(trs); err != nil {
			t.Fatal(err)
		}
		history = append(history, l.Params())
		if len(history) > lag+1 {
			history = history[1:]
		}
		m := meanLast(lengths, 50)
		curve = append(curve, m)
		if len(lengths) >= 50 && m >= stop {
			break
		}
	}
	return curve
}

func meanLast(xs []int, n int) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = xs[max(0, len(xs)-n):]
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

// CartPole learns: from about 22 steps (random) to a mean of 150 or more over 50
// episodes within 600 updates of 256 steps (150,000 steps; seconds on one
// core).
func TestCartPoleLearns(t *testing.T) {
	curve := trainCartPole(t, cartpoleConfig(1), 0, 600, 150)
	last := curve[len(curve)-1]
	t.Logf("mean episode length %.1f after %d updates (first: %.1f)", last, len(curve), curve[min(20, len(curve)-1)])
	if last < 150 {
		t.Fatalf("mean episode length %.1f after %d updates, want >= 150", last, len(curve))
	}
}

// With stale players (their policy 10 updates behind the learner), V-trace still
// learns; the uncorrected actor-critic, which takes the old policy's actions as
// the current one's, collapses to a policy that pushes one way (about 9 steps).
// Exploring seeds 1-3 (1,500 updates each): V-trace ended at 289, 100 and 317
// steps, the uncorrected learner at 9.3, 9.5 and 9.4 after peaks of 100-235.
func TestStaleBehaviour(t *testing.T) {
	if testing.Short() {
		t.Skip("6 s of training")
	}
	run := func(noCorrection bool) float64 {
		cfg := cartpoleConfig(1)
		cfg.NoCorrection = noCorrection
		curve := trainCartPole(t, cfg, 10, 1500, 1000)
		return curve[len(curve)-1]
	}
	vt, plain := run(false), run(true)
	t.Logf("lag 10: V-trace %.1f, uncorrected %.1f (mean episode length, last 50 episodes)", vt, plain)
	if vt < 100 || plain > vt/2 {
		t.Fatalf("lag 10: V-trace %.1f, uncorrected %.1f; want V-trace >= 100 and more than twice the uncorrected", vt, plain)
	}
}

// The actor-critic loss's gradient against finite differences, with respect to
// the logits, the values, the advantages and the targets.
func TestLossGradient(t *testing.T) {
	err := gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -2, 2, 5, 3), gradcheck.Rand(2, -1, 1, 5, 1), gradcheck.Rand(3, -1, 1, 5, 3), gradcheck.Rand(4, -1, 1, 5, 1)},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			loss, _, _, _ := lossNodes(in[0], in[1], in[2], in[3], 5, 0.5, 0.01)
			return loss
		},
		Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadTrajectories(t *testing.T) {
	cfg := cartpoleConfig(1)
	cfg.Batch, cfg.Unroll = 1, 2
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := func() *Trajectory {
		return &Trajectory{Obs: make([]float32, 12), Actions: []int32{0, 1}, Rewards: []float32{1, 1}, Dones: []bool{false, true}, LogProbs: []float32{-0.7, -0.7}}
	}
	if _, err := l.Update([]*Trajectory{good()}); err != nil {
		t.Fatalf("a good trajectory: %v", err)
	}
	for name, bad := range map[string]func(*Trajectory){
		"short observations":  func(tj *Trajectory) { tj.Obs = tj.Obs[:8] },
		"action out of range": func(tj *Trajectory) { tj.Actions[1] = 2 },
		"NaN reward":          func(tj *Trajectory) { tj.Rewards[0] = float32(math.NaN()) },
		"positive log-prob":   func(tj *Trajectory) { tj.LogProbs[0] = 0.5 },
		"future version":      func(tj *Trajectory) { tj.Version = 99 },
		"missing step":        func(tj *Trajectory) { tj.Dones = tj.Dones[:1] },
	} {
		tj := good()
		bad(tj)
		if _, err := l.Update([]*Trajectory{tj}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if l.Version() != 1 {
		t.Fatalf("version %d after one good update and refused ones, want 1", l.Version())
	}
	if _, err := l.Update([]*Trajectory{good(), good()}); err == nil {
		t.Error("a batch of 2 for a learner of 1 accepted")
	}
	// A policy refuses a snapshot of another network.
	p, err := NewPolicy(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Load(&Params{Names: []string{"nope/W"}, Values: [][]float32{{1}}}); err == nil {
		t.Error("a snapshot with an unknown variable loaded")
	}
	if err := p.Load(l.Params()); err != nil || p.Version() != 1 {
		t.Fatalf("loading the learner's snapshot: %v (version %d)", err, p.Version())
	}
}

// The whole network (both heads) round-trips through ParamsOf into a policy and
// a fresh learner: the same weights give the same logits.
func TestNetworkSnapshot(t *testing.T) {
	cfg := cartpoleConfig(1)
	cfg.Batch, cfg.Unroll = 1, 2
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s := l.Network().Shape(); s[1] != 3 {
		t.Fatalf("network output %v, want [-1 3] (2 logits and the value)", s)
	}
	tj := &Trajectory{Obs: []float32{0.1, 0.2, 0.3, 0.4, 0, 0, 0, 0, 1, 1, 1, 1}, Actions: []int32{0, 1}, Rewards: []float32{1, 1}, Dones: []bool{false, false}, LogProbs: []float32{-0.7, -0.7}}
	if _, err := l.Update([]*Trajectory{tj}); err != nil {
		t.Fatal(err)
	}
	snap := ParamsOf(l.Network(), 1)
	if len(snap.Names) != 8 { // fc1, fc2, logits, value: W and b each
		t.Fatalf("%d parameters in the snapshot: %v", len(snap.Names), snap.Names)
	}
	cfg2 := cfg
	cfg2.Seed = 9
	l2, err := New(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := l2.Load(snap); err != nil || l2.Version() != 1 {
		t.Fatalf("learner load: %v, version %d", err, l2.Version())
	}
	a, b := l.Params(), l2.Params()
	for i := range a.Values {
		for j := range a.Values[i] {
			if a.Values[i][j] != b.Values[i][j] {
				t.Fatalf("%s differs after Load", a.Names[i])
			}
		}
	}
}

// A player's trajectories carry the returns of the episodes that ended in them,
// one per done flag, and the rewards since the episode's start add up to them.
func TestPlayerTrajectories(t *testing.T) {
	cfg := cartpoleConfig(1)
	vec, err := env.NewVec(4, 1, func(int) env.Env { return cartpole.New() })
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlayer(cfg, vec, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	running := make([]float32, 4)
	last := make([][]float32, 4)
	var episodes, returns int
	for u := 0; u < 10; u++ {
		trs, err := p.Unroll(func(env.Episode) { episodes++ })
		if err != nil {
			t.Fatal(err)
		}
		for i, tj := range trs {
			if err := tj.Validate(cfg.Unroll, 4, 2); err != nil {
				t.Fatal(err)
			}
			k := 0
			for s := 0; s < tj.Len(); s++ {
				running[i] += tj.Rewards[s]
				if tj.Dones[s] {
					if k >= len(tj.Returns) || tj.Returns[k] != running[i] {
						t.Fatalf("env %d: episode return %v, trajectory says %v", i, running[i], tj.Returns)
					}
					k++
					running[i] = 0
				}
			}
			if k != len(tj.Returns) {
				t.Fatalf("env %d: %d done flags, %d returns", i, k, len(tj.Returns))
			}
			returns += k
			// The observation after the last step is the next unroll's first.
			if last[i] != nil && !slices.Equal(last[i], tj.Obs[:4]) {
				t.Fatalf("env %d: unroll %d starts at %v, the last one ended at %v", i, u, tj.Obs[:4], last[i])
			}
			last[i] = tj.Obs[len(tj.Obs)-4:]
		}
	}
	if episodes == 0 || returns != episodes {
		t.Fatalf("%d episodes reported, %d returns in the trajectories", episodes, returns)
	}
}
