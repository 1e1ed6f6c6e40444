package modelio_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/modelio"
)

func net(g *graph.Graph, hidden int) *layers.Layer {
	x := layers.Input(g, "x", -1, 4)
	h := layers.Dense(x, "fc1", hidden, layers.ReLU)
	return layers.Dense(h, "fc2", 2)
}

// A model saved to a folder is rebuilt from its files alone, in a new graph.
func ExampleSave() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "model")
	defer os.RemoveAll(dir)

	trained := net(graph.New(1), 8)
	if err := modelio.Save(ctx, dir, trained, map[string]string{"epochs": "10"}); err != nil {
		fmt.Println(err)
		return
	}
	rebuilt, meta, err := modelio.Load(ctx, dir, graph.New(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	same := true
	for i, p := range rebuilt.AllParams() {
		a, b := p.Tensor().Float32s(), trained.AllParams()[i].Tensor().Float32s()
		for j := range a {
			same = same && a[j] == b[j]
		}
	}
	fmt.Println(rebuilt.Shape(), len(rebuilt.AllParams()), same, meta["epochs"])
	// Output: (?, 2) 4 true 10
}

// Weights that do not fit the network are refused with every difference listed,
// and the network keeps its own.
func ExampleLoadWeights() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "weights")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "w.safetensors")

	modelio.SaveWeights(ctx, path, net(graph.New(1), 8).AllParams(), nil)
	_, err := modelio.LoadWeights(ctx, path, net(graph.New(1), 16).AllParams())
	fmt.Println(errors.Is(err, modelio.ErrMismatch))
	var mm *modelio.MismatchError
	errors.As(err, &mm)
	for _, s := range mm.Shapes {
		fmt.Println(s)
	}
	// Output:
	// true
	// fc1/W: file (4, 8), network (4, 16)
	// fc1/b: file (8,), network (16,)
	// fc2/W: file (8, 2), network (16, 2)
}
