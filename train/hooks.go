package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
)

// Logger logs the metrics with log/slog every `every` steps (0: never) and at the
// end of every epoch.
func Logger(log *slog.Logger, every int) Hook {
	attrs := func(s *State) []any {
		keys := make([]string, 0, len(s.Values))
		for k := range s.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := []any{"epoch", s.Epoch + 1, "step", s.Step}
		for _, k := range keys {
			out = append(out, k, s.Values[k])
		}
		return out
	}
	return Hook{
		Name: "logger",
		StepEnd: func(ctx context.Context, s *State) error {
			if every > 0 && s.Step%every == 0 {
				log.InfoContext(ctx, "step", attrs(s)...)
			}
			return nil
		},
		EpochEnd: func(ctx context.Context, s *State) error {
			a := attrs(s)
			if secs := s.since(s.EpochStart); secs > 0 {
				a = append(a, "samples_per_s", math.Round(float64(s.Examples)/secs))
			}
			log.InfoContext(ctx, "epoch", a...)
			return nil
		},
	}
}

// LearningRate sets the optimizer's learning rate from a schedule before every
// step (the schedule's step is the loop's global step) and reports it as the
// "lr" metric.
func LearningRate(opt optim.Optimizer, sched optim.Schedule) Hook {
	return Hook{Name: "learning-rate", StepStart: func(_ context.Context, s *State) error {
		s.Values["lr"] = float64(optim.ApplySchedule(opt, sched, s.Step))
		return s.Changed(opt.LearningRate())
	}}
}

// EpochSchedule is LearningRate for schedules counted in epochs: before each
// epoch the rate becomes sched.At(epoch) (PTB's "halve every epoch after the
// fourth").
func EpochSchedule(opt optim.Optimizer, sched optim.Schedule) Hook {
	return Hook{Name: "epoch-schedule", EpochStart: func(_ context.Context, s *State) error {
		s.Values["lr"] = float64(optim.ApplySchedule(opt, sched, s.Epoch))
		return s.Changed(opt.LearningRate())
	}}
}

// EarlyStopping stops training when metric (read at the end of each epoch, so
// put it after Evaluate) has not improved by more than minDelta for patience
// epochs. lower says whether lower is better (a loss) or higher (an accuracy).
func EarlyStopping(metric string, lower bool, patience int, minDelta float64) Hook {
	best := math.Inf(1)
	if !lower {
		best = math.Inf(-1)
	}
	bad := 0
	return Hook{Name: "early-stopping", EpochEnd: func(_ context.Context, s *State) error {
		v, ok := s.Values[metric]
		if !ok {
			return fmt.Errorf("no metric %q (have %v); put the hook that computes it first", metric, keys(s.Values))
		}
		improved := v < best-minDelta
		if !lower {
			improved = v > best+minDelta
		}
		if improved {
			best, bad = v, 0
			return nil
		}
		bad++
		if bad >= patience {
			return ErrStop
		}
		return nil
	}}
}

func keys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Checkpoint saves vars (a network's AllParams, or a graph's Variables to resume
// with the optimizer's state) as dir/ckpt-<epoch>.safetensors every `every`
// epochs, keeping the newest keep files (keep <= 0: all). The metrics and the
// position go into the file's metadata.
func Checkpoint(dir string, vars []*graph.Node, every, keep int) Hook {
	every = max(every, 1)
	return Hook{Name: "checkpoint", EpochEnd: func(ctx context.Context, s *State) error {
		if (s.Epoch+1)%every != 0 {
			return nil
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		meta := map[string]string{"epoch": strconv.Itoa(s.Epoch + 1), "step": strconv.Itoa(s.Step)}
		for k, v := range s.Values {
			meta[k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		path := filepath.Join(dir, fmt.Sprintf("ckpt-%06d.safetensors", s.Epoch+1))
		if err := modelio.SaveWeights(ctx, path, vars, meta); err != nil {
			return err
		}
		if keep <= 0 {
			return nil
		}
		old, err := Checkpoints(dir)
		if err != nil {
			return err
		}
		for len(old) > keep {
			if err := os.Remove(old[0]); err != nil {
				return err
			}
			old = old[1:]
		}
		return nil
	}}
}

// Checkpoints lists the checkpoint files of dir, oldest first.
func Checkpoints(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "ckpt-") && strings.HasSuffix(n, ".safetensors") && !e.IsDir() {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out) // zero-padded epochs sort by name
	return out, nil
}

// SaveBest saves the network into dir with modelio.Save (architecture and
// weights) at the end of every epoch where metric improves on its best so far
// (lower is better for a loss, higher for an accuracy), so that dir always holds
// the best model of the run. Put it after the hook that computes the metric.
func SaveBest(dir string, net *layers.Layer, metric string, lower bool) Hook {
	best := math.Inf(1)
	if !lower {
		best = math.Inf(-1)
	}
	return Hook{Name: "save-best", EpochEnd: func(ctx context.Context, s *State) error {
		v, ok := s.Values[metric]
		if !ok {
			return fmt.Errorf("no metric %q (have %v); put the hook that computes it first", metric, keys(s.Values))
		}
		if (lower && v >= best) || (!lower && v <= best) {
			return nil
		}
		best = v
		meta := map[string]string{"epoch": strconv.Itoa(s.Epoch + 1), "step": strconv.Itoa(s.Step), metric: strconv.FormatFloat(v, 'g', -1, 64)}
		return modelio.Save(ctx, dir, net, meta)
	}}
}
