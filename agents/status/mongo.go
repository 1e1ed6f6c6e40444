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

// NewMongo returns a Store over db, scoped to db's project. It creates the index
// Tasks uses.
func NewMongo(ctx context.Context, db *store.DB) (*Mongo, error) {
	m := &Mongo{db: db, plans: db.Collection(PlansCollection), tasks: db.Collection(TasksCollection)}
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
	for _, t := range tasks {
		t.Project = m.db.Project()
		_, err := m.tasks.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.Key}}, t, options.Replace().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("status: record task %s: %w", t.Key, err)
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

// replace writes doc over the record id if its revision is *rev, then bumps *rev.
func (m *Mongo) replace(ctx context.Context, c *mongo.Collection, what, id string, rev *int64, doc any) error {
	old := *rev
	*rev = old + 1
	res, err := c.ReplaceOne(ctx, m.byID(id, bson.E{Key: "rev", Value: old}), doc)
	if err != nil {
		*rev = old
		return fmt.Errorf("status: save %s %s: %w", what, id, err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	*rev = old
	n, err := c.CountDocuments(ctx, m.byID(id))
	if err != nil {
		return fmt.Errorf("status: save %s %s: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("%s %s at revision %d: %w", what, id, old, ErrConflict)
}

// byID is the filter for record id of this project, with more conditions. The _id
// comes first: FerretDB's SQLite backend then looks the record up by key instead of
// scanning the collection (measured: 14 ms a save instead of 90 ms at 200 tasks).
func (m *Mongo) byID(id string, more ...bson.E) bson.D {
	f := bson.D{{Key: "_id", Value: id}, {Key: "project", Value: m.db.Project()}}
	return append(f, more...)
}

// Plan implements Store.
func (m *Mongo) Plan(ctx context.Context, id string) (*Plan, error) {
	var p Plan
	err := m.plans.FindOne(ctx, m.byID(id)).Decode(&p)
	if errors.Is(err, mongo.ErrNoDocuments) {
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
