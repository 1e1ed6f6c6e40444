package eventplot_test

import (
	"bytes"
	"fmt"
	"image/png"
	"log"

	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
)

// Render draws events already in memory; PNG queries them first.
func ExampleRender() {
	var evs []events.Event
	for step := int64(1); step <= 20; step++ {
		evs = append(evs, events.Event{Run: "r", Phase: events.Train, Step: step,
			Values: map[string]float64{"loss": 1 / float64(step)}})
	}
	var buf bytes.Buffer
	if err := eventplot.Render(evs, &buf, eventplot.Options{DPI: 50}); err != nil {
		log.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Bounds().Dx(), "x", img.Bounds().Dy())
	// Output: 315 x 157
}
