package feed_test

import (
	"context"
	"fmt"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/tensor"
)

// A loader cuts rows of tensors into batches; the last one is short unless
// DropRemainder is given.
func ExampleLoader() {
	x := tensor.New(tensor.Float32, 10, 3) // 10 examples of 3 features
	y := tensor.New(tensor.Int32, 10)      // and their labels
	for i := range 10 {
		y.Int32s()[i] = int32(i)
	}
	src, _ := feed.FromTensors(x, y)
	l, _ := feed.NewLoader(src, 4)
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	for it.Next() {
		b := it.Batch()
		fmt.Println(b.Index, b.Tensors[0].Shape(), b.Tensors[1].Int32s())
	}
	// Output:
	// 0 (4, 3) [0 1 2 3]
	// 1 (4, 3) [4 5 6 7]
	// 2 (2, 3) [8 9]
}

// The same seed gives the same order; each epoch has its own.
func ExampleShuffle() {
	y := tensor.New(tensor.Int32, 6)
	for i := range 6 {
		y.Int32s()[i] = int32(i)
	}
	src, _ := feed.FromTensors(y)
	l, _ := feed.NewLoader(src, 6, feed.Shuffle(7))
	for e := range 2 {
		it := l.Epoch(context.Background(), e)
		it.Next()
		order := append([]int32(nil), it.Batch().Tensors[0].Int32s()...)
		it.Close()
		fmt.Println(len(order), order[0] != order[1])
	}
	// Output:
	// 6 true
	// 6 true
}

// TensorFlow's CIFAR-10 augmentation turns 32×32 images into standardised
// 24×24 crops; the loader's batches take the new shape.
func ExampleAugment() {
	images := tensor.New(tensor.Float32, 8, 32, 32, 3)
	labels := tensor.New(tensor.Int32, 8)
	src, _ := feed.FromTensors(images, labels)
	train, _ := feed.NewLoader(src, 4, feed.Shuffle(1), feed.Augment(feed.TutorialAugment(24, 24)...))
	eval, _ := feed.NewLoader(src, 4, feed.Augment(feed.TutorialEval(24, 24)...))
	fmt.Println(train.Specs()[0], eval.Specs()[0])
	// Output: float32(24, 24, 3) float32(24, 24, 3)
}

// Skip-gram pairs for word2vec, as word2vec_basic's generate_batch cuts them:
// each centre word twice (num_skips 2), with two of its neighbours (skip
// window 1: both of them).
func ExampleSkipGram() {
	ids := []int32{10, 11, 12, 13, 14}
	src, _ := feed.NewSkipGram(ids, 1, 2, 1)
	l, _ := feed.NewLoader(src, 6)
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	for it.Next() {
		b := it.Batch()
		fmt.Println(b.Tensors[0].Shape(), b.Tensors[0].Int32s(), len(b.Tensors[1].Int32s()))
	}
	// Output:
	// (6,) [11 11 12 12 13 13] 6
}
