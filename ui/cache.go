package ui

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
)

// eventCache keeps the project's training events in memory, as curves by run
// and metric, read by one query that every page shares. FerretDB over SQLite
// answers any query on the events collection by scanning all of it (a
// second or more for 100,000 events), so a query per page, per run and per
// poll would make the run pages slow and keep the CPU busy; with the cache a
// page reads memory, and the store sees one scan at a time.
//
// A snapshot is fresh for Config.Refresh, or twice the time its scan took if
// that is longer, so that scanning takes at most a third of the time. A
// request that finds it stale starts a new scan and answers from the stale
// one; only the first request waits. The memory is about 16 bytes per value.
type eventCache struct {
	refresh time.Duration

	mu      sync.Mutex
	snap    *eventSnap
	at      time.Time     // when snap's scan started
	took    time.Duration // how long it took
	filling chan struct{} // closed when the scan in flight ends; nil when none
	err     error         // of the last scan
}

// eventSnap is the events of a project at one time.
type eventSnap struct {
	runs  []runRow           // newest first
	byRun map[string]*runLog // by run ID
}

// runLog is one run's curves, each sorted by step, and its images.
type runLog struct {
	model    string
	lastStep int64
	curves   map[string]*curve
	images   []runImage // by step
}

// ImageField is the event field that holds an image a run logs (a GAN's
// grid of samples, say): PNG, JPEG or GIF bytes. The runs page shows a
// run's last MaxRunImages of them.
const ImageField = "image"

// MaxRunImages is how many of a run's images the cache keeps: the last ones.
const MaxRunImages = 16

// runImage is an image a run logged at a step.
type runImage struct {
	Run  string
	Step int64
	data []byte
}

// get returns a snapshot of db's events, scanning when there is none or it
// is stale.
func (c *eventCache) get(ctx context.Context, db *store.DB) (*eventSnap, error) {
	c.mu.Lock()
	fresh := c.snap != nil && time.Since(c.at) < max(c.refresh, 2*c.took)
	if fresh || (c.snap != nil && c.filling != nil) {
		s := c.snap
		c.mu.Unlock()
		return s, nil
	}
	wait := c.filling
	if wait == nil {
		wait = make(chan struct{})
		c.filling = wait
		go c.fill(context.WithoutCancel(ctx), db, wait)
	}
	stale := c.snap
	c.mu.Unlock()
	if stale != nil {
		return stale, nil
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, fmt.Errorf("read the training events: %w", context.Cause(ctx))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil {
		return nil, c.err
	}
	return c.snap, nil
}

func (c *eventCache) fill(ctx context.Context, db *store.DB, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	snap, err := scanEvents(ctx, db)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filling, c.err = nil, err
	c.snap, c.at, c.took = snap, start, time.Since(start) // no snapshot after a failure: the next request waits for a scan
	close(done)
}

// scanEvents reads every event of db's project (without their user fields)
// and makes the runs' curves and summaries.
func scanEvents(ctx context.Context, db *store.DB) (*eventSnap, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	proj := bson.D{{Key: "_id", Value: 0}, {Key: "run", Value: 1}, {Key: "model", Value: 1}, {Key: "phase", Value: 1},
		{Key: "step", Value: 1}, {Key: "time", Value: 1}, {Key: "values", Value: 1}, {Key: "fields." + ImageField, Value: 1}}
	cur, err := db.Collection(events.Collection).Find(ctx, db.Scope(nil), options.Find().SetProjection(proj))
	if err != nil {
		return nil, fmt.Errorf("read the training events of project %q: %w", db.Project(), err)
	}
	defer cur.Close(ctx)
	byRun := map[string]*runLog{}
	rows := map[string]*runRow{}
	for cur.Next(ctx) {
		var e struct {
			Run    string             `bson:"run"`
			Model  string             `bson:"model"`
			Phase  string             `bson:"phase"`
			Step   int64              `bson:"step"`
			Time   time.Time          `bson:"time"`
			Values map[string]float64 `bson:"values"`
			Fields struct {
				Image []byte `bson:"image"`
			} `bson:"fields"`
		}
		if err := bson.Unmarshal(cur.Current, &e); err != nil {
			return nil, fmt.Errorf("read the training events of project %q: an event is malformed: %w", db.Project(), err)
		}
		r, l := rows[e.Run], byRun[e.Run]
		if r == nil {
			r = &runRow{Run: e.Run, FirstStep: e.Step, LastStep: e.Step, Start: e.Time, End: e.Time}
			l = &runLog{curves: map[string]*curve{}}
			rows[e.Run], byRun[e.Run] = r, l
		}
		r.Events++
		if e.Model != "" {
			r.Model, l.model = e.Model, e.Model
		}
		r.FirstStep, r.LastStep = min(r.FirstStep, e.Step), max(r.LastStep, e.Step)
		l.lastStep = r.LastStep
		if e.Time.Before(r.Start) {
			r.Start = e.Time
		}
		if e.Time.After(r.End) {
			r.End = e.Time
		}
		if len(e.Fields.Image) > 0 {
			l.images = append(l.images, runImage{Run: e.Run, Step: e.Step, data: e.Fields.Image})
		}
		for k, v := range e.Values {
			if e.Phase != "" && e.Phase != events.Train {
				k = e.Phase + "/" + k
			}
			cv := l.curves[k]
			if cv == nil {
				cv = &curve{}
				l.curves[k] = cv
			}
			cv.X, cv.Y = append(cv.X, e.Step), append(cv.Y, v)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read the training events of project %q: %w", db.Project(), err)
	}
	snap := &eventSnap{byRun: byRun, runs: make([]runRow, 0, len(rows))}
	for _, r := range rows {
		snap.runs = append(snap.runs, *r)
	}
	slices.SortFunc(snap.runs, func(a, b runRow) int {
		return cmp.Or(b.End.Compare(a.End), strings.Compare(a.Run, b.Run))
	})
	for _, l := range byRun {
		for _, cv := range l.curves {
			sort.Stable(byStep{cv})
		}
		slices.SortStableFunc(l.images, func(a, b runImage) int { return cmp.Compare(a.Step, b.Step) })
		l.images = l.images[max(0, len(l.images)-MaxRunImages):]
	}
	return snap, nil
}

// byStep sorts a curve's points by step, keeping the order of equal steps.
type byStep struct{ c *curve }

func (s byStep) Len() int           { return len(s.c.X) }
func (s byStep) Less(i, j int) bool { return s.c.X[i] < s.c.X[j] }
func (s byStep) Swap(i, j int) {
	s.c.X[i], s.c.X[j] = s.c.X[j], s.c.X[i]
	s.c.Y[i], s.c.Y[j] = s.c.Y[j], s.c.Y[i]
}

// series is a run's curves from step from on, each downsampled to at most
// maxPoints points.
func (snap *eventSnap) series(run string, from int64, maxPoints int) (*runSeries, error) {
	l, ok := snap.byRun[run]
	if !ok {
		return nil, fmt.Errorf("run %q has no events: %w", run, errNotFound)
	}
	s := &runSeries{Run: run, Model: l.model, LastStep: l.lastStep, Curves: map[string]*curve{}}
	for k, c := range l.curves {
		i, _ := slices.BinarySearch(c.X, from)
		if from == 0 {
			i = 0
		}
		part := &curve{X: c.X[i:], Y: c.Y[i:]}
		s.Events += len(part.X)
		if len(part.X) > maxPoints {
			part, s.Sampled = downsample(part, maxPoints), true
		}
		s.Curves[k] = part
	}
	return s, nil
}

// image is the image run logged at step.
func (snap *eventSnap) image(run string, step int64) ([]byte, error) {
	if l, ok := snap.byRun[run]; ok {
		for _, im := range l.images {
			if im.Step == step {
				return im.data, nil
			}
		}
	}
	return nil, fmt.Errorf("run %q has no image at step %d: %w", run, step, errNotFound)
}

// images are the images of the runs, newest step first.
func (snap *eventSnap) images(runs []string) []runImage {
	var out []runImage
	for _, r := range runs {
		if l, ok := snap.byRun[r]; ok {
			out = append(out, l.images...)
		}
	}
	slices.SortStableFunc(out, func(a, b runImage) int { return cmp.Or(cmp.Compare(b.Step, a.Step), strings.Compare(a.Run, b.Run)) })
	return out
}
