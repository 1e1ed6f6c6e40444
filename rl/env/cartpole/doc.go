// Package cartpole is the classic control task of Barto, Sutton and Anderson
// (1983) with the constants and equations of OpenAI Gym's CartPole-v1: a pole
// hinged on a cart that moves on a frictionless track; each step the agent pushes
// the cart left (action 0) or right (action 1) with a force of 10 N, and earns 1
// while the pole stays within 12 degrees of upright and the cart within 2.4 m of
// the centre. An episode is cut at 500 steps.
//
// The dynamics, integrated by explicit Euler with a step of 0.02 s (gravity
// g = 9.8, cart mass 1.0, pole mass m = 0.1, half-length l = 0.5, total mass M = 1.1):
//
//	temp   = (F + m·l·θ'²·sin θ) / M
//	θ''    = (g·sin θ − cos θ·temp) / (l·(4/3 − m·cos²θ / M))
//	x''    = temp − m·l·θ''·cos θ / M
//	x  += τ·x',  x' += τ·x'',  θ += τ·θ',  θ' += τ·θ''
//
// The state starts uniform in [−0.05, 0.05] for each of x, x', θ, θ', drawn from
// the Reset seed. The observation is the state (x, x', θ, θ'). A random policy
// lasts about 22 steps; a solved one averages 195 or more over 100 episodes
// (Gym's threshold for v0) and can reach 500.
//
// It is the fast test of the learners: thousands of episodes a second on one
// core, and a learning curve in seconds.
package cartpole
