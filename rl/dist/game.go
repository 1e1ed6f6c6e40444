package dist

import (
	"fmt"

	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
	"github.com/tlgo/tl/rl/env/pong"
)

// game is an environment and the network that plays it, as examples/cartpole
// and examples/pong set them up.
type game struct {
	obsShape   []int
	numActions int
	net        a2c.Net
	newEnv     func() env.Env
}

// games are the environments params.env may name.
func gameOf(name string) (game, error) {
	switch name {
	case "cartpole":
		return game{obsShape: []int{4}, numActions: 2, newEnv: func() env.Env { return cartpole.New() },
			net: func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
				h := layers.Dense(x, "fc1", 64, layers.Tanh)
				h = layers.Dense(h, "fc2", 64, layers.Tanh)
				return layers.Dense(h, "logits", 2), layers.Dense(h, "value", 1)
			}}, nil
	case "pong":
		// Frames of 40×40 differenced, 4 frames per action, 256 hidden units:
		// examples/pong's defaults.
		o := pong.Options{Size: 40, Diff: true, FrameSkip: 4}
		probe, err := pong.New(o)
		if err != nil {
			return game{}, fmt.Errorf("rl/dist: pong: %w", err)
		}
		return game{obsShape: probe.ObsShape(), numActions: 3,
			newEnv: func() env.Env {
				e, _ := pong.New(o) // the options were checked above
				return e
			},
			net: func(x *layers.Layer) (*layers.Layer, *layers.Layer) {
				h := layers.Flatten(x, "flatten")
				h = layers.Dense(h, "fc1", 256, layers.ReLU)
				return layers.Dense(h, "logits", 3), layers.Dense(h, "value", 1)
			}}, nil
	}
	return game{}, fmt.Errorf("rl/dist: env %q: want cartpole or pong", name)
}
