package status

import (
	"context"
	"errors"
	"fmt"

	"github.com/tlgo/tl/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections used by Mongo.
const (
	PlansCollection = "workflow_plans"
	TasksCollection = "workflow_tasks"
)

// Mongo is a Store in the project's MongoDB database (package store).
type Mongo struct {
	db    *store.DB
	plans *mongo.Collection
	tasks *mongo.Collection
}

// NewMongo returns a Store over db, scoped to db's project. It creates the
// indexes: lookups by id (_id) of plans and tasks, on every backend including
// the embedded SQLite one (store.DB.IndexIDs), where without it every save
// scanned the collection and the master slowed as history grew; and the
// index Tasks uses.
func NewMongo(ctx context.Context, db *store.DB) (*Mongo, error) {
	m := &Mongo{db: db, plans: db.Collection(PlansCollection), tasks: db.Collection(TasksCollection)}
	if err := db.IndexIDs(ctx, PlansCollection, TasksCollection); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	_, err := m.tasks.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "project", Value: 1}, {Key: "plan", Value: 1}}})
	if err != nil {
		return nil, fmt.Errorf("status: index on %s: %w", TasksCollection, err)
	}
	return m, nil
}

// CreatePlan implements Store. The tasks are written first and idempotently, so a
// creation cut short can be repeated.
func (m *Mongo) CreatePlan(ctx context.Context, p *Plan, tasks []*Task) error {
	if _, err := m.Plan(ctx, p.ID); err == nil {
		return fmt.Errorf("plan %s: %w", p.ID, ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	// Inserts in pieces (a 10,000-task plan is one round trip per piece, not
	// per task); a record already there (a creation cut short, repeated) is
	// the same one, so duplicates are fine.
	const piece = 1000
	for i := 0; i < len(tasks); i += piece {
		batch := tasks[i:min(i+piece, len(tasks))]
		docs := make([]any, len(batch))
		for j, t := range batch {
			t.Project = m.db.Project()
			docs[j] = t
		}
		if _, err := m.tasks.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicates(err) {
			return fmt.Errorf("status: record the tasks of plan %s (%d to %d of %d): %w", p.ID, i+1, i+len(batch), len(tasks), err)
		}
	}
	p.Project = m.db.Project()
	if _, err := m.plans.InsertOne(ctx, p); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("plan %s: %w", p.ID, ErrExists)
		}
		return fmt.Errorf("status: record plan %s: %w", p.ID, err)
	}
	return nil
}

// SavePlan implements Store.
func (m *Mongo) SavePlan(ctx context.Context, p *Plan) error {
	p.Project = m.db.Project()
	return m.replace(ctx, m.plans, "plan", p.ID, &p.Rev, p)
}

// SaveTask implements Store.
func (m *Mongo) SaveTask(ctx context.Context, t *Task) error {
	t.Project = m.db.Project()
	return m.replace(ctx, m.tasks, "task", t.Key, &t.Rev, t)
}

// onlyDuplicates reports whether err is a bulk write error made only of
// duplicate key errors.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// savePiece bounds the replacements of one update command. FerretDB v1 over
// SQLite holds a connection of its pool of 100 for each matched update of a
// command until the command ends, and the command deadlocks at about 100:
// pieces of 32 stay well clear of it.
const savePiece = 32

// SaveTasks implements Store: unordered batches of replacements by _id, in
// pieces of savePiece.
//
// It does not read the stored revisions first (SaveTask does, one round trip
// per record, which is what made the master slow): the master that calls it
// holds the leader lease, and a master that loses the lease stops writing
// (its context ends) before another may take over. Revisions still count the
// writes, and SavePlan and SaveTask still check them.
func (m *Mongo) SaveTasks(ctx context.Context, ts []*Task) error {
	if len(ts) == 0 {
		return nil
	}
	for i := 0; i < len(ts); i += savePiece {
		batch := ts[i:min(i+savePiece, len(ts))]
		models := make([]mongo.WriteModel, len(batch))
		for j, t := range batch {
			t.Project = m.db.Project()
			t.Rev++
			models[j] = mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: t.Key}}).SetReplacement(t)
		}
		res, err := m.tasks.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err == nil && res.MatchedCount != int64(len(batch)) {
			err = fmt.Errorf("%d of %d task records not found: %w", int64(len(batch))-res.MatchedCount, len(batch), ErrNotFound)
		}
		if err != nil {
			for _, t := range ts[i:] {
				t.Rev--
			}
			return fmt.Errorf("status: save task records %d to %d of %d (first %s): %w", i+1, i+len(batch), len(ts), batch[0].Key, err)
		}
	}
	return nil
}

// replace writes doc over the record id if its revision is *rev, then bumps *rev.
//
// FerretDB v1 on SQLite looks a record up by key only when the filter is exactly
// {_id: ...}; any further condition scans and decodes the whole collection (measured:
// 90 ms a save at 200 tasks, growing with the collection). So the revision is read
// by key, then the record replaced by key: a check, not an atomic compare-and-swap.
// The master is the only writer; the check catches a second master's earlier writes.
func (m *Mongo) replace(ctx context.Context, c *mongo.Collection, what, id string, rev *int64, doc any) error {
	old := *rev
	cur, err := m.current(ctx, c, what, id)
	if err != nil {
		return err
	}
	if cur != old {
		return fmt.Errorf("%s %s at revision %d, stored %d: %w", what, id, old, cur, ErrConflict)
	}
	*rev = old + 1
	res, err := c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, doc)
	if err != nil {
		*rev = old
		return fmt.Errorf("status: save %s %s: %w", what, id, err)
	}
	if res.MatchedCount != 1 {
		*rev = old
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return nil
}

// current returns the stored revision of record id of this project.
func (m *Mongo) current(ctx context.Context, c *mongo.Collection, what, id string) (int64, error) {
	var cur struct {
		Rev     int64  `bson:"rev"`
		Project string `bson:"project"`
	}
	err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "rev", Value: 1}, {Key: "project", Value: 1}})).Decode(&cur)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && cur.Project != m.db.Project()) {
		return 0, fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("status: read %s %s: %w", what, id, err)
	}
	return cur.Rev, nil
}

// Plan implements Store.
func (m *Mongo) Plan(ctx context.Context, id string) (*Plan, error) {
	var p Plan
	err := m.plans.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && p.Project != m.db.Project()) {
		return nil, fmt.Errorf("plan %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("status: read plan %s: %w", id, err)
	}
	return &p, nil
}

// Plans implements Store.
func (m *Mongo) Plans(ctx context.Context, active bool) ([]*Plan, error) {
	filter := bson.D{}
	if active {
		filter = bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{"pending", "running"}}}}}
	}
	cur, err := m.plans.Find(ctx, m.db.Scope(filter))
	if err != nil {
		return nil, fmt.Errorf("status: list plans: %w", err)
	}
	var out []*Plan
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("status: list plans: %w", err)
	}
	sortPlans(out)
	return out, nil
}

// Tasks implements Store.
func (m *Mongo) Tasks(ctx context.Context, planID string) ([]*Task, error) {
	cur, err := m.tasks.Find(ctx, m.db.Scope(bson.D{{Key: "plan", Value: planID}}), options.Find().SetSort(bson.D{{Key: "index", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("status: tasks of plan %s: %w", planID, err)
	}
	var out []*Task
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("status: tasks of plan %s: %w", planID, err)
	}
	if len(out) == 0 {
		if _, err := m.Plan(ctx, planID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
