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
