package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
)

// Collection holds the events of every project and run.
const Collection = "events"

// Phases of training that events are tagged with.
const (
	Train      = "train"
	Validation = "validation"
	Test       = "test"
)

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("events: writer closed")

// Event is one log line of a run: a step, when, and named numbers.
type Event struct {
	Project string    `bson:"project"`
	Model   string    `bson:"model,omitempty"`
	Run     string    `bson:"run"`
	Phase   string    `bson:"phase"` // Train, Validation, Test, or any word
	Step    int64     `bson:"step"`
	Time    time.Time `bson:"time"`
	// Values are the numbers to plot and query: "loss", "accuracy",
	// "speed" (samples/s), "lr", any user name.
	Values map[string]float64 `bson:"values,omitempty"`
	// Fields are any other user data (strings, tags, small documents).
	Fields map[string]any `bson:"fields,omitempty"`
}

// Writer options.
type Options struct {
	// Model the run trains (a model name of package models); optional.
	Model string
	// Run names the run; default a fresh random ID (see Writer.Run).
	Run string
	// Buffer is how many events wait in memory; when full, Log drops the
	// event instead of blocking training. Default 8192.
	Buffer int
	// BatchSize events are written in one insert; default 512.
	BatchSize int
	// Interval between writes of a partial batch; default 1s.
	Interval time.Duration
}

// Writer records events in the background: Log hands an event over and
// returns at once; a goroutine writes them in batches, when a batch is full,
// every Interval, on Flush and on Close. If the server is slow or away, the
// writer keeps retrying the pending batch while new events wait in the
// buffer; once the buffer is full, further events are dropped and counted
// (Stats), never blocking the caller.
//
// Lock ordering: none; Log touches only an atomic and a channel, and all
// batch state belongs to the writing goroutine.
type Writer struct {
	db     *store.DB
	coll   *mongo.Collection
	model  string
	run    string
	batch  int
	every  time.Duration
	logger *slog.Logger

	ch      chan Event
	flushes chan chan error
	stop    chan struct{}
	done    chan struct{}
	ctx     context.Context // of the writes; abort cancels it
	abort   context.CancelFunc

	// Of the writing goroutine only: the run's summary and curves, loaded
	// from the store at the first write (a run may be resumed).
	state  *runState
	dirty  bool   // state has events the stored summary lacks
	wid    string // this writer's part of event _ids
	seq    int64  // events this writer has numbered
	prefix string // of the run's event _ids

	closeOnce sync.Once
	closed    atomic.Bool
	written   atomic.Int64
	dropped   atomic.Int64
}

// NewWriter starts a background writer of a run's events into db.
func NewWriter(db *store.DB, opts Options) (*Writer, error) {
	run := opts.Run
	if run == "" {
		run = NewRunID()
	}
	if err := store.ValidateName("run", run); err != nil {
		return nil, err
	}
	if opts.Model != "" {
		if err := store.ValidateName("model", opts.Model); err != nil {
			return nil, err
		}
	}
	if opts.Buffer < 0 || opts.BatchSize < 0 || opts.Interval < 0 {
		return nil, fmt.Errorf("events: negative option in %+v", opts)
	}
	w := &Writer{
		db:      db,
		coll:    db.Collection(Collection),
		model:   opts.Model,
		run:     run,
		batch:   cmpOr(opts.BatchSize, 512),
		every:   cmpOr(opts.Interval, time.Second),
		logger:  db.Logger(),
		ch:      make(chan Event, cmpOr(opts.Buffer, 8192)),
		flushes: make(chan chan error),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	w.ctx, w.abort = context.WithCancel(context.Background())
	w.prefix = eventIDPrefix(db.Project(), w.model, run)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	w.wid = hex.EncodeToString(b)
	go w.loop()
	return w, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// NewRunID returns a run ID that sorts by start time: "20260102-150405-a1b2c3".
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// Run is the run ID every event of this writer carries.
func (w *Writer) Run() string { return w.run }

// Log queues an event without blocking. Project, Model and Run are filled
// in; a zero Time becomes now; an empty Phase becomes Train. It reports
// false when the event was dropped (buffer full, writer closed, or a value
// that is NaN or infinite, which BSON stores but no query can rank).
func (w *Writer) Log(e Event) bool {
	if w.closed.Load() {
		w.dropped.Add(1)
		return false
	}
	for _, v := range e.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			w.dropped.Add(1)
			return false
		}
	}
	e.Project, e.Model, e.Run = w.db.Project(), w.model, w.run
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Phase == "" {
		e.Phase = Train
	}
	select {
	case w.ch <- e:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Step is a shorthand for Log of a training step's values.
func (w *Writer) Step(step int64, values map[string]float64) bool {
	return w.Log(Event{Step: step, Values: values})
}

// Stats returns how many events were written and how many dropped.
func (w *Writer) Stats() (written, dropped int64) { return w.written.Load(), w.dropped.Load() }

// Flush waits until every event logged before it is written, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.flushes <- reply:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued and stops the writer. Events that cannot be
// written (ctx ended, server away) are dropped and counted, and the write
// error is returned.
func (w *Writer) Close(ctx context.Context) error {
	var err error
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		err = w.Flush(ctx)
		close(w.stop)
		select {
		case <-w.done:
		case <-ctx.Done():
			w.abort() // a write stuck on a dead server must not outlive ctx
			<-w.done
		}
		w.abort()
		if _, d := w.Stats(); d > 0 {
			w.logger.Warn("events: dropped events", "run", w.run, "dropped", d)
		}
	})
	return err
}

// record is an event as stored: its _id begins with the run's prefix and
// orders the run's events by step ("LEN:PROJECT:LEN:MODEL:LEN:RUN:STEP:
// WRITER:SEQ"), so that on MongoDB a run's events are one _id range.
type record struct {
	ID    string `bson:"_id"`
	Event `bson:",inline"`
}

func (w *Writer) record(e Event) record {
	w.seq++
	return record{ID: w.prefix + stepKey(e.Step) + ":" + w.wid + ":" + fmt.Sprintf("%08d", w.seq), Event: e}
}

// load reads the run's summary and curves, if the run has some already (a
// resumed run, or a test phase logged after training).
func (w *Writer) load(ctx context.Context) error {
	if err := prepare(ctx, w.db); err != nil {
		return err
	}
	id := summaryID(w.db.Project(), w.run)
	var (
		sum Summary
		cs  curvesDoc
	)
	hasSum, err := lookup(ctx, w.db, RunsCollection, id, &sum)
	if err != nil {
		return fmt.Errorf("events: read the summary of run %s: %w", w.run, err)
	}
	hasCurves, err := lookup(ctx, w.db, CurvesCollection, id, &cs)
	if err != nil {
		return fmt.Errorf("events: read the curves of run %s: %w", w.run, err)
	}
	st := newRunState(w.db.Project(), w.model, w.run)
	var sp *Summary
	var cp *curvesDoc
	if hasSum {
		sp = &sum
	}
	if hasCurves {
		cp = &cs
	}
	st.fromDocs(sp, cp)
	w.state = st
	return nil
}

// loop owns the pending batch. pending holds at most cap(w.ch) events:
// beyond that it stops taking from the channel, which fills, and Log drops.
func (w *Writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	var (
		pending []any
		retryAt time.Time // after a failed write, wait until then
		backoff time.Duration
	)
	// write sends the pending events in batches; on failure the rest stay
	// pending for a later try.
	// write sends the pending events, then the run's summary and curves
	// when forced (Flush, Close, the ticker) or Interval after the last
	// time: a burst of batches rewrites them once.
	var saved time.Time
	write := func(force bool) error {
		if w.state == nil && len(pending) > 0 {
			ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
			err := w.load(ctx)
			cancel()
			if err != nil {
				backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
				retryAt = time.Now().Add(backoff)
				return err
			}
		}
		for len(pending) > 0 {
			n := min(len(pending), w.batch)
			ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
			dctx, dcancel := store.Detach(ctx)
			_, err := w.coll.InsertMany(dctx, pending[:n], options.InsertMany().SetOrdered(true))
			dcancel()
			cancel()
			if err != nil {
				// An ordered insert stops at the first refused document;
				// those before it are in. A refused one never will be: drop it.
				var bwe mongo.BulkWriteException
				if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 && bwe.WriteConcernError == nil {
					i := bwe.WriteErrors[0].Index
					w.fold(pending[:i])
					w.written.Add(int64(i))
					w.dropped.Add(1)
					pending = pending[i+1:]
					w.logger.Warn("events: event refused by the server", "run", w.run, "err", err)
					continue
				}
				backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
				retryAt = time.Now().Add(backoff)
				return fmt.Errorf("events: write %d events of run %s: %w", n, w.run, err)
			}
			w.fold(pending[:n])
			w.written.Add(int64(n))
			pending = pending[n:]
		}
		if w.dirty && (force || time.Since(saved) >= w.every) {
			ctx, cancel := context.WithTimeout(w.ctx, 2*time.Minute)
			dctx, dcancel := store.Detach(ctx)
			err := w.state.save(dctx, w.db)
			dcancel()
			cancel()
			if err != nil {
				backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
				retryAt = time.Now().Add(backoff)
				return err
			}
			w.dirty, saved = false, time.Now()
		}
		backoff, retryAt = 0, time.Time{}
		return nil
	}
	tryWrite := func(force bool) {
		if time.Now().Before(retryAt) {
			return
		}
		if err := write(force); err != nil {
			w.logger.Warn("events: write failed, will retry", "err", err, "pending", len(pending))
		}
	}
	drain := func() {
		for len(pending) < cap(w.ch) {
			select {
			case e := <-w.ch:
				pending = append(pending, w.record(e))
			default:
				return
			}
		}
	}
	for {
		in := w.ch
		if len(pending) >= cap(w.ch) {
			in = nil
		}
		select {
		case e := <-in:
			pending = append(pending, w.record(e))
			if len(pending) >= w.batch {
				tryWrite(false)
			}
		case <-tick.C:
			if len(pending) > 0 || w.dirty {
				tryWrite(true)
			}
		case reply := <-w.flushes:
			// Everything logged before Flush is in the channel or pending.
			// Try a few times, then report: Flush must not hang forever on
			// a dead server.
			var err error
			for try := 0; try < 5; try++ {
				drain()
				if err = write(true); err == nil && len(w.ch) == 0 {
					break
				}
				if err == nil {
					continue // more arrived while writing (buffer > pending cap)
				}
				select {
				case <-w.stop:
					try = 5
				case <-time.After(backoff):
				}
			}
			reply <- err
		case <-w.stop:
			drain()
			if len(pending) > 0 || w.dirty {
				tryWrite(true)
			}
			if w.state != nil && len(pending) == 0 && !w.dirty {
				w.state.sum.Status = StatusClosed
				w.dirty = true
				if err := write(true); err != nil {
					w.logger.Warn("events: could not mark the run closed", "run", w.run, "err", err)
				}
			}
			w.dropped.Add(int64(len(pending) + len(w.ch)))
			return
		}
	}
}

// fold adds written records to the run's summary and curves.
func (w *Writer) fold(recs []any) {
	for _, r := range recs {
		rec := r.(record)
		w.state.add(rec.ID, rec.Event)
	}
	if len(recs) > 0 {
		w.state.sum.Status = StatusRunning
		w.dirty = true
	}
}

// Query selects events. Empty strings match anything; ToStep 0 means no
// upper bound.
type Query struct {
	Model    string
	Run      string
	Phase    string
	FromStep int64 // inclusive
	ToStep   int64 // inclusive
	Limit    int64 // 0: all
}

func (q Query) filter(db *store.DB) bson.D {
	f := bson.D{}
	if q.Model != "" {
		f = append(f, bson.E{Key: "model", Value: q.Model})
	}
	if q.Run != "" {
		f = append(f, bson.E{Key: "run", Value: q.Run})
	}
	if q.Phase != "" {
		f = append(f, bson.E{Key: "phase", Value: q.Phase})
	}
	steps := bson.D{}
	if q.FromStep != 0 {
		steps = append(steps, bson.E{Key: "$gte", Value: q.FromStep})
	}
	if q.ToStep != 0 {
		steps = append(steps, bson.E{Key: "$lte", Value: q.ToStep})
	}
	if len(steps) > 0 {
		f = append(f, bson.E{Key: "step", Value: steps})
	}
	return db.Scope(f)
}

// Find returns the events a query selects, ordered by run, step and time.
// It reads events of both _id forms: those written before summaries (an
// ObjectID) and after (a string that begins with the run).
func Find(ctx context.Context, db *store.DB, q Query) ([]Event, error) {
	ies, err := find(ctx, db, q, false)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(ies))
	for i := range ies {
		out[i] = ies[i].Event
	}
	return out, nil
}

// idEvent is an event and its _id.
type idEvent struct {
	id any
	Event
}

func find(ctx context.Context, db *store.DB, q Query, withIDs bool) ([]idEvent, error) {
	if q.ToStep != 0 && q.ToStep < q.FromStep {
		return nil, fmt.Errorf("events: step range [%d, %d] is empty, expected FromStep <= ToStep", q.FromStep, q.ToStep)
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	opts := options.Find().SetSort(bson.D{{Key: "run", Value: 1}, {Key: "step", Value: 1}, {Key: "time", Value: 1}})
	if q.Limit > 0 {
		opts.SetLimit(q.Limit)
	}
	cur, err := db.Collection(Collection).Find(ctx, q.filter(db), opts)
	if err != nil {
		return nil, fmt.Errorf("events: query %+v: %w", q, err)
	}
	defer cur.Close(ctx)
	var out []idEvent
	for cur.Next(ctx) {
		var e idEvent
		if err := bson.Unmarshal(cur.Current, &e.Event); err != nil {
			return nil, fmt.Errorf("events: query %+v: document %s is not an event: %w", q, cur.Current.Lookup("_id"), err)
		}
		if withIDs {
			idv := cur.Current.Lookup("_id")
			if s, ok := idv.StringValueOK(); ok {
				e.id = s
			} else if oid, ok := idv.ObjectIDOK(); ok {
				e.id = oid
			}
			if e.Phase == "" {
				e.Phase = Train
			}
		}
		out = append(out, e)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("events: query %+v: %w", q, err)
	}
	return out, nil
}

// Runs returns the run IDs of a model (all runs of the project when model
// is empty), sorted. It reads the run summaries.
func Runs(ctx context.Context, db *store.DB, model string) ([]string, error) {
	sums, err := Summaries(ctx, db, model)
	if err != nil {
		return nil, fmt.Errorf("events: runs of %q: %w", model, err)
	}
	runs := make([]string, 0, len(sums))
	for _, s := range sums {
		runs = append(runs, s.Run)
	}
	slices.Sort(runs)
	return runs, nil
}

// Models returns the names of the models that have events, sorted (events
// logged without a model are left out). It reads the run summaries.
func Models(ctx context.Context, db *store.DB) ([]string, error) {
	sums, err := Summaries(ctx, db, "")
	if err != nil {
		return nil, fmt.Errorf("events: models with events: %w", err)
	}
	var names []string
	for _, s := range sums {
		if s.Model != "" && !slices.Contains(names, s.Model) {
			names = append(names, s.Model)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the events a query selects and returns how many. The
// summaries of the runs it touches are removed, or rebuilt from the events
// left when it removed part of a run.
func Delete(ctx context.Context, db *store.DB, q Query) (int64, error) {
	if q.Run == "" && q.Model == "" {
		return 0, errors.New("events: delete needs a Run or a Model, to not wipe a project by mistake")
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	sums, err := readSummaries(ctx, db, q.Model)
	if err != nil {
		return 0, err
	}
	res, err := db.Collection(Collection).DeleteMany(ctx, q.filter(db))
	if err != nil {
		return 0, fmt.Errorf("events: delete %+v: %w", q, err)
	}
	whole := q.Phase == "" && q.FromStep == 0 && q.ToStep == 0
	for _, s := range sums {
		if q.Run != "" && s.Run != q.Run {
			continue
		}
		if whole && (q.Model == "" || q.Model == s.Model) {
			if _, err := db.Collection(RunsCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: s.ID}}); err != nil {
				return res.DeletedCount, fmt.Errorf("events: delete the summary of run %s: %w", s.Run, err)
			}
			if _, err := db.Collection(CurvesCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: s.ID}}); err != nil {
				return res.DeletedCount, fmt.Errorf("events: delete the curves of run %s: %w", s.Run, err)
			}
			continue
		}
		if err := rebuild(ctx, db, s.Run); err != nil {
			return res.DeletedCount, err
		}
	}
	return res.DeletedCount, nil
}

// EnsureIndexes creates the indexes queries by run and model use (on
// MongoDB and FerretDB over PostgreSQL; SQLite scans regardless).
func EnsureIndexes(ctx context.Context, db *store.DB) error {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	_, err := db.Collection(Collection).Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "project", Value: 1}, {Key: "run", Value: 1}, {Key: "step", Value: 1}}},
		{Keys: bson.D{{Key: "project", Value: 1}, {Key: "model", Value: 1}, {Key: "step", Value: 1}}},
	})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("events: create indexes: %w", err)
	}
	return nil
}
