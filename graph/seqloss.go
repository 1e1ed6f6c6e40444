package graph

import (
	"fmt"

	"github.com/tlgo/tl/tensor"
)

// SequenceCrossEntropy is a language model's loss as TensorFlow's ptb_word_lm
// computes it: -log softmax(logits)[target] summed over the steps of a window
// and averaged over the batch. logits are (batch·steps, vocab), one row per
// word in batch-major order; targets are (batch, steps) int32, as
// feed.LanguageModel yields them, and are flattened here.
//
// SparseSoftmaxCrossEntropy averages over batch·steps instead: with the same
// learning rate and gradient clip, its step is steps times smaller (ptb_word_lm's
// learning rate 1 and clip 5 would learn 20 times slower with it).
func SequenceCrossEntropy(logits, targets *Node, steps int) *Node {
	g := logits.g
	if steps < 1 {
		return g.fail(fmt.Errorf("SequenceCrossEntropy: %d steps; want at least 1", steps))
	}
	if sh := targets.Value().Shape; len(sh) != 2 || sh[1] != steps {
		return g.fail(&tensor.ShapeError{Op: "SequenceCrossEntropy", Arg: "targets", Got: sh, Want: fmt.Sprintf("(batch, %d) int32, one row of targets per window", steps)})
	}
	return Scale(SparseSoftmaxCrossEntropy(logits, Reshape(targets, -1)), float32(steps))
}
