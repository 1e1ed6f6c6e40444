package bench

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Step is one training (or inference) step of a workload, ready to run.
type Step interface {
	Run() error
	Close()
}

// Timing configures a measurement.
type Timing struct {
	Warmup  time.Duration // at least this long and 3 steps before timing
	Window  time.Duration // one timed window
	Windows int           // timed windows; the median is reported
}

// Measure warms step up and times t.Windows windows, returning items/s for each.
func Measure(ctx context.Context, step Step, items int, t Timing) ([]float64, error) {
	start := time.Now()
	for n := 0; n < 3 || time.Since(start) < t.Warmup; n++ {
		if err := step.Run(); err != nil {
			return nil, fmt.Errorf("bench: warm-up step: %w", err)
		}
	}
	rates := make([]float64, 0, t.Windows)
	for w := 0; w < t.Windows; w++ {
		if err := ctx.Err(); err != nil {
			return rates, err
		}
		n := 0
		t0 := time.Now()
		var dt time.Duration
		for {
			if err := step.Run(); err != nil {
				return rates, fmt.Errorf("bench: step: %w", err)
			}
			n++
			if dt = time.Since(t0); dt >= t.Window {
				break
			}
		}
		rates = append(rates, float64(n*items)/dt.Seconds())
	}
	return rates, nil
}

// Median returns the median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MeasurePaired compares two steps that do the same work: it alternates them
// step by step (a, b, a, b, ...) and returns, for each of t.Windows windows, b's
// total step time over a's. The machine's speed drifts here by 20-30% within
// minutes; alternating single steps puts both under the same drift, so the
// ratio keeps only their difference (and the noise of single steps, which the
// windows' median averages out). Both are warmed up first.
func MeasurePaired(ctx context.Context, a, b Step, t Timing) ([]float64, error) {
	start := time.Now()
	for n := 0; n < 3 || time.Since(start) < t.Warmup; n++ {
		if err := a.Run(); err != nil {
			return nil, fmt.Errorf("bench: warm-up step: %w", err)
		}
		if err := b.Run(); err != nil {
			return nil, fmt.Errorf("bench: warm-up step: %w", err)
		}
	}
	ratios := make([]float64, 0, t.Windows)
	for w := 0; w < t.Windows; w++ {
		if err := ctx.Err(); err != nil {
			return ratios, err
		}
		var ta, tb time.Duration
		t0 := time.Now()
		for i := 0; time.Since(t0) < t.Window || i < 2; i++ {
			// Alternate which goes first, so neither always follows the other.
			first, second, tf, ts := a, b, &ta, &tb
			if i%2 == 1 {
				first, second, tf, ts = b, a, &tb, &ta
			}
			s := time.Now()
			if err := first.Run(); err != nil {
				return ratios, fmt.Errorf("bench: step: %w", err)
			}
			m := time.Now()
			if err := second.Run(); err != nil {
				return ratios, fmt.Errorf("bench: step: %w", err)
			}
			*tf += m.Sub(s)
			*ts += time.Since(m)
		}
		ratios = append(ratios, float64(tb)/float64(ta))
	}
	return ratios, nil
}
