package feed

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// SkipGram is a Source of (centre, context) word pairs for word2vec, as
// TensorFlow's word2vec_basic cuts them with generate_batch: every word with
// skipWindow words on each side is a centre, and numSkips of those 2·skipWindow
// neighbours, drawn without replacement, are its contexts. Example k is the
// (k mod numSkips)-th context of centre k / numSkips, so a Loader without
// shuffling yields the tutorial's batches (the centre repeated numSkips times);
// with shuffling, pairs from all over the text. The draw is a function of the
// seed and the centre's position: the same pairs every epoch, and Read
// allocates nothing.
type SkipGram struct {
	ids                  []int32
	skipWindow, numSkips int
	seed                 uint64
	specs                []Spec
}

// NewSkipGram pairs the words of ids; component 0 is the centre word, component
// 1 the context word (the NCE label), both int32 scalars.
func NewSkipGram(ids []int32, skipWindow, numSkips int, seed uint64) (*SkipGram, error) {
	switch {
	case skipWindow < 1 || skipWindow > 64:
		return nil, fmt.Errorf("feed: NewSkipGram: skip window %d; want 1 to 64 words on each side", skipWindow)
	case numSkips < 1 || numSkips > 2*skipWindow:
		return nil, fmt.Errorf("feed: NewSkipGram: %d skips; want 1 to 2·skip window = %d", numSkips, 2*skipWindow)
	case len(ids) <= 2*skipWindow:
		return nil, fmt.Errorf("feed: NewSkipGram: %d words make no centre with %d words on each side", len(ids), skipWindow)
	}
	scalar := Spec{Shape: tensor.Shape{}, DType: tensor.Int32}
	return &SkipGram{ids: ids, skipWindow: skipWindow, numSkips: numSkips, seed: seed, specs: []Spec{scalar, scalar}}, nil
}

// Len implements Source: numSkips pairs for each centre.
func (s *SkipGram) Len() int { return (len(s.ids) - 2*s.skipWindow) * s.numSkips }

// Specs implements Source.
func (s *SkipGram) Specs() []Spec { return s.specs }

// Read implements Source.
func (s *SkipGram) Read(k int, out []*tensor.Tensor) error {
	if k < 0 || k >= s.Len() {
		return fmt.Errorf("feed: skip-gram pair %d of %d", k, s.Len())
	}
	c, j := k/s.numSkips, k%s.numSkips
	centre := c + s.skipWindow
	// The first numSkips of a seeded shuffle of the window's offsets
	// (-skip..-1, 1..skip); the j-th is this pair's context.
	var offs [128]int
	n := 2 * s.skipWindow
	for i := range n {
		offs[i] = i - s.skipWindow
		if offs[i] >= 0 {
			offs[i]++
		}
	}
	state := s.seed ^ uint64(centre)*0x9e3779b97f4a7c15
	for i := 0; i <= j; i++ {
		state = splitmix(state)
		r := i + int(state%uint64(n-i))
		offs[i], offs[r] = offs[r], offs[i]
	}
	out[0].Int32s()[0] = s.ids[centre]
	out[1].Int32s()[0] = s.ids[centre+offs[j]]
	return nil
}

// splitmix is one step of SplitMix64: a cheap, well-mixed sequence.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
