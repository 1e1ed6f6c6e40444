package graph_test

import (
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// Two windows of two steps: the loss is each window's sum of the per-word
// losses, averaged over the windows (ptb_word_lm's), that is steps times
// SparseSoftmaxCrossEntropy's mean over the four words; and the targets come
// as (batch, steps).
func TestSequenceCrossEntropy(t *testing.T) {
	g := graph.New(1)
	logits := g.Const(mustF32(t, []float32{1, 2, 3, 0, 0, 0, 3, 2, 1, 0, 1, 0}, 4, 3))
	targets := g.Const(mustI32(t, []int32{2, 0, 0, 1}, 2, 2))
	loss := graph.SequenceCrossEntropy(logits, targets, 2)
	p, err := g.Compile(graph.Options{}, nil, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	// Per word: -log softmax = 0.40760596, 1.09861229, 0.40760596, 0.55144471.
	want := ((0.40760596 + 1.09861229) + (0.40760596 + 0.55144471)) / 2
	if got := p.Outputs()[0].At(); abs(got-want) > 1e-5 {
		t.Errorf("sequence loss = %v, want %v", got, want)
	}
}

func TestSequenceCrossEntropyShapes(t *testing.T) {
	g := graph.New(1)
	logits := g.Placeholder("logits", tensor.Float32, -1, 5)
	flat := g.Placeholder("flat", tensor.Int32, -1)
	graph.SequenceCrossEntropy(logits, flat, 3)
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "(batch, 3)") {
		t.Fatalf("flat targets: %v; want an error asking for (batch, 3)", err)
	}
}
