package events

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A digest keeps at most CurvePoints+2 points of any number, among them the
// first, the last, the global minimum and maximum; it is exact up to
// CurvePoints points, and survives its packed form.
func TestDigest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 499, 500, 501, 1000, 1001, 4321, 100000} {
		d := &digest{Name: "loss", Width: 1}
		ys := make([]float64, n)
		for i := range ys {
			ys[i] = rng.NormFloat64()
			d.add(int64(i+1), ys[i])
		}
		for _, dd := range []*digest{d, ptr(d.doc()).digest()} {
			c := dd.curve()
			if c.Points != int64(n) || len(c.Steps) > CurvePoints+2 || !slices.IsSorted(c.Steps) {
				t.Fatalf("n=%d: %d points of %d, sorted %v", n, len(c.Steps), c.Points, slices.IsSorted(c.Steps))
			}
			if n <= CurvePoints && (len(c.Steps) != n || !slices.Equal(c.Values, ys)) {
				t.Fatalf("n=%d: not exact: %d points", n, len(c.Steps))
			}
			if c.Steps[0] != 1 || c.Values[0] != ys[0] || c.Steps[len(c.Steps)-1] != int64(n) || c.Values[len(c.Values)-1] != ys[n-1] {
				t.Fatalf("n=%d: first or last point lost", n)
			}
			if !slices.Contains(c.Values, slices.Min(ys)) || !slices.Contains(c.Values, slices.Max(ys)) {
				t.Fatalf("n=%d: global minimum or maximum lost", n)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// A run logging more metrics than MaxCurves keeps the curves of the first
// MaxCurves and the last value of all.
func TestMaxCurves(t *testing.T) {
	s := newRunState("p", "m", "r")
	vals := map[string]float64{}
	for i := range MaxCurves + 10 {
		vals[string(rune('A'+i/26))+string(rune('a'+i%26))] = float64(i)
	}
	s.add("id", Event{Phase: Train, Step: 1, Time: time.Now(), Values: vals})
	sum, cs := s.docs(time.Now())
	if len(cs.Curves) != MaxCurves || len(sum.Last) != MaxCurves+10 {
		t.Fatalf("%d curves and %d last values, want %d and %d", len(cs.Curves), len(sum.Last), MaxCurves, MaxCurves+10)
	}
}
