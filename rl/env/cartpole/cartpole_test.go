package cartpole

import (
	"math"
	"testing"
)

// Two pushes to the right from rest, computed by hand from the equations in the
// package doc (sin θ = 0 at the start of both steps, so θ” = −(F/M)/(l(4/3 −
// m/M)) = −14.6341..., x” = F/M − m·l·θ”/M = 9.7561...).
func TestDynamicsByHand(t *testing.T) {
	e := New()
	e.Reset(1)
	e.State = [4]float64{}
	want := [][4]float64{
		{0, 0.1951219512195122, 0, -0.2926829268292683},
		{0.0039024390243902443, 0.3902439024390244, -0.005853658536585366, -0.5853658536585366},
	}
	for i, w := range want {
		obs, r, done := e.Step(1)
		if r != 1 || done {
			t.Fatalf("step %d: reward %v done %v, want 1 false", i, r, done)
		}
		for j := range w {
			if math.Abs(e.State[j]-w[j]) > 1e-12 {
				t.Fatalf("step %d: state %v, want %v", i, e.State, w)
			}
			if math.Abs(float64(obs[j])-w[j]) > 1e-6 {
				t.Fatalf("step %d: observation %v, want %v", i, obs, w)
			}
		}
	}
	// Pushing left mirrors it.
	e.State = [4]float64{}
	e.Step(0)
	if math.Abs(e.State[1]+0.1951219512195122) > 1e-12 || math.Abs(e.State[3]-0.2926829268292683) > 1e-12 {
		t.Fatalf("left push: state %v", e.State)
	}
}

func TestTermination(t *testing.T) {
	e := New()
	for _, c := range []struct {
		state [4]float64
		done  bool
	}{
		{[4]float64{0, 0, 0.21, 0}, true},               // past 12° (0.2094 rad)
		{[4]float64{0, 0, 0.2, 0}, false},               // within 12°, and θ' = 0 keeps θ this step
		{[4]float64{2.39, 1, 0, 0}, true},               // x leaves 2.4
		{[4]float64{0, 0, 0, 0}, false},                 // upright
		{[4]float64{0, 0, ThetaLimit - 0.001, 1}, true}, // θ' carries it past
	} {
		e.Reset(2)
		e.State = c.state
		if _, _, done := e.Step(0); done != c.done {
			t.Errorf("from %v: done %v, want %v (after: %v)", c.state, done, c.done, e.State)
		}
	}
	// Cut at 500 steps even when balanced: hold the state upright each step.
	e.Reset(3)
	for i := 1; i <= MaxSteps; i++ {
		e.State = [4]float64{}
		_, _, done := e.Step(i % 2)
		if done != (i == MaxSteps) {
			t.Fatalf("step %d: done %v", i, done)
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func(seed uint64) []float32 {
		e := New()
		var out []float32
		out = append(out, e.Reset(seed)...)
		for i := 0; i < 50; i++ {
			obs, _, done := e.Step(i * 7 % 3 % 2)
			out = append(out, obs...)
			if done {
				out = append(out, e.Reset(seed+uint64(i))...)
			}
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d: %v vs %v", i, a[i], b[i])
		}
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatal("seeds 7 and 8 gave the same episode")
	}
	// The start state is within ±0.05.
	e := New()
	for s := uint64(0); s < 100; s++ {
		for _, v := range e.Reset(s) {
			if v < -0.05 || v > 0.05 {
				t.Fatalf("seed %d: start %v outside ±0.05", s, v)
			}
		}
	}
}

func TestRandomPolicyLength(t *testing.T) {
	e := New()
	total, n := 0, 200
	for s := 0; s < n; s++ {
		e.Reset(uint64(s))
		for i := 0; ; i++ {
			if _, _, done := e.Step(int(uint64(s*31+i*17)>>2) % 2); done {
				total += i + 1
				break
			}
		}
	}
	if m := float64(total) / float64(n); m < 10 || m > 40 {
		t.Fatalf("pseudo-random policy lasts %.1f steps on average, want about 22", m)
	}
}

func TestZeroAllocs(t *testing.T) {
	e := New()
	e.Reset(1)
	a := 0
	if n := testing.AllocsPerRun(1000, func() {
		if _, _, done := e.Step(a); done {
			e.Reset(uint64(a))
		}
		a ^= 1
	}); n != 0 {
		t.Fatalf("%v allocations per step", n)
	}
}

func BenchmarkStep(b *testing.B) {
	e := New()
	e.Reset(1)
	a := 0
	for b.Loop() {
		if _, _, done := e.Step(a); done {
			e.Reset(uint64(a))
		}
		a ^= 1
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
