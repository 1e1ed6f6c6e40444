package gorgoniatest

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/graph/gradcheck"
	tlg "github.com/tlgo/tl/interop/gorgonia"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// swish is x·σ(x), written in Gorgonia.
func swish(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
	s, err := G.Sigmoid(in[0])
	if err != nil {
		return nil, err
	}
	return G.HadamardProd(in[0], s)
}

// gorgoniaLayer is the function of a Lambda layer that runs a Gorgonia
// expression: give it to LambdaN, and to FromJSON through WithFunc.
func gorgoniaLayer(name string, f tlg.Func) layers.Func {
	return func(in ...*graph.Node) *graph.Node { return tlg.Op(in[0].Graph(), name, f, in...) }
}

// A Gorgonia expression as a layer between layers of ours.
func Example() {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	net := layers.Dense(x, "fc", 3)
	net = layers.LambdaN("swish", gorgoniaLayer("swish", swish), net)
	net = layers.Dense(net, "out", 2)
	if err := net.Err(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(net.Summary())
	// Output:
	// layer  kind    output shape  params  inputs
	// x      Input   (?, 3)        0
	// fc     Dense   (?, 3)        12      x
	// swish  Lambda  (?, 3)        0       fc
	// out    Dense   (?, 2)        8       swish
	// params: 20 (trainable 20, other 0), in 4 variables
}

func TestGorgoniaLayer(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 3)
	net := layers.LambdaN("swish", gorgoniaLayer("swish", swish), x)
	e, err := g.NewExecutor(graph.Options{}, net.Output())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	in, _ := tensor.FromFloat32([]float32{-1, 0.5, 2, 3, -2, 0}, 2, 3)
	out, err := e.Run(graph.Feed{Node: x.Output(), Value: in})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range in.Float32s() {
		want := float64(v) / (1 + math.Exp(-float64(v)))
		if d := math.Abs(float64(out[0].Float32s()[i]) - want); d > 1e-5 {
			t.Fatalf("swish(%g) = %g, want %g", v, out[0].Float32s()[i], want)
		}
	}
	// The gradient flows through the Gorgonia expression into our layers.
	err = gradcheck.Check(gradcheck.Case{
		Inputs: []*tensor.Tensor{gradcheck.Rand(1, -1, 1, 2, 3)},
		Build: func(g *graph.Graph, in []*graph.Node) *graph.Node {
			l := layers.InputNode("x", in[0])
			l = layers.Dense(l, "fc", 4)
			l = layers.LambdaN("swish", gorgoniaLayer("swish", swish), l)
			return l.Output()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// JSON names the function; FromJSON takes it back by name.
	data, err := net.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := layers.FromJSON(graph.New(2), data, layers.WithFunc("swish", gorgoniaLayer("swish", swish))); err != nil {
		t.Fatal(err)
	}
}
