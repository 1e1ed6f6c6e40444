package env_test

import (
	"fmt"

	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
)

// Four cart-poles stepped together by a fixed policy; finished episodes are
// reported and their environments restarted.
func Example() {
	v, err := env.NewVec(4, 1, func(int) env.Env { return cartpole.New() })
	if err != nil {
		panic(err)
	}
	obs := v.Reset()
	actions := make([]int, v.Len())
	episodes := 0
	for episodes < 10 {
		for i := range actions {
			actions[i] = 0
			if obs[i*4+2] > 0 { // the pole leans right: push right
				actions[i] = 1
			}
		}
		obs, _, _ = v.Step(actions)
		episodes += len(v.Finished())
	}
	fmt.Println(episodes >= 10)
	// Output: true
}
