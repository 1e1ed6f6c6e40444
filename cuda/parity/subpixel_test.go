package parity

import (
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

// Parity of the SubPixel2D layer (layers/subpixel.go: a rank-6 reshape and
// transpose, forward and gradient), alone and after the convolution that
// feeds it in SRGAN's upsampling block, on fresh random inputs.
func TestLayersSubPixel2D(t *testing.T) {
	shuffle := func(r int, conv bool) func(g *graph.Graph, in []*graph.Node) *graph.Node {
		return func(g *graph.Graph, in []*graph.Node) *graph.Node {
			x := layers.InputNode("x", in[0])
			if conv {
				x = layers.Conv2D(x, "conv", 4*r*r, 3, 3, layers.Same)
			}
			return layers.SubPixel2D(x, "up", r).Output()
		}
	}
	Run(t,
		Case{Name: "R2", In: []In{{Shape: []int{2, 5, 7, 12}}}, Build: shuffle(2, false)},
		Case{Name: "R3Batch1", In: []In{{Shape: []int{1, 3, 4, 18}}}, Build: shuffle(3, false)},
		Case{Name: "R4Wide", In: []In{{Shape: []int{3, 7, 7, 64}}}, Build: shuffle(4, false)},
		Case{Name: "ConvR2", In: []In{{Shape: []int{2, 7, 7, 3}}}, Build: shuffle(2, true)},
	)
}
