// Package trainevents records a training loop's curves as events (package
// events): a train.Hook that logs, while the loop runs, what `tl runs` and
// `tl curve` read back.
//
// What it logs, all under the writer's model and run:
//
//   - phase train, every Every steps and at the last step of each epoch:
//     "loss" (the mean of the step losses since the previous event), "speed"
//     (examples per second since the previous event), "epoch" (fractional:
//     1.5 is half-way through the second epoch), and "lr" when a hook set it;
//     at the last step of an epoch also "accuracy", the epoch's training
//     accuracy, or "mae" for a regression (for an epoch of unknown length, train.State.StepsPerEpoch
//     -1, or one a hook ended early: at the epoch's end; Every defaults to
//     100 steps then);
//   - phase validation (or test), at the end of each epoch: the values another
//     hook (train.Evaluate) put in State.Values under ValidationPrefix (or
//     TestPrefix), without the prefix: "loss", "accuracy" (or "mae");
//   - at the start, a step-0 event whose Fields describe the run (Options.Fields).
//
// It is a package of its own so that package events does not link the engine.
package trainevents

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/train"
)

// Options of the hook.
type Options struct {
	// Every is how many steps lie between train events; 0: about fifty an
	// epoch (every step when an epoch has fewer).
	Every int
	// ValidationPrefix and TestPrefix are the State.Values prefixes logged
	// as the validation and test phases; default "val_" and "test_".
	ValidationPrefix, TestPrefix string
	// Fields are logged on a step-0 event when training starts (the task,
	// the dataset, the parameters).
	Fields map[string]any
}

// Hook returns a train.Hook that logs to w. It only hands events to the
// writer, which never blocks; flush or close the writer after Run.
func Hook(w *events.Writer, o Options) train.Hook {
	if o.ValidationPrefix == "" {
		o.ValidationPrefix = "val_"
	}
	if o.TestPrefix == "" {
		o.TestPrefix = "test_"
	}
	var (
		every    int
		lossSum  float64
		lossN    int
		lastAt   time.Time
		lastSeen int
		lastDone bool // the epoch's last point is logged
	)
	// point logs a train event; last: the epoch's last (with its accuracy).
	point := func(s *train.State, last bool) {
		now := time.Now()
		v := map[string]float64{}
		if lossN > 0 {
			v["loss"] = lossSum / float64(lossN)
		}
		epoch := float64(s.Epoch)
		switch {
		case s.StepsPerEpoch > 0:
			epoch += float64(s.StepInEpoch) / float64(s.StepsPerEpoch)
		case last:
			epoch++
		}
		if dt := now.Sub(lastAt).Seconds(); dt > 0 && s.Examples > lastSeen {
			v["speed"] = float64(s.Examples-lastSeen) / dt
		}
		if lr, ok := s.Values["lr"]; ok {
			v["lr"] = lr
		}
		// The epoch's score: a classifier's accuracy, a regression's mae.
		for _, k := range []string{train.MetricAccuracy, "mae"} {
			if x, ok := s.Values[k]; ok && last {
				v[k] = x
			}
		}
		lastDone = last
		if len(v) == 0 {
			return
		}
		w.Log(events.Event{Phase: events.Train, Step: int64(s.Step), Time: now, Values: v, Fields: map[string]any{"epoch": epoch}})
		lastAt, lastSeen, lossSum, lossN = now, s.Examples, 0, 0
	}
	return train.Hook{
		Name: "events",
		TrainStart: func(_ context.Context, s *train.State) error {
			every = o.Every
			if every <= 0 {
				every = max(1, s.StepsPerEpoch/50)
				if s.StepsPerEpoch < 0 { // unknown: a stream
					every = 100
				}
			}
			if len(o.Fields) > 0 {
				w.Log(events.Event{Phase: events.Train, Step: int64(s.Step), Fields: maps.Clone(o.Fields)})
			}
			return nil
		},
		EpochStart: func(context.Context, *train.State) error {
			lastAt, lastSeen, lossSum, lossN, lastDone = time.Now(), 0, 0, 0, false
			return nil
		},
		StepEnd: func(_ context.Context, s *train.State) error {
			lossSum += float64(s.Loss)
			lossN++
			last := s.StepInEpoch == s.StepsPerEpoch
			if s.StepInEpoch%every != 0 && !last {
				return nil
			}
			point(s, last)
			return nil
		},
		EpochEnd: func(_ context.Context, s *train.State) error {
			if !lastDone {
				// An epoch of unknown length (a stream), or one a hook
				// ended early: its last point, with its accuracy, now.
				point(s, true)
			}
			for _, ph := range []struct{ prefix, phase string }{{o.ValidationPrefix, events.Validation}, {o.TestPrefix, events.Test}} {
				v := map[string]float64{}
				for k, x := range s.Values {
					if name, ok := strings.CutPrefix(k, ph.prefix); ok {
						v[name] = x
					}
				}
				if len(v) > 0 {
					w.Log(events.Event{Phase: ph.phase, Step: int64(s.Step), Values: v, Fields: map[string]any{"epoch": s.Epoch + 1}})
				}
			}
			return nil
		},
	}
}
