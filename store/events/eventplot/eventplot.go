// Package eventplot draws the curves of training runs recorded by package
// events as PNG images: one panel per value (loss, accuracy, ...), one line
// per run and phase, steps along the x axis.
//
// It is a package of its own so that programs that only log events do not
// link the plotting library and its fonts.
package eventplot

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// Options of a drawing.
type Options struct {
	// Values to draw, one panel each, in this order; default every value
	// the events carry, sorted by name.
	Values []string
	// Title above the first panel; default the run ID when there is one run.
	Title string
	// Width of the image and Height of each panel; default 16cm and 8cm.
	Width, Height vg.Length
	// DPI of the PNG; default 96.
	DPI int
	// Dots draws each point of a series of at most this many points as a dot
	// too (a line through one point draws nothing); default 30, -1 never.
	Dots int
}

// ErrNoEvents is returned when there is nothing to draw.
var ErrNoEvents = errors.New("eventplot: no events to draw")

// PNG queries events and draws them to w as a PNG image.
func PNG(ctx context.Context, db *store.DB, q events.Query, w io.Writer, opts Options) error {
	evs, err := events.Find(ctx, db, q)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%w: query %+v matched nothing in project %q", ErrNoEvents, q, db.Project())
	}
	return Render(evs, w, opts)
}

// Render draws events to w as a PNG image.
func Render(evs []events.Event, w io.Writer, opts Options) error {
	names := opts.Values
	if len(names) == 0 {
		seen := map[string]bool{}
		for _, e := range evs {
			for k := range e.Values {
				if !seen[k] {
					seen[k] = true
					names = append(names, k)
				}
			}
		}
		slices.Sort(names)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: %d events carry no values", ErrNoEvents, len(evs))
	}
	width, height := opts.Width, opts.Height
	if width == 0 {
		width = 16 * vg.Centimeter
	}
	if height == 0 {
		height = 8 * vg.Centimeter
	}
	dpi := opts.DPI
	if dpi == 0 {
		dpi = 96
	}
	dotsUpTo := opts.Dots
	if dotsUpTo == 0 {
		dotsUpTo = 30
	}
	runs := map[string]bool{}
	for _, e := range evs {
		runs[e.Run] = true
	}
	title := opts.Title
	if title == "" && len(runs) == 1 {
		title = "run " + evs[0].Run
	}

	type key struct{ run, phase string }
	plots := make([][]*plot.Plot, len(names))
	for i, name := range names {
		p := plot.New()
		if i == 0 {
			p.Title.Text = title
		}
		p.X.Label.Text = "step"
		p.Y.Label.Text = name
		p.Add(plotter.NewGrid())
		series := map[key]plotter.XYs{}
		var order []key
		for _, e := range evs {
			v, ok := e.Values[name]
			if !ok {
				continue
			}
			k := key{e.Run, e.Phase}
			if _, ok := series[k]; !ok {
				order = append(order, k)
			}
			series[k] = append(series[k], plotter.XY{X: float64(e.Step), Y: v})
		}
		if len(order) == 0 {
			return fmt.Errorf("%w: no event has value %q", ErrNoEvents, name)
		}
		for j, k := range order {
			xy := series[k]
			slices.SortStableFunc(xy, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
			line, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("eventplot: %s of %s/%s: %w", name, k.run, k.phase, err)
			}
			line.Color = lineColor(j)
			line.Width = vg.Points(1.2)
			p.Add(line)
			if len(xy) <= dotsUpTo {
				// A line through one point draws nothing; few points (a
				// validation every epoch) read better as dots.
				dots, err := plotter.NewScatter(xy)
				if err != nil {
					return fmt.Errorf("eventplot: %s of %s/%s: %w", name, k.run, k.phase, err)
				}
				dots.GlyphStyle.Color = lineColor(j)
				dots.GlyphStyle.Shape = draw.CircleGlyph{}
				dots.GlyphStyle.Radius = vg.Points(2.5)
				p.Add(dots)
			}
			label := k.phase
			if len(runs) > 1 {
				label = k.run + " " + k.phase
			}
			p.Legend.Add(label, line)
		}
		p.Legend.Top = true
		plots[i] = []*plot.Plot{p}
	}

	img := vgimg.NewWith(vgimg.UseWH(width, height*vg.Length(len(names))), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(names), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2, PadY: vg.Millimeter * 4}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("eventplot: write PNG: %w", err)
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lineColor returns the j-th colour of a small categorical palette.
func lineColor(j int) color.Color {
	palette := [...]color.RGBA{
		{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
		{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
		{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	}
	return palette[j%len(palette)]
}
