package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// positionsCollection holds one document per controller: its position.
const positionsCollection = "stream_positions"

// Defaults for Config.
const (
	DefaultPoll      = 5 * time.Second
	DefaultGapGrace  = time.Minute
	DefaultRetryMax  = 5 * time.Minute
	DefaultScanLimit = 10000
)

// Event asks for a training task: new samples arrived in the ranges of
// Changes. A controller delivers each range at least once: an event whose
// trigger failed is retried, identical, until it succeeds, and a controller
// that stops between a successful trigger and saving its position triggers
// the same ranges again after a restart. ID identifies the ranges, so a
// trigger can drop a duplicate.
type Event struct {
	ID         string
	Controller string
	Project    string
	Changes    []Change
	// Total is the number of new samples over all changes.
	Total int64
	// Reason is "count" (MinCount reached) or "time" (MaxWait passed).
	Reason string
	// Attempt is 1 for the first delivery, 2 for the first retry, ...
	Attempt int
	Time    time.Time
}

// Change is the new samples of one source: sequence numbers in (After, UpTo].
type Change struct {
	Source     string
	Dataset    string
	Collection string
	After      int64
	UpTo       int64
	Count      int64
	// Oldest is when the first of these samples was inserted.
	Oldest time.Time
}

// Trigger starts a training task for an event. The workflow module
// implements it; an error makes the controller retry the same event later.
type Trigger interface {
	Trigger(ctx context.Context, ev Event) error
}

// TriggerFunc adapts a function to Trigger.
type TriggerFunc func(ctx context.Context, ev Event) error

// Trigger calls f.
func (f TriggerFunc) Trigger(ctx context.Context, ev Event) error { return f(ctx, ev) }

// Source is a dataset watched under a name (the key of its position).
type Source struct {
	Name    string
	Dataset *dataset.Dataset
}

// Config configure a Controller.
type Config struct {
	// Name identifies the controller; its position is stored under it.
	Name string
	// Sources are the datasets watched, such as new samples and new predictions.
	Sources []Source
	// Trigger is called when changes are significant.
	Trigger Trigger
	// MinCount is the number of new samples (over all sources) that
	// triggers; default 1.
	MinCount int64
	// MaxWait, if positive, also triggers when at least one sample is
	// pending and the oldest pending one was inserted MaxWait ago.
	MaxWait time.Duration
	// Poll is the interval between polls in Run; default DefaultPoll.
	Poll time.Duration
	// GapGrace is how long a missing sequence number (an insert in flight,
	// or one that died) holds the position back before it is skipped;
	// default DefaultGapGrace.
	GapGrace time.Duration
	// RetryMax caps the backoff between retries of a failed trigger, which
	// starts at Poll and doubles; default DefaultRetryMax.
	RetryMax time.Duration
	// ScanLimit bounds the sequence numbers examined per poll when inserts
	// are in flight; default DefaultScanLimit.
	ScanLimit int64
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
	// Logger receives this package's logs; nil discards them.
	Logger *slog.Logger
}

// ErrConflict is returned when another controller with the same name moved
// the stored position: two controllers must not share a name.
var ErrConflict = errors.New("stream: position changed by another controller with the same name")

// Controller watches sources by insertion sequence (FerretDB has no change
// streams) and triggers a task when enough has changed. Its position (the
// last sequence number handled per source) is stored in the database, so a
// restarted controller resumes where it was. A Controller is not safe for
// concurrent use; Run is its loop.
type Controller struct {
	db      *mongo.Database
	project string
	cfg     Config
	pos     *mongo.Collection
	log     *slog.Logger

	position map[string]int64
	version  int64
	gaps     map[string]map[int64]time.Time // source -> missing seq -> first seen

	pending *Event    // an event whose trigger failed, retried as is
	retryAt time.Time // no retry before this
	backoff time.Duration
}

type positionDoc struct {
	ID        string           `bson:"_id"`
	Project   string           `bson:"project"`
	Name      string           `bson:"name"`
	Positions map[string]int64 `bson:"positions"`
	Version   int64            `bson:"version"`
	Updated   time.Time        `bson:"updated"`
	LastEvent string           `bson:"last_event,omitempty"`
	Triggers  int64            `bson:"triggers"`
	// Pending is the event decided and not yet triggered with success,
	// written before its first trigger: a successor fires these ranges
	// again, not wider ones that include samples inserted meanwhile, so
	// the repeat carries the same ID and the workflow can drop it.
	Pending *pendingDoc `bson:"pending,omitempty"`
}

// pendingDoc is an Event as stored in its controller's position document.
type pendingDoc struct {
	ID      string      `bson:"id"`
	Reason  string      `bson:"reason"`
	Total   int64       `bson:"total"`
	Changes []changeDoc `bson:"changes"`
}

type changeDoc struct {
	Source     string    `bson:"source"`
	Dataset    string    `bson:"dataset"`
	Collection string    `bson:"collection"`
	After      int64     `bson:"after"`
	UpTo       int64     `bson:"up_to"`
	Count      int64     `bson:"count"`
	Oldest     time.Time `bson:"oldest"`
}

func toPendingDoc(ev *Event) *pendingDoc {
	d := &pendingDoc{ID: ev.ID, Reason: ev.Reason, Total: ev.Total}
	for _, ch := range ev.Changes {
		d.Changes = append(d.Changes, changeDoc(ch))
	}
	return d
}

func (c *Controller) fromPendingDoc(d *pendingDoc) *Event {
	ev := &Event{ID: d.ID, Controller: c.cfg.Name, Project: c.project, Reason: d.Reason, Total: d.Total}
	for _, ch := range d.Changes {
		ev.Changes = append(ev.Changes, Change(ch))
	}
	return ev
}

// New returns a controller for s's project, keeping its position in s's
// database, loading the stored position (or starting at zero: every existing
// sample is new).
func New(ctx context.Context, s *store.DB, cfg Config) (*Controller, error) {
	db, project := s.Database(), s.Project()
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "\x00") {
		return nil, fmt.Errorf("stream: controller name %q: expected a non-empty name", cfg.Name)
	}
	if cfg.Trigger == nil {
		return nil, fmt.Errorf("stream: controller %q: no Trigger", cfg.Name)
	}
	if len(cfg.Sources) == 0 {
		return nil, fmt.Errorf("stream: controller %q: no Sources", cfg.Name)
	}
	seen := map[string]bool{}
	for i, src := range cfg.Sources {
		if src.Name == "" || strings.ContainsAny(src.Name, ".$\x00") || seen[src.Name] {
			return nil, fmt.Errorf("stream: controller %q: source %d name %q: expected a unique non-empty name without '.' or '$'", cfg.Name, i, src.Name)
		}
		if src.Dataset == nil {
			return nil, fmt.Errorf("stream: controller %q: source %q has no Dataset", cfg.Name, src.Name)
		}
		if src.Dataset.Collection().Project() != project {
			return nil, fmt.Errorf("stream: controller %q: source %q belongs to project %q, controller to %q", cfg.Name, src.Name, src.Dataset.Collection().Project(), project)
		}
		seen[src.Name] = true
	}
	if cfg.MinCount <= 0 {
		cfg.MinCount = 1
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.GapGrace <= 0 {
		cfg.GapGrace = DefaultGapGrace
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.ScanLimit <= 0 {
		cfg.ScanLimit = DefaultScanLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = s.Logger()
	}
	// The position is read by _id; on FerretDB over SQLite that scans
	// without the index store.DB.IndexIDs adds.
	if err := s.IndexIDs(ctx, positionsCollection); err != nil {
		return nil, fmt.Errorf("stream: controller %q: %w", cfg.Name, err)
	}
	c := &Controller{db: db, project: project, cfg: cfg, pos: db.Collection(positionsCollection),
		log: log.With("controller", cfg.Name), gaps: map[string]map[int64]time.Time{}}
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) docID() string { return c.project + "/" + c.cfg.Name }

// load reads the stored position, creating the document on first use.
func (c *Controller) load(ctx context.Context) error {
	var d positionDoc
	err := c.pos.FindOne(ctx, bson.D{{Key: "_id", Value: c.docID()}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		d = positionDoc{ID: c.docID(), Project: c.project, Name: c.cfg.Name, Positions: map[string]int64{}, Updated: c.cfg.Now().UTC()}
		_, err = c.pos.InsertOne(ctx, d)
		if mongo.IsDuplicateKeyError(err) {
			return c.load(ctx) // created concurrently; read theirs
		}
	}
	if err != nil {
		return fmt.Errorf("stream: load position of %q: %w", c.cfg.Name, err)
	}
	c.position = d.Positions
	if c.position == nil {
		c.position = map[string]int64{}
	}
	c.version = d.Version
	if d.Pending != nil && c.pending == nil {
		ev := c.fromPendingDoc(d.Pending)
		known := true
		for _, ch := range ev.Changes {
			known = known && slices.ContainsFunc(c.cfg.Sources, func(s Source) bool { return s.Name == ch.Source })
		}
		if known {
			// A predecessor decided it and may have triggered it: the same
			// ranges again, at once.
			c.pending = ev
		} else {
			c.log.Warn("stream: dropping a stored pending event that names a source this controller does not watch", "event", ev.ID)
		}
	}
	return nil
}

// Position returns the last sequence number handled, per source.
func (c *Controller) Position() map[string]int64 { return maps.Clone(c.position) }

// save stores the position advanced to next, if nobody else moved it.
func (c *Controller) save(ctx context.Context, next map[string]int64, ev *Event) error {
	set := bson.D{{Key: "positions", Value: next}, {Key: "updated", Value: c.cfg.Now().UTC()}, {Key: "pending", Value: nil}}
	inc := bson.D{{Key: "version", Value: int64(1)}}
	if ev != nil {
		set = append(set, bson.E{Key: "last_event", Value: ev.ID})
		inc = append(inc, bson.E{Key: "triggers", Value: int64(1)})
	}
	res, err := c.pos.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: c.docID()}, {Key: "version", Value: c.version}},
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: inc}})
	if err != nil {
		return fmt.Errorf("stream: save position of %q: %w", c.cfg.Name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("stream: save position of %q (version %d): %w", c.cfg.Name, c.version, ErrConflict)
	}
	c.position = next
	c.version++
	return nil
}

// savePending stores ev as decided before it is first triggered, if nobody
// else moved the position.
func (c *Controller) savePending(ctx context.Context, ev *Event) error {
	res, err := c.pos.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: c.docID()}, {Key: "version", Value: c.version}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: toPendingDoc(ev)}, {Key: "updated", Value: c.cfg.Now().UTC()}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}}})
	if err != nil {
		return fmt.Errorf("stream: save pending event %s of %q: %w", ev.ID, c.cfg.Name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("stream: save pending event %s of %q (version %d): %w", ev.ID, c.cfg.Name, c.version, ErrConflict)
	}
	c.version++
	return nil
}

// horizon is the highest sequence number h >= after such that every number
// in (after, h] is either stored or given up on (missing for GapGrace).
func (c *Controller) horizon(ctx context.Context, src Source, after int64, now time.Time) (int64, error) {
	col := src.Dataset.Collection()
	k, err := col.Counter(ctx)
	if err != nil {
		return after, err
	}
	if k.Seq <= after {
		return after, nil
	}
	if k.Settled() {
		// No insert in flight: every reserved number is written (or failed).
		delete(c.gaps, src.Name)
		return k.Seq, nil
	}
	seqs, err := col.Seqs(ctx, after, c.cfg.ScanLimit)
	if err != nil {
		return after, err
	}
	gaps := c.gaps[src.Name]
	if gaps == nil {
		gaps = map[int64]time.Time{}
		c.gaps[src.Name] = gaps
	}
	next := after + 1
	for _, s := range seqs {
		for next < s {
			first, ok := gaps[next]
			if !ok {
				gaps[next] = now
				first = now
			}
			if now.Sub(first) < c.cfg.GapGrace {
				return next - 1, nil
			}
			c.log.Warn("stream: skipping a sequence number missing for longer than the grace period",
				"source", src.Name, "seq", next, "missing_since", first)
			delete(gaps, next)
			next++
		}
		if s == next {
			next++
		}
	}
	return next - 1, nil
}

// Step polls once: it finds new samples per source and, if they are
// significant, triggers an event and then stores the new position. It
// returns the event triggered, or nil. A failed trigger returns its error
// and is retried, identical, by a later Step after a backoff.
func (c *Controller) Step(ctx context.Context) (*Event, error) {
	now := c.cfg.Now()
	if c.pending != nil {
		if now.Before(c.retryAt) {
			return nil, nil
		}
		return c.fire(ctx, c.pending, now)
	}
	next := maps.Clone(c.position)
	advanced := false
	ev := &Event{Controller: c.cfg.Name, Project: c.project}
	var oldest time.Time
	for _, src := range c.cfg.Sources {
		after := c.position[src.Name]
		h, err := c.horizon(ctx, src, after, now)
		if err != nil {
			return nil, fmt.Errorf("stream: controller %q, source %q: %w", c.cfg.Name, src.Name, err)
		}
		if h <= after {
			continue
		}
		n, first, err := src.Dataset.CountRange(ctx, after, h)
		if err != nil {
			return nil, fmt.Errorf("stream: controller %q, source %q: %w", c.cfg.Name, src.Name, err)
		}
		if n == 0 {
			// New samples, none in the view: move past them without a task.
			next[src.Name] = h
			advanced = true
			continue
		}
		ev.Changes = append(ev.Changes, Change{Source: src.Name, Dataset: src.Dataset.Name(),
			Collection: src.Dataset.Collection().Name(), After: after, UpTo: h, Count: n, Oldest: first})
		ev.Total += n
		if oldest.IsZero() || (!first.IsZero() && first.Before(oldest)) {
			oldest = first
		}
	}
	switch {
	case ev.Total > 0 && ev.Total >= c.cfg.MinCount:
		ev.Reason = "count"
	case ev.Total > 0 && c.cfg.MaxWait > 0 && !oldest.IsZero() && now.Sub(oldest) >= c.cfg.MaxWait:
		ev.Reason = "time"
	default:
		if advanced {
			// Only sources whose new samples are all outside their view move.
			if err := c.save(ctx, next, nil); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	for _, src := range c.cfg.Sources {
		if h := next[src.Name]; h != c.position[src.Name] {
			// Nothing of the view in this range; it moves with the event.
			ev.Changes = append(ev.Changes, Change{Source: src.Name, Dataset: src.Dataset.Name(),
				Collection: src.Dataset.Collection().Name(), After: c.position[src.Name], UpTo: h})
		}
	}
	slices.SortFunc(ev.Changes, func(a, b Change) int { return strings.Compare(a.Source, b.Source) })
	ev.ID = eventID(c.project, c.cfg.Name, ev.Changes)
	if err := c.savePending(ctx, ev); err != nil {
		return nil, err
	}
	return c.fire(ctx, ev, now)
}

// eventID is a stable name for a set of ranges.
func eventID(project, name string, changes []Change) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", project, name)
	for _, ch := range changes {
		fmt.Fprintf(h, "\x00%s:%d:%d", ch.Source, ch.After, ch.UpTo)
	}
	return name + "-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// fire triggers ev; on success it stores the position past ev's ranges.
func (c *Controller) fire(ctx context.Context, ev *Event, now time.Time) (*Event, error) {
	ev.Attempt++
	ev.Time = now
	if err := c.cfg.Trigger.Trigger(ctx, *ev); err != nil {
		c.pending = ev
		if c.backoff == 0 {
			c.backoff = c.cfg.Poll
		} else {
			c.backoff = min(2*c.backoff, c.cfg.RetryMax)
		}
		c.retryAt = now.Add(c.backoff)
		c.log.Warn("stream: trigger failed; will retry", "event", ev.ID, "attempt", ev.Attempt, "retry_in", c.backoff, "err", err)
		return nil, fmt.Errorf("stream: controller %q: trigger event %s (attempt %d): %w", c.cfg.Name, ev.ID, ev.Attempt, err)
	}
	c.pending, c.backoff, c.retryAt = nil, 0, time.Time{}
	next := maps.Clone(c.position)
	for _, ch := range ev.Changes {
		next[ch.Source] = ch.UpTo
	}
	if err := c.save(ctx, next, ev); err != nil {
		// The task started but the position did not move: after a restart the
		// same ranges trigger again (at least once), with the same ID.
		return ev, err
	}
	c.log.Info("stream: triggered", "event", ev.ID, "reason", ev.Reason, "samples", ev.Total)
	return ev, nil
}

// Run polls every Poll until ctx is done, logging errors and retrying. It
// returns ctx's error, or ErrConflict if another controller took the name.
// Where the server has change streams (MongoDB replica sets; not FerretDB
// v1), an insert into a source collection also wakes it at once; the
// sequence numbers still decide what is new.
func (c *Controller) Run(ctx context.Context) error {
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wake := c.watch(wctx, &wg)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-wake:
		}
		if _, err := c.Step(ctx); err != nil {
			if errors.Is(err, ErrConflict) {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.log.Warn("stream: poll failed", "err", err)
		}
		t.Reset(c.cfg.Poll)
	}
}

// watch opens a change stream on each source collection that has one and
// returns a channel that receives after inserts; nil (never ready) when the
// server has none.
func (c *Controller) watch(ctx context.Context, wg *sync.WaitGroup) <-chan struct{} {
	wake := make(chan struct{}, 1)
	seen := map[string]bool{}
	started := 0
	for _, src := range c.cfg.Sources {
		coll := src.Dataset.Collection().Mongo()
		if seen[coll.Name()] {
			continue
		}
		seen[coll.Name()] = true
		cs, err := coll.Watch(ctx, mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}})
		if err != nil {
			c.log.Debug("stream: no change stream; polling only", "collection", coll.Name(), "err", err)
			continue
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cs.Close(context.WithoutCancel(ctx))
			for cs.Next(ctx) {
				select {
				case wake <- struct{}{}:
				default: // a wake-up is already pending
				}
			}
		}()
	}
	if started == 0 {
		return nil
	}
	return wake
}

// Reset stores a position explicitly (for example 0 to replay everything),
// and drops a pending event.
func (c *Controller) Reset(ctx context.Context, position map[string]int64) error {
	if err := c.load(ctx); err != nil {
		return err
	}
	c.pending, c.backoff, c.retryAt = nil, 0, time.Time{}
	return c.save(ctx, maps.Clone(position), nil)
}
