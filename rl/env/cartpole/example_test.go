package cartpole_test

import (
	"fmt"

	"github.com/tlgo/tl/rl/env/cartpole"
)

// A policy that pushes toward the side the pole leans to keeps it up far longer
// than a random one.
func Example() {
	e := cartpole.New()
	obs := e.Reset(42)
	steps := 0
	for {
		a := 0
		if obs[2]+0.5*obs[3] > 0 { // θ + θ'/2 leaning right: push right
			a = 1
		}
		var done bool
		obs, _, done = e.Step(a)
		steps++
		if done {
			break
		}
	}
	fmt.Println("steps:", steps)
	// Output: steps: 500
}
