package vtrace

import (
	"math"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-5 }

// T = 2, γ = 0.9, V = (1, 2), bootstrap 3, r = (1, 0), ratios π/μ = (2, 0.5),
// ρ̄ = c̄ = 1, so ρ = c = (1, 0.5). By hand:
//
//	δ_1 = 0.5·(0 + 0.9·3 − 2) = 0.35          v_1 = 2 + 0.35 = 2.35
//	δ_0 = 1·(1 + 0.9·2 − 1) = 1.8             v_0 = 1 + 1.8 + 0.9·1·0.35 = 3.115
//	A_1 = 0.5·(0 + 0.9·3 − 2) = 0.35           A_0 = 1·(1 + 0.9·2.35 − 1) = 2.115
func TestHandComputed(t *testing.T) {
	u := Unroll{
		LogRhos:   []float32{float32(math.Log(2)), float32(math.Log(0.5))},
		Rewards:   []float32{1, 0},
		Discounts: []float32{0.9, 0.9},
		Values:    []float32{1, 2, 3},
	}
	vs, adv := make([]float32, 2), make([]float32, 2)
	m, err := Compute(u, Clip{RhoBar: 1, CBar: 1}, vs, adv)
	if err != nil {
		t.Fatal(err)
	}
	if !near(vs[0], 3.115) || !near(vs[1], 2.35) || !near(adv[0], 2.115) || !near(adv[1], 0.35) || !near(m, 0.75) {
		t.Fatalf("vs %v adv %v mean ρ %v; want (3.115, 2.35) (2.115, 0.35) 0.75", vs, adv, m)
	}
	// Untruncated, ρ_0 = c_0 = 2: δ_0 = 2·1.8 = 3.6, v_0 = 1 + 3.6 + 0.9·2·0.35 =
	// 5.23, A_0 = 2·(1 + 0.9·2.35 − 1) = 4.23.
	if _, err := Compute(u, Clip{}, vs, adv); err != nil {
		t.Fatal(err)
	}
	if !near(vs[0], 5.23) || !near(adv[0], 4.23) || !near(vs[1], 2.35) {
		t.Fatalf("untruncated: vs %v adv %v; want v_0 5.23, A_0 4.23", vs, adv)
	}
	// An episode that ends at step 0 cuts the trace (γ_0 = 0), with ρ_0 = 1:
	// δ_0 = 1·(1 + 0 − 1) = 0, v_0 = 1 + 0 = 1 (= r_0), A_0 = 0.
	u.Discounts[0] = 0
	if _, err := Compute(u, Clip{RhoBar: 1, CBar: 1}, vs, adv); err != nil {
		t.Fatal(err)
	}
	if !near(vs[0], 1) || !near(adv[0], 0) || !near(vs[1], 2.35) {
		t.Fatalf("episode end at 0: vs %v adv %v; want v_0 1, A_0 0, v_1 2.35", vs, adv)
	}
}

// On-policy, V-trace is the n-step return, and the advantage the n-step
// advantage r_s + γ v_{s+1} − V(x_s).
func TestOnPolicyIsNStepReturn(t *testing.T) {
	const T, gamma = 6, 0.95
	r := []float32{1, -0.5, 0, 2, 0.25, 1}
	vals := []float32{0.3, -1, 0.7, 1.5, 0, 0.2, 0.9}
	disc := make([]float32, T)
	for i := range disc {
		disc[i] = gamma
	}
	disc[3] = 0 // an episode ends after step 3
	vs, adv := make([]float32, T), make([]float32, T)
	if _, err := Compute(Unroll{LogRhos: make([]float32, T), Rewards: r, Discounts: disc, Values: vals}, Clip{RhoBar: 1, CBar: 1}, vs, adv); err != nil {
		t.Fatal(err)
	}
	for s := 0; s < T; s++ {
		// n-step return from s to the end of the unroll or of the episode.
		var g, k float64 = 0, 1
		t0 := s
		for ; t0 < T; t0++ {
			g += k * float64(r[t0])
			k *= float64(disc[t0])
			if disc[t0] == 0 {
				break
			}
		}
		if t0 == T {
			g += k * float64(vals[T])
		}
		if !near(vs[s], float32(g)) {
			t.Fatalf("v_%d = %v, n-step return %v", s, vs[s], g)
		}
		next := vals[T]
		if s+1 < T {
			next = vs[s+1]
		}
		if want := r[s] + disc[s]*next - vals[s]; !near(adv[s], want) {
			t.Fatalf("A_%d = %v, want %v", s, adv[s], want)
		}
	}
}

func TestBadLengths(t *testing.T) {
	_, err := Compute(Unroll{LogRhos: make([]float32, 2), Rewards: make([]float32, 2), Discounts: make([]float32, 2), Values: make([]float32, 2)}, Clip{}, make([]float32, 2), make([]float32, 2))
	if err == nil {
		t.Fatal("T values (no bootstrap) accepted")
	}
}
