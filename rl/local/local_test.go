package local_test

import (
	"context"
	"testing"

	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
	"github.com/tlgo/tl/rl/local"
)

// Two players and a learner in goroutines learn CartPole: the mean length of the
// last 100 episodes passes 195 (Gym's threshold) within 1,500 updates.
func TestTwoPlayersLearnCartPole(t *testing.T) {
	net := func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
		h := layers.Dense(x, "fc1", 64, layers.Tanh)
		h = layers.Dense(h, "fc2", 64, layers.Tanh)
		return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
	}
	cfg := a2c.Config{ObsShape: []int{4}, NumActions: 2, Net: net, Unroll: 16, Batch: 16, LR: 3e-3, Seed: 1, Threads: 1}
	l, err := a2c.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var lengths []int
	var maxLag float64
	mean := func() float64 {
		xs := lengths[max(0, len(lengths)-100):]
		s := 0
		for _, x := range xs {
			s += x
		}
		return float64(s) / float64(max(len(xs), 1))
	}
	res, err := local.Run(context.Background(), l, local.Options{
		Config: cfg, Players: 2, Envs: 8, Seed: 3, Updates: 1500,
		Env:       func(int, int) env.Env { return cartpole.New() },
		OnEpisode: func(_ int, e env.Episode, _ int64) { lengths = append(lengths, e.Length) },
		OnUpdate: func(u local.Update) bool {
			maxLag = max(maxLag, u.MeanLag)
			return len(lengths) < 100 || mean() < 195
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d updates, %d samples, %d episodes in %v; mean length of the last 100: %.1f; largest mean lag %.1f", res.Updates, res.Samples, res.Episodes, res.Elapsed, mean(), maxLag)
	if mean() < 195 {
		t.Fatalf("mean episode length %.1f after %d updates, want >= 195", mean(), res.Updates)
	}
	if res.Samples != res.Updates*16*16 {
		t.Fatalf("%d samples for %d updates of 256", res.Samples, res.Updates)
	}
}
