package train

import (
	"context"
	"fmt"

	"github.com/tlgo/tl/feed"
)

// Position is where a resumed run starts: in epoch Epoch (from 0), after its
// first Batch batches, with Step steps taken since the run began. Examples
// and Values are the epoch's running metrics at that point (State.Examples
// and State.Values when the checkpoint was taken), so the epoch's averages
// cover the batches before the interruption too.
type Position struct {
	Epoch, Batch, Step int
	Examples           int
	Values             map[string]float64
}

// RunFrom resumes a run at epoch first (counted from 0) and goes on until epoch
// epochs: the step counter starts at first·StepsPerEpoch, so schedules carry on
// where they were, and each epoch shuffles as it did in the original run. Load
// the checkpoint's weights (modelio.LoadWeights) before calling it. RunAt
// resumes in the middle of an epoch.
func (l *Loop) RunFrom(ctx context.Context, loader feed.Batches, first, epochs int) (*State, error) {
	return l.RunAt(ctx, loader, Position{Epoch: first, Step: first * max(loader.Batches(), 0)}, epochs)
}

// skip reads n batches of an epoch without training on them. Random
// augmentation draws from the epoch's generator in batch order, so what
// follows is what the uninterrupted run saw.
func skip(it feed.Iterator, n int) error {
	for i := range n {
		if !it.Next() {
			it.Close()
			if err := it.Err(); err != nil {
				return err
			}
			return fmt.Errorf("the epoch has %d batches, fewer than the %d to skip", i, n)
		}
	}
	return nil
}

// resumeMean takes up a running metric from a Position.
func resumeMean(m *Mean, s *State, name string, at Position) {
	if v, ok := at.Values[name]; ok && name != "" && at.Examples > 0 {
		m.Add(v, at.Examples)
		s.Values[name] = v
	}
}

// Pull copies a device's variables to the host, so that a hook between the
// epoch's ends (a checkpoint every N steps) sees the trained values; on the
// CPU it does nothing.
func (s *State) Pull() error {
	if s.device == nil {
		return nil
	}
	if err := s.device.Pull(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
