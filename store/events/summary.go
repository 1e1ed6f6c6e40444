package events

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
)

// RunsCollection holds a summary document per run (Summary), kept by the
// writers as they flush, so that listing runs reads one small document per
// run instead of every event.
const RunsCollection = "event_runs"

// CurvesCollection holds each run's curves downsampled to at most
// CurvePoints points each (RunCurves), kept by the writers like the summaries.
const CurvesCollection = "event_curves"

// ImageField is the event field that holds an image a run logs (a GAN's grid
// of samples, say): PNG, JPEG or GIF bytes. The summary keeps the steps and
// event IDs of a run's last MaxImages images.
const ImageField = "image"

// MaxImages is how many of a run's images its summary lists: the last ones.
const MaxImages = 16

// CurvePoints bounds the points of a curve that RunCurves returns: a curve
// is exact up to that many points; beyond, it keeps each bucket's minimum and
// maximum (spikes stay visible), its first and its last point.
const CurvePoints = 1000

// MaxCurves bounds the curves kept per run (a curve's document is 28 kB at
// most, rewritten at every flush); metrics beyond have their last value in
// the summary only.
const MaxCurves = 64

// Run states in Summary.Status.
const (
	StatusRunning = "running" // a writer has written and not closed
	StatusClosed  = "closed"  // the last writer closed
)

// ErrNotFound is returned for a run with no events.
var ErrNotFound = errors.New("events: not found")

// Summary is what is known of a run without reading its events: counts,
// span, the last value of every metric, the first event's fields.
type Summary struct {
	ID        string    `bson:"_id" json:"-"` // of the document
	Project   string    `bson:"project" json:"project"`
	Run       string    `bson:"run" json:"run"`
	Model     string    `bson:"model,omitempty" json:"model,omitempty"`
	Start     time.Time `bson:"start" json:"start"`
	End       time.Time `bson:"end" json:"end"`
	FirstStep int64     `bson:"first_step" json:"first_step"`
	LastStep  int64     `bson:"last_step" json:"last_step"`
	Events    int64     `bson:"events" json:"events"`
	// Phases counts the events of each phase, sorted by phase.
	Phases []PhaseCount `bson:"phases" json:"phases"`
	// Last is the last value of each metric, sorted by name; other phases
	// than train are prefixed ("validation/loss").
	Last []Value `bson:"last" json:"last"`
	// Fields are the scalar fields of the run's first event with fields, and
	// "task", "dataset" and "model_version" from any later one.
	Fields map[string]any `bson:"fields,omitempty" json:"fields,omitempty"`
	// ModelVersion is the model version the run produced (the last event
	// field "model_version"); 0: none recorded.
	ModelVersion int64 `bson:"model_version,omitempty" json:"model_version,omitempty"`
	// Status is StatusRunning or StatusClosed ("" for runs summarised from
	// events older than summaries).
	Status string `bson:"status,omitempty" json:"status,omitempty"`
	// Images are the run's last MaxImages images (ImageField), by step.
	Images  []ImageRef `bson:"images,omitempty" json:"images,omitempty"`
	Updated time.Time  `bson:"updated" json:"updated"`
}

// PhaseCount is the number of events of a phase.
type PhaseCount struct {
	Phase  string `bson:"phase" json:"phase"`
	Events int64  `bson:"events" json:"events"`
}

// Value is a named number.
type Value struct {
	Name  string  `bson:"name" json:"name"`
	Value float64 `bson:"value" json:"value"`
}

// ImageRef points at an event that holds an image.
type ImageRef struct {
	Step int64 `bson:"step" json:"step"`
	// ID is the event's _id: a string, or an ObjectID for events written
	// before summaries existed.
	ID any `bson:"id" json:"-"`
}

// LastValue is the last value of a metric and whether there is one.
func (s *Summary) LastValue(name string) (float64, bool) {
	i, ok := slices.BinarySearchFunc(s.Last, name, func(v Value, n string) int { return strings.Compare(v.Name, n) })
	if !ok {
		return 0, false
	}
	return s.Last[i].Value, true
}

// Curve is one metric of a run, in step order, downsampled to at most
// CurvePoints (+2) points.
type Curve struct {
	Name   string    // "loss", or "validation/loss" for another phase than train
	Steps  []int64   // x
	Values []float64 // y
	Points int64     // how many points the run logged
}

// Sampled reports whether the curve holds fewer points than were logged.
func (c Curve) Sampled() bool { return int64(len(c.Steps)) < c.Points }

// summaryID is the _id of a run's summary and curves: the project's length
// first, so that no project and run pair collides with another.
func summaryID(project, run string) string {
	return strconv.Itoa(len(project)) + ":" + project + ":" + run
}

// markerID is the _id of the document that says every event of the project
// has its run summarised (run names are never empty).
func markerID(project string) string { return summaryID(project, "") }

// eventIDPrefix begins the _id of every event of a run: events of a run are
// one _id range, ordered by step.
func eventIDPrefix(project, model, run string) string {
	return fmt.Sprintf("%d:%s:%d:%s:%d:%s:", len(project), project, len(model), model, len(run), run)
}

// stepKey orders steps as strings, negative ones included.
func stepKey(step int64) string { return fmt.Sprintf("%020d", uint64(step)^(1<<63)) }

// curveName is the name of a value's curve: phase-prefixed unless train.
func curveName(phase, key string) string {
	if phase != "" && phase != Train {
		return phase + "/" + key
	}
	return key
}

// runState is a run's summary and curves as one writer (or a rebuild)
// accumulates them.
type runState struct {
	sum    Summary
	phases map[string]int64
	last   map[string]float64
	curves map[string]*digest
	order  []string // curve names in first-seen order
}

func newRunState(project, model, run string) *runState {
	return &runState{sum: Summary{Project: project, Model: model, Run: run},
		phases: map[string]int64{}, last: map[string]float64{}, curves: map[string]*digest{}}
}

// fromDocs resumes a state from the stored summary and curves (either may be nil).
func (s *runState) fromDocs(sum *Summary, cs *curvesDoc) {
	if sum != nil {
		model := s.sum.Model
		s.sum = *sum
		if model != "" {
			s.sum.Model = model
		}
		for _, p := range sum.Phases {
			s.phases[p.Phase] = p.Events
		}
		for _, v := range sum.Last {
			s.last[v.Name] = v.Value
		}
	}
	if cs != nil {
		for i := range cs.Curves {
			d := cs.Curves[i].digest()
			s.curves[d.Name] = d
			s.order = append(s.order, d.Name)
		}
	}
}

// fieldsKept are the fields a summary takes from any event, not only the first.
var fieldsKept = []string{"task", "dataset", "model_version"}

func (s *runState) add(id any, e Event) {
	sm := &s.sum
	if sm.Events == 0 {
		sm.Start, sm.End, sm.FirstStep, sm.LastStep = e.Time, e.Time, e.Step, e.Step
	}
	sm.Events++
	if e.Model != "" {
		sm.Model = e.Model
	}
	sm.FirstStep, sm.LastStep = min(sm.FirstStep, e.Step), max(sm.LastStep, e.Step)
	if e.Time.Before(sm.Start) {
		sm.Start = e.Time
	}
	if e.Time.After(sm.End) {
		sm.End = e.Time
	}
	s.phases[e.Phase]++
	for _, k := range slices.Sorted(maps.Keys(e.Values)) {
		name := curveName(e.Phase, k)
		s.last[name] = e.Values[k]
		d := s.curves[name]
		if d == nil {
			if len(s.curves) >= MaxCurves {
				continue // its last value is kept; its curve is not
			}
			d = &digest{Name: name, Width: 1}
			s.curves[name] = d
			s.order = append(s.order, name)
		}
		d.add(e.Step, e.Values[k])
	}
	if len(e.Fields) > 0 {
		first := len(sm.Fields) == 0
		for k, v := range e.Fields {
			if k == ImageField || (!first && !slices.Contains(fieldsKept, k)) || !fieldKeyOK(k) {
				continue
			}
			if v, ok := scalar(v); ok && (len(sm.Fields) < 32 || !first) {
				if sm.Fields == nil {
					sm.Fields = map[string]any{}
				}
				sm.Fields[k] = v
			}
		}
		if n, ok := toInt(e.Fields["model_version"]); ok {
			sm.ModelVersion = n
		}
		if img := imageBytes(e.Fields[ImageField]); len(img) > 0 && id != nil {
			sm.Images = append(sm.Images, ImageRef{Step: e.Step, ID: id})
			slices.SortStableFunc(sm.Images, func(a, b ImageRef) int { return cmp.Compare(a.Step, b.Step) })
			sm.Images = sm.Images[max(0, len(sm.Images)-MaxImages):]
		}
	}
}

// imageBytes are the bytes of an image field: []byte as logged, bson.Binary
// as read back.
func imageBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case bson.Binary:
		return x.Data
	}
	return nil
}

// scalar is v if it is a string (cut to 200 bytes), a number or a bool.
func scalar(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		if len(x) > 200 {
			x = x[:200]
		}
		return x, true
	case bool, int, int32, int64, float64, float32:
		return x, true
	}
	return nil, false
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float32:
		return int64(x), x == float32(int64(x))
	case float64:
		return int64(x), x == float64(int64(x))
	}
	return 0, false
}

// fieldKeyOK keeps keys every backend takes in a document and a path.
func fieldKeyOK(k string) bool {
	return k != "" && len(k) <= 64 && !strings.ContainsAny(k, ".$\x00")
}

// docs are the summary and curves documents of the state.
func (s *runState) docs(now time.Time) (*Summary, *curvesDoc) {
	sm := s.sum
	sm.ID = summaryID(sm.Project, sm.Run)
	sm.Phases = nil
	for _, p := range slices.Sorted(maps.Keys(s.phases)) {
		sm.Phases = append(sm.Phases, PhaseCount{p, s.phases[p]})
	}
	sm.Last = nil
	for _, k := range slices.Sorted(maps.Keys(s.last)) {
		sm.Last = append(sm.Last, Value{k, s.last[k]})
	}
	sm.Updated = now.UTC()
	cs := &curvesDoc{ID: sm.ID, Project: sm.Project, Run: sm.Run, Model: sm.Model, LastStep: sm.LastStep}
	for _, n := range s.order {
		cs.Curves = append(cs.Curves, s.curves[n].doc())
	}
	return &sm, cs
}

// save writes the state's summary and curves.
func (s *runState) save(ctx context.Context, db *store.DB) error {
	sum, cs := s.docs(time.Now())
	up := options.Replace().SetUpsert(true)
	id := summaryID(s.sum.Project, s.sum.Run)
	if _, err := db.Collection(RunsCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, sum, up); err != nil {
		return fmt.Errorf("events: save the summary of run %s: %w", s.sum.Run, err)
	}
	if _, err := db.Collection(CurvesCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, cs, up); err != nil {
		return fmt.Errorf("events: save the curves of run %s: %w", s.sum.Run, err)
	}
	return nil
}

// curvesDoc is a run's document in CurvesCollection.
type curvesDoc struct {
	ID       string      `bson:"_id"`
	Project  string      `bson:"project"`
	Run      string      `bson:"run"`
	Model    string      `bson:"model,omitempty"`
	LastStep int64       `bson:"last_step"`
	Curves   []digestDoc `bson:"curves"`
}

// digestDoc is a digest as stored: its buckets packed in one binary value,
// since FerretDB parses a binary value at once but an array number by number
// (a run's curves are thousands of numbers, read at every render).
type digestDoc struct {
	Name   string  `bson:"name"`
	Width  int64   `bson:"width"`
	Count  int64   `bson:"count"`
	FirstX int64   `bson:"fx"`
	FirstY float64 `bson:"fy"`
	// Buckets holds 7 little-endian 64-bit words per bucket: count, min x,
	// min y, max x, max y, last x, last y (x as int64, y as float64).
	Buckets []byte `bson:"b"`
}

const bucketBytes = 7 * 8

func (d *digest) doc() digestDoc {
	out := digestDoc{Name: d.Name, Width: d.Width, Count: d.Count, FirstX: d.FirstX, FirstY: d.FirstY,
		Buckets: make([]byte, 0, len(d.N)*bucketBytes)}
	for i := range d.N {
		for _, w := range [7]uint64{uint64(d.N[i]), uint64(d.MinX[i]), math.Float64bits(d.MinY[i]), uint64(d.MaxX[i]),
			math.Float64bits(d.MaxY[i]), uint64(d.LastX[i]), math.Float64bits(d.LastY[i])} {
			out.Buckets = binary.LittleEndian.AppendUint64(out.Buckets, w)
		}
	}
	return out
}

// digest unpacks the buckets; a torn tail (not a whole bucket) is dropped.
func (dd *digestDoc) digest() *digest {
	d := &digest{Name: dd.Name, Width: max(dd.Width, 1), Count: dd.Count, FirstX: dd.FirstX, FirstY: dd.FirstY}
	for b := dd.Buckets; len(b) >= bucketBytes; b = b[bucketBytes:] {
		w := func(i int) uint64 { return binary.LittleEndian.Uint64(b[8*i:]) }
		d.N, d.MinX, d.MinY = append(d.N, int64(w(0))), append(d.MinX, int64(w(1))), append(d.MinY, math.Float64frombits(w(2)))
		d.MaxX, d.MaxY = append(d.MaxX, int64(w(3))), append(d.MaxY, math.Float64frombits(w(4)))
		d.LastX, d.LastY = append(d.LastX, int64(w(5))), append(d.LastY, math.Float64frombits(w(6)))
	}
	if len(d.N) == 0 {
		d.Count = 0
	}
	return d
}

// digest is a curve kept in at most CurvePoints/2 buckets of consecutive
// points: each holds its count, minimum, maximum and last point. When the
// buckets are all full, pairs merge and each holds twice as many points.
type digest struct {
	Name   string
	Width  int64 // points a full bucket holds
	Count  int64 // points added
	FirstX int64
	FirstY float64
	N      []int64
	MinX   []int64
	MinY   []float64
	MaxX   []int64
	MaxY   []float64
	LastX  []int64
	LastY  []float64
}

const digestBuckets = CurvePoints / 2

func (d *digest) add(x int64, y float64) {
	if d.Count == 0 {
		d.FirstX, d.FirstY = x, y
	}
	d.Count++
	d.Width = max(d.Width, 1)
	k := len(d.N) - 1
	if k < 0 || d.N[k] >= d.Width {
		d.N, d.MinX, d.MinY, d.MaxX, d.MaxY = append(d.N, 1), append(d.MinX, x), append(d.MinY, y), append(d.MaxX, x), append(d.MaxY, y)
		d.LastX, d.LastY = append(d.LastX, x), append(d.LastY, y)
	} else {
		d.N[k]++
		if y < d.MinY[k] {
			d.MinX[k], d.MinY[k] = x, y
		}
		if y > d.MaxY[k] {
			d.MaxX[k], d.MaxY[k] = x, y
		}
		d.LastX[k], d.LastY[k] = x, y
	}
	if len(d.N) > digestBuckets {
		d.merge()
	}
}

// merge halves the buckets: each pair becomes one.
func (d *digest) merge() {
	n := 0
	for i := 0; i < len(d.N); i += 2 {
		d.N[n], d.MinX[n], d.MinY[n], d.MaxX[n], d.MaxY[n], d.LastX[n], d.LastY[n] =
			d.N[i], d.MinX[i], d.MinY[i], d.MaxX[i], d.MaxY[i], d.LastX[i], d.LastY[i]
		if j := i + 1; j < len(d.N) {
			d.N[n] += d.N[j]
			if d.MinY[j] < d.MinY[n] {
				d.MinX[n], d.MinY[n] = d.MinX[j], d.MinY[j]
			}
			if d.MaxY[j] > d.MaxY[n] {
				d.MaxX[n], d.MaxY[n] = d.MaxX[j], d.MaxY[j]
			}
			d.LastX[n], d.LastY[n] = d.LastX[j], d.LastY[j]
		}
		n++
	}
	d.N, d.MinX, d.MinY, d.MaxX, d.MaxY, d.LastX, d.LastY = d.N[:n], d.MinX[:n], d.MinY[:n], d.MaxX[:n], d.MaxY[:n], d.LastX[:n], d.LastY[:n]
	d.Width *= 2
}

// curve is the digest's points: the first, each bucket's minimum and
// maximum in step order, and the last.
func (d *digest) curve() Curve {
	c := Curve{Name: d.Name, Points: d.Count}
	if d.Count == 0 {
		return c
	}
	push := func(x int64, y float64) {
		if n := len(c.Steps); n > 0 && c.Steps[n-1] == x && c.Values[n-1] == y {
			return
		}
		c.Steps, c.Values = append(c.Steps, x), append(c.Values, y)
	}
	push(d.FirstX, d.FirstY)
	for i := range d.N {
		if d.MinX[i] <= d.MaxX[i] {
			push(d.MinX[i], d.MinY[i])
			push(d.MaxX[i], d.MaxY[i])
		} else {
			push(d.MaxX[i], d.MaxY[i])
			push(d.MinX[i], d.MinY[i])
		}
	}
	k := len(d.N) - 1
	push(d.LastX[k], d.LastY[k])
	// A bucket of one point gives it twice (min and max, then last): the
	// pushes above drop neighbours only; a point out of step order (a
	// resumed run) is kept where it was logged.
	return c
}

// lookup reads the document with _id id into out; false if there is none.
func lookup(ctx context.Context, db *store.DB, coll, id string, out any) (bool, error) {
	err := db.Collection(coll).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// prepare indexes the _id lookups of the events collections on FerretDB over
// SQLite (store.DB.IndexIDs) and, when the project has no events yet, marks
// it as summarised from the start so that readers never rebuild.
func prepare(ctx context.Context, db *store.DB) error {
	if err := db.IndexIDs(ctx, Collection, RunsCollection, CurvesCollection); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	var m bson.Raw
	found, err := lookup(ctx, db, RunsCollection, markerID(db.Project()), &m)
	if err != nil {
		return fmt.Errorf("events: read the summaries' marker of project %q: %w", db.Project(), err)
	}
	if found {
		return nil
	}
	err = db.Collection(Collection).FindOne(ctx, db.Scope(nil), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return writeMarker(ctx, db)
	}
	if err != nil {
		return fmt.Errorf("events: look for events of project %q: %w", db.Project(), err)
	}
	return nil // older events: the first reader summarises them (Backfill)
}

func writeMarker(ctx context.Context, db *store.DB) error {
	id := markerID(db.Project())
	_, err := db.Collection(RunsCollection).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "_id", Value: id}, {Key: "project", Value: db.Project()}, {Key: "summarised", Value: time.Now().UTC()}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("events: mark project %q as summarised: %w", db.Project(), err)
	}
	return nil
}

// ready makes sure every run of the project has its summary: after one
// _id lookup, unless the project has events older than summaries and no
// reader has summarised them yet (Backfill).
func ready(ctx context.Context, db *store.DB) error {
	var m bson.Raw
	found, err := lookup(ctx, db, RunsCollection, markerID(db.Project()), &m)
	if err != nil {
		return fmt.Errorf("events: read the summaries' marker of project %q: %w", db.Project(), err)
	}
	if found {
		return nil
	}
	_, err = Backfill(ctx, db)
	return err
}

// Backfill summarises the runs of the project whose events were written
// before summaries existed (events with an ObjectID _id) or that have no
// summary, in one scan of the events, and marks the project as summarised.
// Readers call it once, on their first read of a project without the mark;
// the old events stay as they are (Find reads both forms). It returns how
// many runs it summarised.
func Backfill(ctx context.Context, db *store.DB) (int, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if err := db.IndexIDs(ctx, Collection, RunsCollection, CurvesCollection); err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	have := map[string]bool{}
	sums, err := readSummaries(ctx, db, "")
	if err != nil {
		return 0, err
	}
	for _, s := range sums {
		have[s.Run] = true
	}
	cur, err := db.Collection(Collection).Find(ctx, db.Scope(nil))
	if err != nil {
		return 0, fmt.Errorf("events: summarise the runs of project %q: %w", db.Project(), err)
	}
	defer cur.Close(ctx)
	type item struct {
		id any
		e  Event
	}
	byRun := map[string][]item{}
	old := map[string]bool{}
	for cur.Next(ctx) {
		var e Event
		if err := bson.Unmarshal(cur.Current, &e); err != nil {
			return 0, fmt.Errorf("events: summarise the runs of project %q: document %s is not an event: %w", db.Project(), cur.Current.Lookup("_id"), err)
		}
		idv := cur.Current.Lookup("_id")
		var id any
		if s, ok := idv.StringValueOK(); ok {
			id = s
		} else {
			if oid, ok := idv.ObjectIDOK(); ok {
				id = oid
			}
			old[e.Run] = true
		}
		if e.Phase == "" {
			e.Phase = Train
		}
		byRun[e.Run] = append(byRun[e.Run], item{id, e})
	}
	if err := cur.Err(); err != nil {
		return 0, fmt.Errorf("events: summarise the runs of project %q: %w", db.Project(), err)
	}
	n := 0
	for _, run := range slices.Sorted(maps.Keys(byRun)) {
		if have[run] && !old[run] {
			continue
		}
		items := byRun[run]
		slices.SortStableFunc(items, func(a, b item) int { return cmp.Or(cmp.Compare(a.e.Step, b.e.Step), a.e.Time.Compare(b.e.Time)) })
		st := newRunState(db.Project(), "", run)
		for _, it := range items {
			st.add(it.id, it.e)
		}
		if err := st.save(ctx, db); err != nil {
			return n, err
		}
		n++
	}
	if err := writeMarker(ctx, db); err != nil {
		return n, err
	}
	if n > 0 {
		db.Logger().Info("events: summarised runs written before summaries existed", "project", db.Project(), "runs", n)
	}
	return n, nil
}

// rebuild summarises one run again from its events, or removes its summary
// when it has none left (after a Delete of part of it).
func rebuild(ctx context.Context, db *store.DB, run string) error {
	evs, err := find(ctx, db, Query{Run: run}, true)
	if err != nil {
		return err
	}
	id := summaryID(db.Project(), run)
	if len(evs) == 0 {
		if _, err := db.Collection(RunsCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			return fmt.Errorf("events: delete the summary of run %s: %w", run, err)
		}
		if _, err := db.Collection(CurvesCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			return fmt.Errorf("events: delete the curves of run %s: %w", run, err)
		}
		return nil
	}
	st := newRunState(db.Project(), "", run)
	for _, e := range evs {
		st.add(e.id, e.Event)
	}
	return st.save(ctx, db)
}

func readSummaries(ctx context.Context, db *store.DB, model string) ([]Summary, error) {
	f := bson.D{}
	if model != "" {
		f = append(f, bson.E{Key: "model", Value: model})
	}
	cur, err := db.Collection(RunsCollection).Find(ctx, db.Scope(f))
	if err != nil {
		return nil, fmt.Errorf("events: read the run summaries of project %q: %w", db.Project(), err)
	}
	defer cur.Close(ctx)
	var out []Summary
	for cur.Next(ctx) {
		var s Summary
		if err := bson.Unmarshal(cur.Current, &s); err != nil {
			return nil, fmt.Errorf("events: run summary %s is malformed: %w", cur.Current.Lookup("_id"), err)
		}
		if s.Run != "" { // not the marker
			out = append(out, s)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("events: read the run summaries of project %q: %w", db.Project(), err)
	}
	slices.SortFunc(out, func(a, b Summary) int { return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Run, b.Run)) })
	return out, nil
}

// Summaries returns the summaries of a model's runs (every run of the project
// when model is empty), oldest start first. It reads the summaries only.
func Summaries(ctx context.Context, db *store.DB, model string) ([]Summary, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if err := ready(ctx, db); err != nil {
		return nil, err
	}
	return readSummaries(ctx, db, model)
}

// RunSummary returns a run's summary: one lookup by _id. A run without
// events gives an error wrapping ErrNotFound.
func RunSummary(ctx context.Context, db *store.DB, run string) (*Summary, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if err := ready(ctx, db); err != nil {
		return nil, err
	}
	var s Summary
	found, err := lookup(ctx, db, RunsCollection, summaryID(db.Project(), run), &s)
	if err != nil {
		return nil, fmt.Errorf("events: read the summary of run %q: %w", run, err)
	}
	if !found {
		return nil, fmt.Errorf("events: run %q has no events in project %q: %w", run, db.Project(), ErrNotFound)
	}
	return &s, nil
}

// Curves are a run's curves, in the order their metrics first appeared.
type Curves struct {
	Run      string
	Model    string
	LastStep int64
	Curves   []Curve
}

// RunCurves returns a run's curves, each downsampled to at most CurvePoints
// (+2) points: one lookup by _id. A run without events gives an error
// wrapping ErrNotFound.
func RunCurves(ctx context.Context, db *store.DB, run string) (*Curves, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if err := ready(ctx, db); err != nil {
		return nil, err
	}
	var cs curvesDoc
	found, err := lookup(ctx, db, CurvesCollection, summaryID(db.Project(), run), &cs)
	if err != nil {
		return nil, fmt.Errorf("events: read the curves of run %q: %w", run, err)
	}
	if !found {
		return nil, fmt.Errorf("events: run %q has no events in project %q: %w", run, db.Project(), ErrNotFound)
	}
	out := &Curves{Run: run, Model: cs.Model, LastStep: cs.LastStep, Curves: make([]Curve, 0, len(cs.Curves))}
	for i := range cs.Curves {
		out.Curves = append(out.Curves, cs.Curves[i].digest().curve())
	}
	return out, nil
}

// Image returns the image (ImageField) a run logged at step, one of those its
// summary lists: a lookup by _id. An unknown run or step gives an error
// wrapping ErrNotFound.
func Image(ctx context.Context, db *store.DB, run string, step int64) ([]byte, error) {
	s, err := RunSummary(ctx, db, run)
	if err != nil {
		return nil, err
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	for _, im := range slices.Backward(s.Images) {
		if im.Step != step {
			continue
		}
		var e Event
		// The filter holds _id only: FerretDB over SQLite looks it up by index.
		err := db.Collection(Collection).FindOne(ctx, bson.D{{Key: "_id", Value: im.ID}}).Decode(&e)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("events: read the image of run %q at step %d: %w", run, step, err)
		}
		if data := imageBytes(e.Fields[ImageField]); len(data) > 0 && e.Project == db.Project() && e.Run == run {
			return data, nil
		}
		break
	}
	return nil, fmt.Errorf("events: run %q has no image at step %d: %w", run, step, ErrNotFound)
}
