package feed

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// LanguageModel is a Source of word windows for a recurrent language model, cut
// as TensorFlow's ptb_producer cuts them: the ids are laid out as batch rows of
// len(ids)/batch consecutive words, and batch i holds, for every row, the words
// [i·steps, (i+1)·steps) as input and the same window shifted by one as target.
// Read through a Loader of batch size batch without shuffling, the batches come
// in that order, so an LSTM's state can carry over from one batch to the next.
type LanguageModel struct {
	ids               []int32
	batch, steps, row int
	windows           int
	specs             []Spec
}

// NewLanguageModel cuts ids into (batch, steps) windows; component 0 is the
// input (steps,) and component 1 the target (steps,), both int32.
func NewLanguageModel(ids []int32, batch, steps int) (*LanguageModel, error) {
	if batch <= 0 || steps <= 0 {
		return nil, fmt.Errorf("feed: NewLanguageModel: batch %d and steps %d must be positive", batch, steps)
	}
	row := len(ids) / batch
	windows := (row - 1) / steps
	if windows <= 0 {
		return nil, fmt.Errorf("feed: NewLanguageModel: %d words make no window of %d steps in %d rows (want more than batch·(steps+1) = %d)", len(ids), steps, batch, batch*(steps+1))
	}
	return &LanguageModel{ids: ids, batch: batch, steps: steps, row: row, windows: windows,
		specs: []Spec{{Shape: tensor.Shape{steps}, DType: tensor.Int32}, {Shape: tensor.Shape{steps}, DType: tensor.Int32}}}, nil
}

// Windows is the number of batches in an epoch (TensorFlow's epoch_size).
func (s *LanguageModel) Windows() int { return s.windows }

// Len implements Source: batch·Windows examples, batch i's row r being example
// i·batch + r.
func (s *LanguageModel) Len() int { return s.batch * s.windows }

// Specs implements Source.
func (s *LanguageModel) Specs() []Spec { return s.specs }

// Read implements Source.
func (s *LanguageModel) Read(k int, out []*tensor.Tensor) error {
	if k < 0 || k >= s.Len() {
		return fmt.Errorf("feed: window %d of %d", k, s.Len())
	}
	w, r := k/s.batch, k%s.batch
	start := r*s.row + w*s.steps
	copy(out[0].Int32s(), s.ids[start:start+s.steps])
	copy(out[1].Int32s(), s.ids[start+1:start+1+s.steps])
	return nil
}
