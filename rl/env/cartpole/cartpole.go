package cartpole

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Gym's constants.
const (
	Gravity        = 9.8
	MassCart       = 1.0
	MassPole       = 0.1
	TotalMass      = MassCart + MassPole
	Length         = 0.5 // half the pole's length
	PoleMassLength = MassPole * Length
	ForceMag       = 10.0
	Tau            = 0.02
	ThetaLimit     = 12 * 2 * math.Pi / 360
	XLimit         = 2.4
	MaxSteps       = 500
)

// Env is one cart-pole. Its zero value is not ready; use New.
type Env struct {
	// State is (x, x', θ, θ'); tests may set it between steps.
	State [4]float64
	steps int
	pcg   rand.PCG
	rng   *rand.Rand
	obs   [4]float32
}

// New makes a cart-pole; call Reset before Step.
func New() *Env {
	e := &Env{}
	e.rng = rand.New(&e.pcg)
	return e
}

// ObsShape is [4].
func (e *Env) ObsShape() []int { return []int{4} }

// NumActions is 2: push left, push right.
func (e *Env) NumActions() int { return 2 }

// Reset draws a start state from seed.
func (e *Env) Reset(seed uint64) []float32 {
	e.pcg.Seed(seed, seed^0x5851F42D4C957F2D)
	for i := range e.State {
		e.State[i] = e.rng.Float64()*0.1 - 0.05
	}
	e.steps = 0
	return e.observe()
}

func (e *Env) observe() []float32 {
	for i, v := range e.State {
		e.obs[i] = float32(v)
	}
	return e.obs[:]
}

// Step pushes the cart: action 0 left, 1 right. The reward is 1 for every
// step, the last included; done when the pole falls past 12°, the cart leaves
// ±2.4 m, or after 500 steps.
func (e *Env) Step(action int) ([]float32, float32, bool) {
	if action != 0 && action != 1 {
		panic(fmt.Sprintf("cartpole: action %d, want 0 or 1", action))
	}
	x, xDot, theta, thetaDot := e.State[0], e.State[1], e.State[2], e.State[3]
	force := -ForceMag
	if action == 1 {
		force = ForceMag
	}
	cos, sin := math.Cos(theta), math.Sin(theta)
	temp := (force + PoleMassLength*thetaDot*thetaDot*sin) / TotalMass
	thetaAcc := (Gravity*sin - cos*temp) / (Length * (4.0/3.0 - MassPole*cos*cos/TotalMass))
	xAcc := temp - PoleMassLength*thetaAcc*cos/TotalMass
	x += Tau * xDot
	xDot += Tau * xAcc
	theta += Tau * thetaDot
	thetaDot += Tau * thetaAcc
	e.State = [4]float64{x, xDot, theta, thetaDot}
	e.steps++
	done := x < -XLimit || x > XLimit || theta < -ThetaLimit || theta > ThetaLimit || e.steps >= MaxSteps
	return e.observe(), 1, done
}

// Steps is the number of steps of the current episode.
func (e *Env) Steps() int { return e.steps }
