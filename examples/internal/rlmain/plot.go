package rlmain

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// point is the mean return of the last 100 episodes at a time (seconds).
type point struct{ sec, ret float64 }

// drawCurve writes the learning curve as a PNG, with the random policy's level
// as a dashed line when known.
func drawCurve(path, title string, pts []point, baseline float64, haveBaseline bool) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "wall time (s)"
	p.Y.Label.Text = "mean return, last 100 episodes"
	xy := make(plotter.XYs, len(pts))
	for i, q := range pts {
		xy[i] = plotter.XY{X: q.sec, Y: q.ret}
	}
	line, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	line.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	p.Add(line, plotter.NewGrid())
	if haveBaseline && len(pts) > 0 {
		b, err := plotter.NewLine(plotter.XYs{{X: 0, Y: baseline}, {X: pts[len(pts)-1].sec, Y: baseline}})
		if err != nil {
			return fmt.Errorf("drawing %s: %w", path, err)
		}
		b.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		b.Color = color.Gray{Y: 120}
		p.Add(b)
		p.Legend.Add("learner", line)
		p.Legend.Add("random policy", b)
		p.Legend.Top = false
		p.Legend.Left = false
	}
	w, err := p.WriterTo(16*vg.Centimeter, 9*vg.Centimeter, "png")
	if err != nil {
		return fmt.Errorf("drawing %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
