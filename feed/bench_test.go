package feed

import (
	"context"
	"testing"

	"github.com/tlgo/tl/formats"
)

func benchImages(n, h, w, c int) *formats.Images {
	im := &formats.Images{N: n, H: h, W: w, C: c, Pixels: make([]uint8, n*h*w*c), Labels: make([]int32, n)}
	for i := range im.Pixels {
		im.Pixels[i] = uint8(i)
	}
	return im
}

func benchLoader(b *testing.B, im *formats.Images, batch int, opts ...Option) {
	src, err := FromImages(im)
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewLoader(src, batch, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for e := 0; n < b.N; e++ {
		it := l.Epoch(context.Background(), e)
		for n < b.N && it.Next() {
			n += it.Batch().Size
		}
		it.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "examples/s")
}

// Shuffled Fashion-MNIST-shaped batches of 64 (bytes to float32 on the
// loader's goroutine). b.N counts examples.
func BenchmarkLoaderFashionMNIST(b *testing.B) {
	benchLoader(b, benchImages(6000, 28, 28, 1), 64, Shuffle(1))
}

// CIFAR-10-shaped batches of 128 through the tutorial's augmentation.
func BenchmarkLoaderCIFARAugment(b *testing.B) {
	benchLoader(b, benchImages(2000, 32, 32, 3), 128, Shuffle(1), Augment(TutorialAugment(24, 24)...))
}
