package graph_test

import (
	"math"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/tensor"
)

// LeakyRelu and its gradient, computed without branches on the sign for slopes
// in [0, 1] (and with them otherwise), match the definition element by element
// on values of both signs, zeros of both signs included, over enough elements
// that the parallel chunks and the loops' tails are all visited.
func TestLeakyReluExact(t *testing.T) {
	const n = 3*(1<<14) + 5
	x := tensor.New(tensor.Float32, n)
	tensor.Normal(0, 1).Init(x, tensor.NewRand(4))
	x.Float32s()[0], x.Float32s()[1] = 0, float32(math.Copysign(0, -1))
	dy := tensor.New(tensor.Float32, n)
	tensor.Normal(0, 1).Init(dy, tensor.NewRand(5))
	for _, p := range []float32{0.2, 0, 1, 1.5} {
		g := graph.New(1)
		xn := g.Placeholder("x", tensor.Float32, n)
		y := graph.LeakyRelu(xn, p)
		// The gradient of sum(y·dy) with respect to x is dy times the slope.
		grads, err := graph.Gradients(graph.ReduceSum(graph.Mul(y, g.Const(dy))), xn)
		if err != nil {
			t.Fatal(err)
		}
		exe, err := g.NewExecutor(graph.Options{}, y, grads[0])
		if err != nil {
			t.Fatal(err)
		}
		out, err := exe.Run(graph.Feed{Node: xn, Value: x})
		exe.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range x.Float32s() {
			want, slope := v, float32(1)
			if v < 0 {
				want = v * p
			}
			if !(v > 0) {
				slope = p
			}
			if got := out[0].Float32s()[i]; got != want {
				t.Fatalf("slope %g: LeakyRelu(%g) = %g, want %g", p, v, got, want)
			}
			if got := out[1].Float32s()[i]; got != dy.Float32s()[i]*slope {
				t.Fatalf("slope %g: gradient at %g = %g, want %g", p, v, got, dy.Float32s()[i]*slope)
			}
		}
	}
}
