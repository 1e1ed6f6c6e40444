package layers_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/layers"
)

// Hand-computed: one pixel of r² channels becomes an r×r block, channel
// (dy·r + dx)·C + c at (dy, dx); with C = 2, the two channels interleave.
func TestSubPixel2DForward(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 1, 1, 4)
	l := layers.SubPixel2D(x, "up", 2)
	wantShape(t, l, -1, 2, 2, 1)
	near(t, "1×1×4", run(t, l, false, feed{x, f32([]float32{1, 2, 3, 4}, 1, 1, 1, 4)}), []float32{1, 2, 3, 4}, 0)

	g = graph.New(1)
	x = layers.Input(g, "x", -1, 1, 2, 8) // two pixels side by side, C = 2
	l = layers.SubPixel2D(x, "up", 2)
	wantShape(t, l, -1, 2, 4, 2)
	in := f32([]float32{
		0, 1, 2, 3, 4, 5, 6, 7, // pixel (0, 0): (dy, dx, c) = (0,0,0) (0,0,1) (0,1,0) (0,1,1) (1,0,0) ...
		10, 11, 12, 13, 14, 15, 16, 17, // pixel (0, 1)
	}, 1, 1, 2, 8)
	near(t, "1×2×8", run(t, l, false, feed{x, in}), []float32{
		0, 1, 2, 3, 10, 11, 12, 13, // output row 0: (0,0) (0,1) (0,2) (0,3), two channels each
		4, 5, 6, 7, 14, 15, 16, 17, // output row 1
	}, 0)
}

// Against the definition on random odd sizes, batch 1 and 3, scales 1 to 3,
// and the gradient by finite differences (through a convolution, so that the
// channels it shuffles come from parameters too).
func TestSubPixel2DRandom(t *testing.T) {
	for _, c := range []struct{ n, h, w, ch, r int }{{1, 3, 5, 9, 3}, {3, 2, 3, 8, 2}, {2, 5, 1, 3, 1}, {1, 1, 1, 12, 2}} {
		g := graph.New(1)
		x := layers.Input(g, "x", -1, c.h, c.w, c.ch)
		l := layers.SubPixel2D(x, "up", c.r)
		v := rnd(uint64(c.h*10+c.r), c.n, c.h, c.w, c.ch)
		oc := c.ch / (c.r * c.r)
		want := make([]float32, v.Shape().Size())
		for b := range c.n {
			for y := range c.h * c.r {
				for xx := range c.w * c.r {
					for k := range oc {
						src := ((b*c.h+y/c.r)*c.w+xx/c.r)*c.ch + ((y%c.r)*c.r+xx%c.r)*oc + k
						want[((b*c.h*c.r+y)*c.w*c.r+xx)*oc+k] = v.Float32s()[src]
					}
				}
			}
		}
		near(t, "random", run(t, l, false, feed{x, v}), want, 0)

		g = graph.New(2)
		x = layers.Input(g, "x", -1, c.h, c.w, 2)
		net := layers.SubPixel2D(layers.Conv2D(x, "conv", c.ch, 3, 3, layers.Same), "up", c.r)
		checkGrads(t, net, false, feed{x, rnd(7, c.n, c.h, c.w, 2)})
	}
}

// Channels that are not a multiple of r², and a scale below 1, are config
// errors naming the layer and what is needed; the layer survives a round trip
// through the architecture JSON.
func TestSubPixel2DErrorsAndJSON(t *testing.T) {
	g := graph.New(1)
	x := layers.Input(g, "x", -1, 4, 4, 6)
	err := layers.SubPixel2D(x, "up", 2).Err()
	if !errors.Is(err, layers.ErrBadConfig) || !strings.Contains(err.Error(), "multiple of 4") || !strings.Contains(err.Error(), "up") {
		t.Fatalf("6 channels, scale 2: %v", err)
	}
	if err := layers.SubPixel2D(x, "up0", 0).Err(); !errors.Is(err, layers.ErrBadConfig) {
		t.Fatalf("scale 0: %v", err)
	}
	if err := layers.SubPixel2D(layers.Input(g, "flat", -1, 16), "upf", 2).Err(); !errors.Is(err, layers.ErrBadConfig) {
		t.Fatalf("a rank-2 input: %v", err)
	}
	g = graph.New(1)
	x = layers.Input(g, "x", -1, 2, 3, 8)
	net := layers.SubPixel2D(x, "up", 2)
	roundTrip(t, net, []feed{{x, rnd(1, 2, 2, 3, 8)}})
}
