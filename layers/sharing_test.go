package layers_test

import (
	"errors"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/tensor"
)

// Every layer with parameters, built twice under one name on two inputs: the
// second uses the first's parameters (and computes the same function), and
// the same name on an input of another size is ErrParamShape.
func TestEveryLayerSharesParameters(t *testing.T) {
	type mk func(in *layers.Layer) *layers.Layer
	cases := []struct {
		name   string
		shape  []int // input shape, batch first
		wider  []int // an input shape the parameters do not fit
		ints   int   // > 0: int32 ids below this
		layer  mk
		params int
	}{
		{"Dense", []int{2, 3}, []int{2, 4}, 0, func(in *layers.Layer) *layers.Layer { return layers.Dense(in, "L", 4) }, 2},
		{"DropConnectDense", []int{2, 3}, []int{2, 4}, 0, func(in *layers.Layer) *layers.Layer { return layers.DropConnectDense(in, "L", 4, 0.5) }, 2},
		{"Conv1D", []int{2, 5, 2}, []int{2, 5, 3}, 0, func(in *layers.Layer) *layers.Layer { return layers.Conv1D(in, "L", 3, 2) }, 2},
		{"Conv2D", []int{2, 4, 4, 2}, []int{2, 4, 4, 3}, 0, func(in *layers.Layer) *layers.Layer { return layers.Conv2D(in, "L", 3, 2, 2) }, 2},
		{"DeConv2D", []int{2, 2, 2, 2}, []int{2, 2, 2, 3}, 0, func(in *layers.Layer) *layers.Layer {
			return layers.DeConv2D(in, "L", 3, 2, 2, layers.Stride(2))
		}, 2},
		{"BatchNorm", []int{4, 3}, []int{4, 5}, 0, func(in *layers.Layer) *layers.Layer { return layers.BatchNorm(in, "L") }, 4},
		{"LayerNorm", []int{2, 3}, []int{2, 5}, 0, func(in *layers.Layer) *layers.Layer { return layers.LayerNorm(in, "L") }, 2},
		{"PReLU", []int{2, 3}, []int{2, 5}, 0, func(in *layers.Layer) *layers.Layer { return layers.PReLU(in, "L") }, 1},
		{"Embedding", []int{2, 3}, nil, 6, func(in *layers.Layer) *layers.Layer { return layers.Embedding(in, "L", 6, 2) }, 1},
		{"RNN", []int{2, 3, 2}, []int{2, 3, 4}, 0, func(in *layers.Layer) *layers.Layer { return layers.RNN(in, "L", 3) }, 2},
		{"LSTM", []int{2, 3, 2}, []int{2, 3, 4}, 0, func(in *layers.Layer) *layers.Layer { return layers.LSTM(in, "L", 3) }, 2},
		{"GRU", []int{2, 3, 2}, []int{2, 3, 4}, 0, func(in *layers.Layer) *layers.Layer { return layers.GRU(in, "L", 3) }, 4},
		{"BiLSTM", []int{2, 3, 2}, []int{2, 3, 4}, 0, func(in *layers.Layer) *layers.Layer {
			return layers.LSTM(in, "L", 3, layers.Bidirectional())
		}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := graph.New(1)
			input := func(name string, shape []int) *layers.Layer {
				s := append([]int{-1}, shape[1:]...)
				if c.ints > 0 {
					return layers.IntInput(g, name, s...)
				}
				return layers.Input(g, name, s...)
			}
			a, b := input("a", c.shape), input("b", c.shape)
			la, lb := c.layer(a), c.layer(b)
			if err := lb.Err(); err != nil {
				t.Fatal(err)
			}
			pa, pb := la.Params(), lb.Params()
			if len(pa) != c.params || len(pb) != c.params {
				t.Fatalf("params %v and %v, want %d each", pa, pb, c.params)
			}
			for i := range pa {
				if pa[i] != pb[i] {
					t.Fatalf("parameter %s is not shared", pa[i].Name())
				}
			}
			if n := len(g.Variables()); n != c.params {
				t.Fatalf("graph has %d variables, want %d", n, c.params)
			}
			var v *tensor.Tensor
			if c.ints > 0 {
				v = tensor.New(tensor.Int32, c.shape...)
				for i := range v.Int32s() {
					v.Int32s()[i] = int32(i % c.ints)
				}
			} else {
				v = rnd(3, c.shape...)
			}
			near(t, "second copy", run(t, lb, false, feed{b, v}), run(t, la, false, feed{a, v}).Float32s(), 0)
			if c.wider != nil {
				bad := c.layer(input("w", c.wider))
				if !errors.Is(bad.Err(), layers.ErrParamShape) {
					t.Fatalf("another input size under the same name: %v", bad.Err())
				}
			}
		})
	}
}
