package pong_test

import (
	"fmt"

	"github.com/tlgo/tl/rl/env/pong"
)

// A paddle that follows the ball (what the scripted opponent does, without its
// speed limit) but meets it near its top end, so the ball leaves steeply, faster
// vertically than the opponent may move: a whole game, from the state
// observation. (Met in the middle, the ball comes back flat, the opponent returns
// it, and the rally lasts until MaxFrames.)
func Example() {
	e, err := pong.New(pong.Options{Obs: pong.State, MaxFrames: 100000})
	if err != nil {
		panic(err)
	}
	obs := e.Reset(1)
	for {
		a := pong.Stay
		ball, paddle := obs[1]*80+2, obs[4]*80+8-6 // centres, from the scaled state; aim 6 above
		if ball < paddle-2 {
			a = pong.Up
		} else if ball > paddle+2 {
			a = pong.Down
		}
		var done bool
		obs, _, done = e.Step(a)
		if done {
			break
		}
	}
	fmt.Printf("agent %d, opponent %d\n", e.PlayerScore, e.OppScore)
	fmt.Println("frames:", e.Frames)
	// Output:
	// agent 21, opponent 0
	// frames: 6085
}
