package eventplot_test

import (
	"bytes"
	"errors"
	"image/png"
	"testing"

	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/store/storetest"
)

func TestPNGOfARun(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		w, err := events.NewWriter(db, events.Options{Model: "cnn"})
		if err != nil {
			t.Fatal(err)
		}
		for step := int64(1); step <= 50; step++ {
			w.Step(step, map[string]float64{"loss": 2 / float64(step), "accuracy": 1 - 1/float64(step)})
			if step%10 == 0 {
				w.Log(events.Event{Phase: events.Validation, Step: step, Values: map[string]float64{"loss": 2.5 / float64(step)}})
			}
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := eventplot.PNG(ctx, db, events.Query{Run: w.Run()}, &buf, eventplot.Options{DPI: 50}); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("not a PNG: %v", err)
		}
		// 16cm wide and two 8cm panels at 50 dpi: 315 x 315 pixels.
		if s := img.Bounds().Size(); s.X < 300 || s.X > 330 || s.Y < 300 || s.Y > 330 {
			t.Fatalf("image is %v, want about 315x315", s)
		}
		colors := map[uint32]bool{}
		for y := 0; y < img.Bounds().Dy(); y += 3 {
			for x := 0; x < img.Bounds().Dx(); x += 3 {
				r, g, b, _ := img.At(x, y).RGBA()
				colors[r<<16^g<<8^b] = true
			}
		}
		if len(colors) < 3 {
			t.Fatalf("image has %d colours: nothing drawn", len(colors))
		}
		if err := eventplot.PNG(ctx, db, events.Query{Run: "no-such-run"}, &buf, eventplot.Options{}); !errors.Is(err, eventplot.ErrNoEvents) {
			t.Fatalf("plot of an unknown run = %v, want ErrNoEvents", err)
		}
		if err := eventplot.PNG(ctx, db, events.Query{Run: w.Run()}, &buf, eventplot.Options{Values: []string{"speed"}}); !errors.Is(err, eventplot.ErrNoEvents) {
			t.Fatalf("plot of a value no event has = %v, want ErrNoEvents", err)
		}
	})
}

// A series of one point (a single validation) is drawn as a dot: the image has
// more of its colour, the palette's second, than with dots off (where only the
// legend's sample line has it).
func TestOnePointIsVisible(t *testing.T) {
	evs := []events.Event{{Run: "r", Phase: events.Train, Step: 1, Values: map[string]float64{"loss": 2}},
		{Run: "r", Phase: events.Train, Step: 9, Values: map[string]float64{"loss": 1}},
		{Run: "r", Phase: events.Validation, Step: 5, Values: map[string]float64{"loss": 1.5}}}
	orange := func(opts eventplot.Options) int {
		var buf bytes.Buffer
		if err := eventplot.Render(evs, &buf, opts); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		n := 0 // pixels near 0xff7f0e
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if r>>8 > 0xe0 && g>>8 > 0x60 && g>>8 < 0xa0 && b>>8 < 0x40 {
					n++
				}
			}
		}
		return n
	}
	dots, none := orange(eventplot.Options{}), orange(eventplot.Options{Dots: -1})
	if dots < none+10 {
		t.Errorf("%d orange pixels with dots, %d without: the one validation point is not drawn", dots, none)
	}
}
