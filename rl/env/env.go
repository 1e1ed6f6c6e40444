package env

import "fmt"

// Env is an episodic environment with discrete actions.
type Env interface {
	// ObsShape is the shape of one observation ([4] for CartPole's state,
	// [80, 80, 1] for a Pong frame).
	ObsShape() []int
	// NumActions is the number of discrete actions, numbered from 0.
	NumActions() int
	// Reset starts an episode whose randomness all comes from seed, and returns
	// its first observation.
	Reset(seed uint64) []float32
	// Step plays one action and returns the next observation, the reward and
	// whether the episode ended. The observation is valid until the next Step or
	// Reset. An action out of range is a programming error and panics.
	Step(action int) (obs []float32, reward float32, done bool)
}

// Size is the number of values in one observation of shape s.
func Size(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Mix derives a well-spread seed from a base seed and two indices (a player's
// environment and an episode number): SplitMix64 over their combination.
func Mix(seed, a, b uint64) uint64 {
	z := seed ^ (a+1)*0x9E3779B97F4A7C15 ^ (b+1)*0xC2B2AE3D27D4EB4F
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Episode is one finished episode of a Vec.
type Episode struct {
	Env    int     // index of the environment in the Vec
	Return float64 // sum of its rewards
	Length int     // its number of steps
}

// Vec steps N environments of one kind in lock-step.
type Vec struct {
	envs     []Env
	seed     uint64
	size     int
	nact     int
	obs      []float32
	rew      []float32
	done     []bool
	episodes []uint64
	ret      []float64
	length   []int
	finished []Episode
}

// NewVec makes a runner over n environments made by mk (called with 0..n-1);
// seed is the base of every episode's seed. Every environment must have the same
// observation shape and number of actions.
func NewVec(n int, seed uint64, mk func(i int) Env) (*Vec, error) {
	if n < 1 {
		return nil, fmt.Errorf("env: NewVec: %d environments, want at least 1", n)
	}
	v := &Vec{envs: make([]Env, n), seed: seed}
	for i := range v.envs {
		v.envs[i] = mk(i)
		if i == 0 {
			v.size, v.nact = Size(v.envs[0].ObsShape()), v.envs[0].NumActions()
			continue
		}
		if s, a := Size(v.envs[i].ObsShape()), v.envs[i].NumActions(); s != v.size || a != v.nact {
			return nil, fmt.Errorf("env: NewVec: environment %d has %d values per observation and %d actions, environment 0 has %d and %d", i, s, a, v.size, v.nact)
		}
	}
	v.obs = make([]float32, n*v.size)
	v.rew = make([]float32, n)
	v.done = make([]bool, n)
	v.episodes = make([]uint64, n)
	v.ret = make([]float64, n)
	v.length = make([]int, n)
	v.finished = make([]Episode, 0, n)
	return v, nil
}

// Len is the number of environments.
func (v *Vec) Len() int { return len(v.envs) }

// ObsShape is one environment's observation shape.
func (v *Vec) ObsShape() []int { return v.envs[0].ObsShape() }

// NumActions is the number of actions.
func (v *Vec) NumActions() int { return v.nact }

// Env returns environment i.
func (v *Vec) Env(i int) Env { return v.envs[i] }

// Reset starts an episode in every environment and returns the batch of first
// observations ([N, obs...], owned by the Vec).
func (v *Vec) Reset() []float32 {
	for i := range v.envs {
		v.episodes[i] = 0
		v.reset(i)
	}
	v.finished = v.finished[:0]
	return v.obs
}

func (v *Vec) reset(i int) {
	o := v.envs[i].Reset(Mix(v.seed, uint64(i), v.episodes[i]))
	copy(v.obs[i*v.size:(i+1)*v.size], o)
	v.ret[i], v.length[i] = 0, 0
}

// Step plays actions[i] in environment i and returns the batch of observations,
// the rewards and the done flags (all owned by the Vec, valid until the next
// Step). An environment that is done has been reset already: its row holds its
// next episode's first observation.
func (v *Vec) Step(actions []int) (obs, reward []float32, done []bool) {
	v.finished = v.finished[:0]
	for i, e := range v.envs {
		o, r, d := e.Step(actions[i])
		v.rew[i], v.done[i] = r, d
		v.ret[i] += float64(r)
		v.length[i]++
		if d {
			v.finished = append(v.finished, Episode{Env: i, Return: v.ret[i], Length: v.length[i]})
			v.episodes[i]++
			v.reset(i)
			continue
		}
		copy(v.obs[i*v.size:(i+1)*v.size], o)
	}
	return v.obs, v.rew, v.done
}

// Finished returns the episodes that ended in the last Step (valid until the
// next Step).
func (v *Vec) Finished() []Episode { return v.finished }
