package train

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/optim"
)

// TestRunAtMidEpochMatchesAnUninterruptedRun stops a run in the middle of an
// epoch, copies every variable (weights, optimizer state, learning rate) as a
// checkpoint would, and resumes a fresh loop there: the weights end bitwise
// equal to a run that was never stopped, the step counts agree, and the
// epoch's metrics cover the batches before the interruption.
func TestRunAtMidEpochMatchesAnUninterruptedRun(t *testing.T) {
	ctx := context.Background()
	sched := optim.ExponentialDecay{Base: 0.5, Rate: 0.5, Steps: 6}
	straight := newProblem(t, 96)
	loop, _ := New(straight.config())
	defer loop.Close()
	loop.Use(LearningRate(straight.opt, sched))
	want, err := loop.Run(ctx, straight.train, 3)
	if err != nil {
		t.Fatal(err)
	}

	const stopAt = 9 // epoch 1, after its third batch of six
	first := newProblem(t, 96)
	loop1, _ := New(first.config())
	defer loop1.Close()
	var saved [][]float32
	var at Position
	errStop := errors.New("killed")
	loop1.Use(LearningRate(first.opt, sched), Hook{Name: "checkpoint", StepEnd: func(_ context.Context, s *State) error {
		if s.Step != stopAt {
			return nil
		}
		for _, v := range first.g.Variables() {
			saved = append(saved, slices.Clone(v.Tensor().Float32s()))
		}
		at = Position{Epoch: s.Epoch, Batch: s.StepInEpoch, Step: s.Step, Examples: s.Examples, Values: maps.Clone(s.Values)}
		return errStop
	}})
	if _, err := loop1.Run(ctx, first.train, 3); !errors.Is(err, errStop) {
		t.Fatalf("interrupted run: %v", err)
	}
	if at.Epoch != 1 || at.Batch != 3 {
		t.Fatalf("checkpoint at %+v, want epoch 1 batch 3", at)
	}

	resumed := newProblem(t, 96)
	for i, v := range resumed.g.Variables() {
		copy(v.Tensor().Float32s(), saved[i])
	}
	loop2, _ := New(resumed.config())
	defer loop2.Close()
	var steps []int
	loop2.Use(LearningRate(resumed.opt, sched), Hook{StepEnd: func(_ context.Context, s *State) error { steps = append(steps, s.Step); return nil }})
	got, err := loop2.RunAt(ctx, resumed.train, at, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != want.Step || steps[0] != stopAt+1 || len(steps) != want.Step-stopAt {
		t.Fatalf("resumed run: steps %v ending at %d, want %d..%d", steps, got.Step, stopAt+1, want.Step)
	}
	if !slices.Equal(resumed.w.Tensor().Float32s(), straight.w.Tensor().Float32s()) || !slices.Equal(resumed.b.Tensor().Float32s(), straight.b.Tensor().Float32s()) {
		t.Fatalf("resumed weights %v, straight %v", resumed.w.Tensor().Float32s(), straight.w.Tensor().Float32s())
	}
	// The last epoch is whole in both; an interrupted epoch's metrics too.
	for _, k := range []string{MetricLoss, MetricAccuracy} {
		if math.Abs(got.Values[k]-want.Values[k]) > 1e-9 {
			t.Errorf("%s: resumed %v, straight %v", k, got.Values[k], want.Values[k])
		}
	}

	// Resuming within the interrupted epoch itself: its metrics include the
	// batches before the interruption.
	again := newProblem(t, 96)
	loop3, _ := New(again.config())
	defer loop3.Close()
	var epoch1 map[string]float64
	var examples int
	loop3.Use(Hook{EpochEnd: func(_ context.Context, s *State) error {
		epoch1, examples = maps.Clone(s.Values), s.Examples
		return nil
	}})
	if _, err := loop3.RunAt(ctx, again.train, at, 2); err != nil {
		t.Fatal(err)
	}
	if examples != 96 {
		t.Errorf("the resumed epoch counts %d examples, want 96 (48 before the checkpoint)", examples)
	}
	if _, ok := epoch1[MetricAccuracy]; !ok {
		t.Errorf("no accuracy after the resumed epoch: %v", epoch1)
	}
}

func TestRunAtBadPosition(t *testing.T) {
	ctx := context.Background()
	p := newProblem(t, 96)
	loop, _ := New(p.config())
	defer loop.Close()
	if _, err := loop.RunAt(ctx, p.train, Position{Epoch: 0, Batch: 7, Step: 7}, 2); err == nil || !strings.Contains(err.Error(), "fewer than the 7") {
		t.Errorf("resuming past the epoch's end: %v, want an error saying the epoch is shorter", err)
	}
	if _, err := loop.RunAt(ctx, p.train, Position{Epoch: 3}, 2); err == nil {
		t.Error("resuming past the last epoch: no error")
	}
	if _, err := loop.RunAt(ctx, p.train, Position{Batch: -1}, 2); err == nil {
		t.Error("a negative batch: no error")
	}
}
