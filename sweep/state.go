package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tlgo/tl/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collection holds the sweeps and cross-validations of every project.
const Collection = "sweeps"

// States of a sweep, a trial and a rung.
const (
	Running  = "running"
	Paused   = "paused" // ASHA: a rung done, waiting to be promoted or stopped
	Done     = "done"
	Stopped  = "stopped" // ASHA: not promoted; a sweep: stopped by the user
	Failed   = "failed"
	Finished = "finished"
)

// Actions of the decision log.
const (
	ActStart   = "start"   // start trial n at rung 0
	ActPromote = "promote" // start trial n at rung k > 0, from its rung k-1 version
	ActStop    = "stop"    // trial n ends below the top rung
	ActBest    = "best"    // alias the best trial's version
	ActFinish  = "finish"  // the sweep is over
	ActHalt    = "halt"    // the user stopped the sweep: cancel what runs
)

// ErrNotFound is returned for a sweep or cross-validation not in the store.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when submitting a name already taken.
var ErrExists = errors.New("already exists")

// ErrConflict is returned when a sweep's record changed since it was read.
var ErrConflict = errors.New("sweep record changed since it was read")

// Sweep is a sweep's record: its spec, its trials and its decision log.
type Sweep struct {
	ID       string `bson:"_id" json:"-"`
	Project  string `bson:"project" json:"-"`
	Name     string `bson:"name" json:"name"`
	Kind     string `bson:"kind" json:"kind"` // "sweep" or "cv"
	SpecJSON string `bson:"spec" json:"-"`
	State    string `bson:"state" json:"state"`
	// Init is whether a promoted trial fine-tunes its previous rung's version
	// (the train kind takes params.init); otherwise it trains from scratch
	// for the rung's whole epochs.
	Init      bool       `bson:"init" json:"init"`
	Trials    []Trial    `bson:"trials" json:"trials"`
	Decisions []Decision `bson:"decisions" json:"decisions"`
	Best      *Best      `bson:"best,omitempty" json:"best,omitempty"`
	// Halt is set by Stop; the controller then decides ActHalt.
	Halt    bool      `bson:"halt,omitempty" json:"halt,omitempty"`
	Note    string    `bson:"note,omitempty" json:"note,omitempty"`
	Created time.Time `bson:"created" json:"created"`
	Updated time.Time `bson:"updated" json:"updated"`
	Rev     int64     `bson:"rev" json:"-"`
	// CV is a cross-validation's record (Kind "cv").
	CV *CVRecord `bson:"cv,omitempty" json:"cv,omitempty"`

	spec *Spec
}

// Trial is one point of the space and its rungs.
type Trial struct {
	N      int            `bson:"n" json:"n"`
	Params map[string]any `bson:"params" json:"params"`
	State  string         `bson:"state" json:"state"`
	Rungs  []Rung         `bson:"rungs" json:"rungs"`
}

// Rung is one train task of a trial.
type Rung struct {
	K      int    `bson:"k" json:"k"`
	Plan   string `bson:"plan" json:"plan"`
	Epochs int    `bson:"epochs" json:"epochs"` // trained in this task
	Total  int    `bson:"total" json:"total"`   // trained by the trial at its end
	State  string `bson:"state" json:"state"`
	// Metric is the spec's metric at the rung's end (when Done).
	Metric  float64 `bson:"metric" json:"metric"`
	Version int64   `bson:"version,omitempty" json:"version,omitempty"`
	Run     string  `bson:"run,omitempty" json:"run,omitempty"`
	Seconds float64 `bson:"seconds,omitempty" json:"seconds,omitempty"`
	Error   string  `bson:"error,omitempty" json:"error,omitempty"`
}

// Decision is an entry of the decision log: written before it is acted on,
// and marked Acted once it is, so a controller that restarts acts on what it
// had decided and decides nothing twice.
type Decision struct {
	Seq    int       `bson:"seq" json:"seq"`
	Time   time.Time `bson:"time" json:"time"`
	Action string    `bson:"action" json:"action"`
	Trial  int       `bson:"trial" json:"trial"`
	Rung   int       `bson:"rung" json:"rung"`
	Plan   string    `bson:"plan,omitempty" json:"plan,omitempty"`
	Why    string    `bson:"why,omitempty" json:"why,omitempty"`
	// Outcome is the sweep's end state, of ActFinish.
	Outcome string `bson:"outcome,omitempty" json:"outcome,omitempty"`
	Acted   bool   `bson:"acted" json:"acted"`
}

// Best is the best trial so far.
type Best struct {
	Trial   int     `bson:"trial" json:"trial"`
	Rung    int     `bson:"rung" json:"rung"`
	Metric  float64 `bson:"metric" json:"metric"`
	Model   string  `bson:"model" json:"model"`
	Version int64   `bson:"version" json:"version"`
	Alias   string  `bson:"alias,omitempty" json:"alias,omitempty"`
}

// Spec returns the sweep's spec.
func (sw *Sweep) Spec() (*Spec, error) {
	if sw.spec != nil {
		return sw.spec, nil
	}
	var s Spec
	if err := json.Unmarshal([]byte(sw.SpecJSON), &s); err != nil {
		return nil, fmt.Errorf("sweep %s: stored spec: %w", sw.Name, err)
	}
	sw.spec = &s
	return &s, nil
}

// records is the sweeps collection of one project.
type records struct {
	c       *mongo.Collection
	project string
}

func newRecords(db *store.DB) *records {
	return &records{c: db.Collection(Collection), project: db.Project()}
}

func (r *records) id(name string) string { return r.project + "/" + name }

// create stores a new record (ErrExists if the name is taken).
func (r *records) create(ctx context.Context, sw *Sweep) error {
	sw.ID, sw.Project = r.id(sw.Name), r.project
	now := time.Now().UTC()
	sw.Created, sw.Updated, sw.Rev = now, now, 1
	if _, err := r.c.InsertOne(ctx, sw); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("sweep: %q in project %q: %w (pick another name, or see tl sweep status %s)", sw.Name, r.project, ErrExists, sw.Name)
		}
		return fmt.Errorf("sweep: store %q: %w", sw.Name, err)
	}
	return nil
}

// save replaces sw if its stored revision is sw.Rev, and increments sw.Rev.
func (r *records) save(ctx context.Context, sw *Sweep) error {
	sw.Updated = time.Now().UTC()
	res, err := r.c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: sw.ID}, {Key: "rev", Value: sw.Rev}}, withRev(sw, sw.Rev+1))
	if err != nil {
		return fmt.Errorf("sweep: save %q: %w", sw.Name, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("sweep: save %q at revision %d: %w", sw.Name, sw.Rev, ErrConflict)
	}
	sw.Rev++
	return nil
}

func withRev(sw *Sweep, rev int64) *Sweep { c := *sw; c.Rev = rev; return &c }

// get reads one record.
func (r *records) get(ctx context.Context, name string) (*Sweep, error) {
	var sw Sweep
	err := r.c.FindOne(ctx, bson.D{{Key: "_id", Value: r.id(name)}}).Decode(&sw)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("sweep: %q in project %q: %w", name, r.project, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: read %q: %w", name, err)
	}
	return &sw, nil
}

// list reads the project's records of kind (all kinds when empty), newest
// first; only running ones when active.
func (r *records) list(ctx context.Context, kind string, active bool) ([]*Sweep, error) {
	f := bson.D{{Key: "project", Value: r.project}}
	if kind != "" {
		f = append(f, bson.E{Key: "kind", Value: kind})
	}
	if active {
		f = append(f, bson.E{Key: "state", Value: Running})
	}
	cur, err := r.c.Find(ctx, f, options.Find().SetSort(bson.D{{Key: "created", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("sweep: list: %w", err)
	}
	var out []*Sweep
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("sweep: list: %w", err)
	}
	return out, nil
}
