package env_test

import (
	"testing"

	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/rl/env/cartpole"
	"github.com/tlgo/tl/rl/env/pong"
)

func cartpoles(t testing.TB, n int, seed uint64) *env.Vec {
	v, err := env.NewVec(n, seed, func(int) env.Env { return cartpole.New() })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The runner resets finished environments at once, reports their episodes with
// the right return and length, and replays exactly under one seed.
func TestVec(t *testing.T) {
	run := func(seed uint64) ([]float32, []env.Episode) {
		v := cartpoles(t, 3, seed)
		var trace []float32
		var eps []env.Episode
		trace = append(trace, v.Reset()...)
		acts := make([]int, 3)
		for s := 0; s < 200; s++ {
			for i := range acts {
				acts[i] = (s + i) / 3 % 2
			}
			obs, rew, done := v.Step(acts)
			trace = append(trace, obs...)
			for i := range rew {
				if rew[i] != 1 {
					t.Fatalf("reward %v", rew[i])
				}
			}
			fin := v.Finished()
			nd := 0
			for _, d := range done {
				if d {
					nd++
				}
			}
			if nd != len(fin) {
				t.Fatalf("%d done flags, %d finished episodes", nd, len(fin))
			}
			for _, e := range fin {
				if !done[e.Env] || e.Return != float64(e.Length) || e.Length < 1 {
					t.Fatalf("episode %+v (done %v)", e, done)
				}
				// The row holds a fresh start, within ±0.05.
				for _, x := range obs[e.Env*4 : e.Env*4+4] {
					if x < -0.05 || x > 0.05 {
						t.Fatalf("env %d after reset: %v", e.Env, obs[e.Env*4:e.Env*4+4])
					}
				}
			}
			eps = append(eps, fin...)
		}
		return trace, eps
	}
	a, ea := run(4)
	b, eb := run(4)
	if len(ea) < 10 || len(ea) != len(eb) {
		t.Fatalf("%d and %d episodes", len(ea), len(eb))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different trace at %d", i)
		}
	}
	// Episodes of one environment get different seeds.
	seen := map[float32]bool{}
	v := cartpoles(t, 1, 4)
	for k := 0; k < 20; k++ {
		obs := v.Reset()
		_ = obs
		seen[v.Env(0).Reset(env.Mix(4, 0, uint64(k)))[0]] = true
	}
	if len(seen) != 20 {
		t.Fatalf("20 episode seeds gave %d distinct starts", len(seen))
	}
}

func TestVecMismatch(t *testing.T) {
	_, err := env.NewVec(2, 1, func(i int) env.Env {
		if i == 0 {
			return cartpole.New()
		}
		p, _ := pong.New(pong.Options{Obs: pong.State})
		return p
	})
	if err == nil {
		t.Fatal("a CartPole and a Pong in one Vec accepted")
	}
	if _, err := env.NewVec(0, 1, nil); err == nil {
		t.Fatal("0 environments accepted")
	}
}

func TestVecZeroAllocs(t *testing.T) {
	v := cartpoles(t, 8, 1)
	v.Reset()
	acts := make([]int, 8)
	s := 0
	if n := testing.AllocsPerRun(500, func() {
		s++
		for i := range acts {
			acts[i] = (s + i) % 2
		}
		v.Step(acts)
	}); n != 0 {
		t.Fatalf("%v allocations per step", n)
	}
}

func BenchmarkVecPong(b *testing.B) {
	v, err := env.NewVec(16, 1, func(int) env.Env {
		e, _ := pong.New(pong.Options{Diff: true})
		return e
	})
	if err != nil {
		b.Fatal(err)
	}
	v.Reset()
	acts := make([]int, 16)
	s := 0
	for b.Loop() {
		s++
		for i := range acts {
			acts[i] = (s>>3 + i) % 3
		}
		v.Step(acts)
	}
	b.ReportMetric(float64(b.N*16)/b.Elapsed().Seconds(), "frames/s")
}
