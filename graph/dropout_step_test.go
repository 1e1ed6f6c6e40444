package graph_test

import (
	"slices"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// With Options.Step, dropout's mask is a function of the step the caller
// sets, not of how many runs a plan made: a fresh executor at step 3 draws
// the mask the first one drew at its third run, as a resumed training run
// must; without it, each plan counts its own runs from 1.
func TestDropoutMaskFollowsOptionsStep(t *testing.T) {
	g := graph.New(11)
	x := g.Placeholder("x", tensor.Float32, -1)
	y := graph.Dropout(x, 0.5)
	xt := tensor.New(tensor.Float32, 257)
	xt.Fill(1)
	masks := func(opts graph.Options, steps ...uint64) [][]float32 {
		t.Helper()
		exe, err := g.NewExecutor(opts, y)
		if err != nil {
			t.Fatal(err)
		}
		defer exe.Close()
		var out [][]float32
		for _, s := range steps {
			if opts.Step != nil {
				*opts.Step = s
			}
			o, err := exe.Run(graph.Feed{Node: x, Value: xt})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, slices.Clone(o[0].Float32s()))
		}
		return out
	}
	var step uint64
	first := masks(graph.Options{Training: true, Step: &step}, 1, 2, 3)
	if slices.Equal(first[1], first[2]) {
		t.Fatal("steps 2 and 3 drew the same mask")
	}
	if resumed := masks(graph.Options{Training: true, Step: &step}, 3); !slices.Equal(resumed[0], first[2]) {
		t.Error("a fresh executor at step 3 drew another mask than the first at step 3")
	}
	if own := masks(graph.Options{Training: true}, 0, 0, 0); !slices.Equal(own[2], first[2]) {
		t.Error("without Options.Step, a plan's third run should draw the mask of step 3")
	}
}
