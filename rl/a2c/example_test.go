package a2c_test

import (
	"fmt"

	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
)

// The synchronous loop: one player of 16 cart-poles, one learner; after each
// update the player loads the new weights (in a distributed run it would load
// them now and then, and V-trace would correct the lag).
func Example() {
	net := func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
		h := layers.Dense(x, "fc1", 64, layers.Tanh)
		h = layers.Dense(h, "fc2", 64, layers.Tanh)
		return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
	}
	cfg := a2c.Config{ObsShape: []int{4}, NumActions: 2, Net: net, Unroll: 16, Batch: 16, LR: 3e-3, Seed: 1, Threads: 1}
	learner, err := a2c.New(cfg)
	if err != nil {
		panic(err)
	}
	defer learner.Close()
	vec, err := env.NewVec(16, 2, func(int) env.Env { return cartpole.New() })
	if err != nil {
		panic(err)
	}
	player, err := a2c.NewPlayer(cfg, vec, 3)
	if err != nil {
		panic(err)
	}
	defer player.Close()
	var lengths []int
	for u := 0; u < 300; u++ {
		if err := player.Policy().Load(learner.Params()); err != nil {
			panic(err)
		}
		trajectories, err := player.Unroll(func(e env.Episode) { lengths = append(lengths, e.Length) })
		if err != nil {
			panic(err)
		}
		if _, err := learner.Update(trajectories); err != nil {
			panic(err)
		}
	}
	mean := func(xs []int) float64 {
		s := 0
		for _, x := range xs {
			s += x
		}
		return float64(s) / float64(len(xs))
	}
	fmt.Printf("first 50 episodes: %.0f steps; last 50: more than 100: %v\n", mean(lengths[:50]), mean(lengths[len(lengths)-50:]) > 100)
	// Output: first 50 episodes: 21 steps; last 50: more than 100: true
}
