package feed

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/tensor"
)

// ramp returns n examples: x row i is (i, i+0.5), y is i.
func ramp(t *testing.T, n int) *Tensors {
	t.Helper()
	x := tensor.New(tensor.Float32, n, 2)
	y := tensor.New(tensor.Int32, n)
	for i := range n {
		x.Float32s()[2*i], x.Float32s()[2*i+1] = float32(i), float32(i)+0.5
		y.Int32s()[i] = int32(i)
	}
	s, err := FromTensors(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// epoch collects the labels of every batch of one epoch, checking that x agrees.
func epoch(t *testing.T, l *Loader, e int) (labels []int32, sizes []int) {
	t.Helper()
	it := l.Epoch(context.Background(), e)
	defer it.Close()
	for it.Next() {
		b := it.Batch()
		x, y := b.Tensors[0].Float32s(), b.Tensors[1].Int32s()
		for r := 0; r < b.Size; r++ {
			if x[2*r] != float32(y[r]) || x[2*r+1] != float32(y[r])+0.5 {
				t.Fatalf("batch %d row %d: x (%v, %v) does not belong to label %d", b.Index, r, x[2*r], x[2*r+1], y[r])
			}
		}
		labels = append(labels, y...)
		sizes = append(sizes, b.Size)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return labels, sizes
}

func TestLoaderInOrderWithRemainder(t *testing.T) {
	l, err := NewLoader(ramp(t, 10), 4)
	if err != nil {
		t.Fatal(err)
	}
	if l.Batches() != 3 || l.Examples() != 10 {
		t.Fatalf("Batches %d Examples %d, want 3 and 10", l.Batches(), l.Examples())
	}
	labels, sizes := epoch(t, l, 0)
	if !slices.Equal(sizes, []int{4, 4, 2}) || !slices.Equal(labels, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("sizes %v labels %v", sizes, labels)
	}
	// A second epoch reuses the same batches, the short one included.
	labels, sizes = epoch(t, l, 1)
	if !slices.Equal(sizes, []int{4, 4, 2}) || len(labels) != 10 {
		t.Fatalf("second epoch: sizes %v labels %v", sizes, labels)
	}
}

func TestLoaderDropRemainder(t *testing.T) {
	l, err := NewLoader(ramp(t, 10), 4, DropRemainder(), Shuffle(1))
	if err != nil {
		t.Fatal(err)
	}
	_, sizes := epoch(t, l, 0)
	if !slices.Equal(sizes, []int{4, 4}) || l.Examples() != 8 {
		t.Fatalf("sizes %v, Examples %d", sizes, l.Examples())
	}
	if _, err := NewLoader(ramp(t, 3), 4, DropRemainder()); err == nil {
		t.Fatal("3 examples in batches of 4 with DropRemainder: want an error")
	}
}

func TestLoaderShuffleIsAPermutationPerEpochAndReproducible(t *testing.T) {
	src := ramp(t, 100)
	l1, _ := NewLoader(src, 7, Shuffle(42))
	l2, _ := NewLoader(src, 7, Shuffle(42))
	a0, _ := epoch(t, l1, 0)
	a1, _ := epoch(t, l1, 1)
	b0, _ := epoch(t, l2, 0)
	if !slices.Equal(a0, b0) {
		t.Fatal("same seed and epoch gave different orders")
	}
	if slices.Equal(a0, a1) {
		t.Fatal("epochs 0 and 1 have the same order")
	}
	for _, a := range [][]int32{a0, a1} {
		s := slices.Clone(a)
		slices.Sort(s)
		for i, v := range s {
			if v != int32(i) {
				t.Fatalf("an epoch is not a permutation of the examples: sorted %v", s)
			}
		}
	}
	in := make([]int32, 100)
	for i := range in {
		in[i] = int32(i)
	}
	if slices.Equal(a0, in) {
		t.Fatal("shuffled epoch is in order")
	}
}

func TestLoaderSteadyStateAllocatesNothingPerBatch(t *testing.T) {
	l, err := NewLoader(ramp(t, 4000), 4, Prefetch(3))
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		it := l.Epoch(context.Background(), 0)
		for it.Next() {
		}
		it.Close()
	}
	run() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	// An epoch of 1000 batches: a few allocations per epoch (goroutine, channels,
	// context), none per batch.
	if n := after.Mallocs - before.Mallocs; n > 100 {
		t.Fatalf("an epoch of 1000 batches made %d allocations, want a constant few", n)
	}
}

func TestLoaderCancelAndClose(t *testing.T) {
	l, _ := NewLoader(ramp(t, 1000), 10, Prefetch(1))
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	if !it.Next() {
		t.Fatal("no first batch")
	}
	cancel()
	n := 0
	for it.Next() {
		n++
	}
	if !errors.Is(it.Err(), context.Canceled) || n > 5 {
		t.Fatalf("after cancel: %d more batches, Err %v; want few and context.Canceled", n, it.Err())
	}
	// Closing early is not an error, and the loader goes on.
	it = l.Epoch(context.Background(), 1)
	it.Next()
	it.Close()
	if it.Err() != nil || it.Next() {
		t.Fatalf("after Close: Err %v", it.Err())
	}
	labels, _ := epoch(t, l, 2)
	if len(labels) != 1000 {
		t.Fatalf("epoch after a closed one has %d examples", len(labels))
	}
}

type failing struct{ *Tensors }

func (f failing) Read(i int, out []*tensor.Tensor) error {
	if i == 13 {
		return errors.New("disk on fire")
	}
	return f.Tensors.Read(i, out)
}

func TestLoaderReadErrorEndsEpoch(t *testing.T) {
	l, _ := NewLoader(failing{ramp(t, 30)}, 4)
	it := l.Epoch(context.Background(), 0)
	for it.Next() {
	}
	if err := it.Err(); err == nil || err.Error() != "feed: batch 3, example 13: disk on fire" {
		t.Fatalf("Err = %v", err)
	}
}

func TestFromTensorsErrors(t *testing.T) {
	if _, err := FromTensors(tensor.New(tensor.Float32, 3, 2), tensor.New(tensor.Int32, 4)); err == nil {
		t.Fatal("3 and 4 rows: want an error")
	}
	if _, err := FromTensors(tensor.Scalar(1)); err == nil {
		t.Fatal("a scalar: want an error")
	}
}

func TestImagesSource(t *testing.T) {
	im := &formats.Images{N: 2, H: 1, W: 2, C: 1, Pixels: []uint8{0, 255, 51, 102}, Labels: []int32{3, 4}}
	s, err := FromImages(im)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewLoader(s, 2)
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	it.Next()
	b := it.Batch()
	if !slices.Equal(b.Tensors[0].Shape(), tensor.Shape{2, 1, 2, 1}) || !slices.Equal(b.Tensors[0].Float32s(), []float32{0, 1, 0.2, 0.4}) || !slices.Equal(b.Tensors[1].Int32s(), []int32{3, 4}) {
		t.Fatalf("batch %v %v", b.Tensors[0], b.Tensors[1])
	}
}

func img(h, w, c int) ([]float32, [3]int) {
	x := make([]float32, h*w*c)
	for i := range x {
		x[i] = float32(i)
	}
	return x, [3]int{h, w, c}
}

func TestCrops(t *testing.T) {
	x, sh := img(4, 5, 2)
	out := make([]float32, 2*3*2)
	CenterCrop(2, 3).Apply(out, x, sh, nil)
	// Rows 1-2, columns 1-3 of a 4×5×2 image.
	want := []float32{12, 13, 14, 15, 16, 17, 22, 23, 24, 25, 26, 27}
	if !slices.Equal(out, want) {
		t.Fatalf("centre crop %v, want %v", out, want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[float32]bool{}
	for range 200 {
		RandomCrop(2, 3).Apply(out, x, sh, rng)
		seen[out[0]] = true
		// Every crop is a contiguous window: neighbours differ by the layout's strides.
		if out[2]-out[0] != 2 || out[6]-out[0] != 10 {
			t.Fatalf("random crop is not a window: %v", out)
		}
	}
	if len(seen) != 9 { // 3 row offsets × 3 column offsets
		t.Fatalf("random crop used %d positions, want all 9", len(seen))
	}
	if _, err := CenterCrop(5, 5).OutShape(sh); err == nil {
		t.Fatal("a 5×5 crop of a 4×5 image: want an error")
	}
}

func TestFlipInPlace(t *testing.T) {
	x, sh := img(2, 3, 2)
	orig := slices.Clone(x)
	flipped := 0
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		RandomFlip().Apply(x, x, sh, rng)
		if x[0] == 4 && x[1] == 5 && x[2] == 2 && x[4] == 0 {
			flipped++
		} else if !slices.Equal(x, orig) {
			t.Fatalf("neither flipped nor original: %v", x)
		}
		copy(x, orig)
	}
	if flipped < 30 || flipped > 70 {
		t.Fatalf("flipped %d times of 100", flipped)
	}
}

func meanStd(x []float32) (float64, float64) {
	var s, ss float64
	for _, v := range x {
		s += float64(v)
		ss += float64(v) * float64(v)
	}
	m := s / float64(len(x))
	return m, math.Sqrt(ss/float64(len(x)) - m*m)
}

func TestPhotometric(t *testing.T) {
	x, sh := img(3, 3, 1)
	rng := rand.New(rand.NewPCG(5, 6))
	out := make([]float32, len(x))
	Standardize().Apply(out, x, sh, nil)
	if m, s := meanStd(out); math.Abs(m) > 1e-5 || math.Abs(s-1) > 1e-5 {
		t.Fatalf("standardised mean %v std %v", m, s)
	}
	flat := make([]float32, 9)
	Standardize().Apply(out, flat, sh, nil) // a constant image: no division by zero
	for _, v := range out {
		if v != 0 {
			t.Fatalf("standardised constant image %v", out)
		}
	}
	RandomBrightness(0.5).Apply(out, x, sh, rng)
	d := out[0] - x[0]
	for i := range x {
		if math.Abs(float64(out[i]-x[i]-d)) > 1e-5 || math.Abs(float64(d)) > 0.5 {
			t.Fatalf("brightness is not one shift in [-0.5, 0.5]: %v", out)
		}
	}
	RandomContrast(2, 2).Apply(out, x, sh, rng)
	m0, s0 := meanStd(x)
	m1, s1 := meanStd(out)
	if math.Abs(m0-m1) > 1e-4 || math.Abs(s1-2*s0) > 1e-4 {
		t.Fatalf("contrast ×2: mean %v -> %v, std %v -> %v", m0, m1, s0, s1)
	}
}

func TestLoaderAugmentTutorial(t *testing.T) {
	const n = 6
	im := &formats.Images{N: n, H: 32, W: 32, C: 3, Pixels: make([]uint8, n*32*32*3), Labels: make([]int32, n)}
	for i := range im.Pixels {
		im.Pixels[i] = uint8(i * 31)
	}
	for i := range im.Labels {
		im.Labels[i] = int32(i)
	}
	src, _ := FromImages(im)
	train, err := NewLoader(src, 4, Shuffle(9), Augment(TutorialAugment(24, 24)...))
	if err != nil {
		t.Fatal(err)
	}
	if got := train.Specs()[0].Shape; !slices.Equal(got, tensor.Shape{24, 24, 3}) {
		t.Fatalf("augmented spec %v", got)
	}
	first := func(l *Loader) []float32 {
		it := l.Epoch(context.Background(), 0)
		defer it.Close()
		it.Next()
		b := it.Batch()
		if !slices.Equal(b.Tensors[0].Shape(), tensor.Shape{4, 24, 24, 3}) {
			t.Fatalf("batch shape %v", b.Tensors[0].Shape())
		}
		x := b.Tensors[0].Float32s()[:24*24*3]
		if m, s := meanStd(x); math.Abs(m) > 1e-4 || math.Abs(s-1) > 1e-3 {
			t.Fatalf("augmented image not standardised: mean %v std %v", m, s)
		}
		return slices.Clone(x)
	}
	a := first(train)
	again, _ := NewLoader(src, 4, Shuffle(9), Augment(TutorialAugment(24, 24)...))
	if !slices.Equal(a, first(again)) {
		t.Fatal("same seed, different augmentation")
	}
	eval, _ := NewLoader(src, 4, Augment(TutorialEval(24, 24)...))
	first(eval)
	if _, err := NewLoader(ramp(t, 4), 2, Augment(Standardize())); err == nil {
		t.Fatal("augmenting a (2,) component: want an error")
	}
}

// The case of TensorFlow's reader_test for ptb_producer.
func TestLanguageModelMatchesPTBProducer(t *testing.T) {
	raw := []int32{4, 3, 2, 1, 0, 5, 6, 1, 1, 1, 1, 0, 3, 4, 1}
	src, err := NewLanguageModel(raw, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if src.Windows() != 2 {
		t.Fatalf("%d windows, want 2", src.Windows())
	}
	l, err := NewLoader(src, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2][]int32{
		{{4, 3, 5, 6, 1, 0}, {3, 2, 6, 1, 0, 3}},
		{{2, 1, 1, 1, 3, 4}, {1, 0, 1, 1, 4, 1}},
	}
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	for i := 0; it.Next(); i++ {
		b := it.Batch()
		if !slices.Equal(b.Tensors[0].Shape(), tensor.Shape{3, 2}) || !slices.Equal(b.Tensors[0].Int32s(), want[i][0]) || !slices.Equal(b.Tensors[1].Int32s(), want[i][1]) {
			t.Fatalf("batch %d: x %v y %v, want %v", i, b.Tensors[0].Int32s(), b.Tensors[1].Int32s(), want[i])
		}
	}
	if _, err := NewLanguageModel(raw, 5, 3); err == nil {
		t.Fatal("15 words in 5 rows of 3: no window of 3 steps; want an error")
	}
}
