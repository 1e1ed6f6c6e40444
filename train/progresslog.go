package train

import (
	"context"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
)

// LogProgress logs training progress with log/slog every `every` steps (0:
// about ten lines an epoch) and at the end of every epoch, so that a long
// epoch is not silent where no progress bar is drawn (an agent, a log file):
// the epoch and step within it, the metrics (loss and accuracy so far this epoch, and what other hooks
// added), the
// examples per second since the last line, and the time left in the epoch and
// in the run. With an epoch of unknown length (StepsPerEpoch -1, a stream)
// it logs every 100 steps by default and gives no ETA.
func LogProgress(log *slog.Logger, every int) Hook {
	var (
		n        int       // steps between lines
		first    int       // the global step Run started at
		start    time.Time // when the first step of this run began
		lastAt   time.Time
		lastSeen int // examples of this epoch at the last line
	)
	line := func(ctx context.Context, msg string, s *State) {
		now := time.Now()
		attrs := []any{"epoch", s.Epoch + 1, "of", s.Epochs, "step", s.StepInEpoch, "steps", s.StepsPerEpoch}
		for _, k := range slices.Sorted(maps.Keys(s.Values)) {
			attrs = append(attrs, k, sig4(s.Values[k]))
		}
		if dt := now.Sub(lastAt).Seconds(); dt > 0 {
			attrs = append(attrs, "examples_per_s", math.Round(float64(s.Examples-lastSeen)/dt))
		}
		if done := s.Step - first; done > 0 && s.StepsPerEpoch > 0 { // -1: unknown (a stream), no ETA
			per := now.Sub(start) / time.Duration(done)
			left := s.StepsPerEpoch - s.StepInEpoch
			total := s.Epochs*s.StepsPerEpoch - s.Step
			if left > 0 {
				attrs = append(attrs, "epoch_eta", (per * time.Duration(left)).Round(time.Second))
			}
			if total > 0 {
				attrs = append(attrs, "eta", (per * time.Duration(total)).Round(time.Second))
			}
		}
		log.InfoContext(ctx, msg, attrs...)
		lastAt, lastSeen = now, s.Examples
	}
	return Hook{
		Name: "log-progress",
		TrainStart: func(_ context.Context, s *State) error {
			first, start = s.Step, time.Now()
			n = every
			if n <= 0 {
				n = max(1, s.StepsPerEpoch/10)
				if s.StepsPerEpoch < 0 {
					n = 100
				}
			}
			return nil
		},
		EpochStart: func(context.Context, *State) error {
			lastAt, lastSeen = time.Now(), 0
			return nil
		},
		StepEnd: func(ctx context.Context, s *State) error {
			if s.StepInEpoch%n == 0 && (s.StepInEpoch < s.StepsPerEpoch || s.StepsPerEpoch < 0) {
				line(ctx, "training", s)
			}
			return nil
		},
		EpochEnd: func(ctx context.Context, s *State) error {
			line(ctx, "epoch done", s)
			return nil
		},
	}
}

// sig4 rounds v to 4 significant digits: what a person reads of a metric.
func sig4(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	if err != nil {
		return v
	}
	return r
}
