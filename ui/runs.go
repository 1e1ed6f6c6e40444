package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// ImageField is the event field that holds an image a run logs (a GAN's
// grid of samples, say): PNG, JPEG or GIF bytes. The runs page shows a
// run's last MaxRunImages of them.
const ImageField = events.ImageField

// MaxRunImages is how many of a run's images the runs page shows: the last ones.
const MaxRunImages = events.MaxImages

// runImage is an image a run logged at a step.
type runImage struct {
	Run  string
	Step int64
}

// The run pages read the summaries and downsampled curves that package
// events keeps per run (a few lookups by _id), never the events themselves:
// FerretDB over SQLite answers any other query on the events by scanning
// them all (12-24 s for 100,000 events on a loaded laptop).

// listRuns is the runs page's table: every run of the project, newest
// last event first.
func listRuns(ctx context.Context, db *store.DB) ([]runRow, []events.Summary, error) {
	sums, err := events.Summaries(ctx, db, "")
	if err != nil {
		return nil, nil, fmt.Errorf("list the training runs of project %q: %w", db.Project(), err)
	}
	slices.SortFunc(sums, func(a, b events.Summary) int {
		return cmp.Or(b.End.Compare(a.End), strings.Compare(a.Run, b.Run))
	})
	rows := make([]runRow, 0, len(sums))
	for _, s := range sums {
		r := runRow{Run: s.Run, Model: s.Model, Events: s.Events, FirstStep: s.FirstStep, LastStep: s.LastStep,
			Start: s.Start, End: s.End, Status: s.Status, Version: s.ModelVersion}
		for _, v := range s.Last {
			r.Last = append(r.Last, metric{v.Name, v.Value})
		}
		rows = append(rows, r)
	}
	return rows, sums, nil
}

// runImages are the images of the runs, newest step first.
func runImages(sums []events.Summary, runs []string) []runImage {
	var out []runImage
	for _, s := range sums {
		if !slices.Contains(runs, s.Run) {
			continue
		}
		for _, im := range s.Images {
			out = append(out, runImage{Run: s.Run, Step: im.Step})
		}
	}
	slices.SortStableFunc(out, func(a, b runImage) int { return cmp.Or(cmp.Compare(b.Step, a.Step), strings.Compare(a.Run, b.Run)) })
	return out
}

// seriesOf is a run's curves from step from on (0: all), each downsampled to
// at most maxPoints points: one lookup of the run's curves.
func seriesOf(ctx context.Context, db *store.DB, run string, from int64, maxPoints int) (*runSeries, error) {
	cs, err := events.RunCurves(ctx, db, run)
	if err != nil {
		return nil, notFound(err)
	}
	s := &runSeries{Run: run, Model: cs.Model, LastStep: cs.LastStep, Curves: map[string]*curve{}}
	for _, c := range cs.Curves {
		part := &curve{X: c.Steps, Y: c.Values}
		if from != 0 {
			i, _ := slices.BinarySearch(c.Steps, from)
			part = &curve{X: c.Steps[i:], Y: c.Values[i:]}
		}
		s.Sampled = s.Sampled || c.Sampled()
		s.Events += len(part.X)
		if len(part.X) > maxPoints {
			part, s.Sampled = downsample(part, maxPoints), true
		}
		s.Curves[c.Name] = part
	}
	return s, nil
}

// notFound makes events.ErrNotFound a 404.
func notFound(err error) error {
	if errors.Is(err, events.ErrNotFound) {
		return fmt.Errorf("%w (%w)", errNotFound, err)
	}
	return err
}
