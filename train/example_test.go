package train_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// A softmax regression trained by the loop, with an evaluation hook and a hook
// of one's own that stops once the training accuracy is perfect.
func ExampleLoop() {
	// Two classes: points left (0) or right (1) of the y axis.
	const n = 64
	xs := tensor.New(tensor.Float32, n, 2)
	ys := tensor.New(tensor.Int32, n)
	for i := range n {
		side := float32(i%2*2 - 1)
		xs.Float32s()[2*i], xs.Float32s()[2*i+1] = side*(1+float32(i%5)), float32(i%7)-3
		ys.Int32s()[i] = int32(i % 2)
	}
	src, _ := feed.FromTensors(xs, ys)
	loader, _ := feed.NewLoader(src, 16, feed.Shuffle(1))

	g := graph.New(1)
	x := g.Placeholder("x", tensor.Float32, -1, 2)
	y := g.Placeholder("y", tensor.Int32, -1)
	w := g.Variable("w", tensor.Zeros(), 2, 2)
	logits := graph.MatMul(x, w)
	loss := graph.SparseSoftmaxCrossEntropy(logits, y)
	step, _ := optim.Minimize(optim.NewSGD(g, "sgd", 0.1), loss)

	cfg := train.Config{Inputs: []*graph.Node{x, y}, Loss: loss, Update: step, Logits: logits, Labels: y, Options: graph.Options{Threads: 1}}
	loop, _ := train.New(cfg)
	defer loop.Close()
	ev, _ := loop.NewEvaluator()
	defer ev.Close()
	loop.Use(
		train.Evaluate(ev, loader, "eval_"),
		train.Hook{Name: "perfect", EpochEnd: func(_ context.Context, s *train.State) error {
			if s.Values["eval_accuracy"] == 1 {
				return train.ErrStop
			}
			return nil
		}},
	)
	st, err := loop.Run(context.Background(), loader, 50)
	fmt.Println(err, st.Stopped, st.Values["eval_accuracy"])
	// Output: <nil> true 1
}

// Top-k accuracy from logits and labels, without sorting or allocating.
func ExampleCorrectTopK() {
	logits := []float32{
		0.1, 0.6, 0.3, // label 2 is second
		0.8, 0.1, 0.1, // label 0 is first
	}
	labels := []int32{2, 0}
	fmt.Println(train.Correct(logits, labels, 3), train.CorrectTopK(logits, labels, 3, 2))
	// Output: 1 2
}

// The line a progress bar draws (on a terminal only): done/total, the rate and
// the time left.
func ExampleBar() {
	fmt.Println(train.Bar("epoch 1/12", 15000, 60000, "samples", 10*time.Second, 90))
	// Output: epoch 1/12 [=======>                      ] 15000/60000  25% 1500 samples/s ETA 0:30
}
