package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Query selects samples declaratively. Every non-empty part must match.
// It is stored with a dataset, so its fields are part of the stored format.
type Query struct {
	// Tags: the sample has all of them.
	Tags []string `bson:"tags,omitempty" json:"tags,omitempty"`
	// AnyTags: the sample has at least one of them.
	AnyTags []string `bson:"any_tags,omitempty" json:"any_tags,omitempty"`
	// NotTags: the sample has none of them.
	NotTags []string `bson:"not_tags,omitempty" json:"not_tags,omitempty"`
	// Labels: the sample's label is one of them.
	Labels []int `bson:"labels,omitempty" json:"labels,omitempty"`
	// KeyPrefix: the sample's key starts with it.
	KeyPrefix string `bson:"key_prefix,omitempty" json:"key_prefix,omitempty"`
	// Fields: each user field equals the given value.
	Fields map[string]any `bson:"fields,omitempty" json:"fields,omitempty"`
	// MinSeq, MaxSeq bound the insertion sequence (inclusive; 0 = unbounded).
	MinSeq int64 `bson:"min_seq,omitempty" json:"min_seq,omitempty"`
	MaxSeq int64 `bson:"max_seq,omitempty" json:"max_seq,omitempty"`
	// Fold: one fold of a k-fold partition, or all but one (folds.go).
	Fold *Fold `bson:"fold,omitempty" json:"fold,omitempty"`
}

// filter is the MongoDB filter for q within project. Keys are in a fixed
// order so the filter (and the cache key made from it) is deterministic.
func (q Query) filter(project string) bson.D {
	f := bson.D{{Key: fProject, Value: project}}
	tags := bson.D{}
	if len(q.Tags) > 0 {
		tags = append(tags, bson.E{Key: "$all", Value: q.Tags})
	}
	if len(q.NotTags) > 0 {
		tags = append(tags, bson.E{Key: "$nin", Value: q.NotTags})
	}
	if len(tags) > 0 {
		f = append(f, bson.E{Key: fTags, Value: tags})
	}
	if len(q.AnyTags) > 0 {
		// A separate $and clause: "tags" can appear only once per document.
		f = append(f, bson.E{Key: "$and", Value: bson.A{bson.D{{Key: fTags, Value: bson.D{{Key: "$in", Value: q.AnyTags}}}}}})
	}
	if len(q.Labels) > 0 {
		ls := make([]int64, len(q.Labels))
		for i, l := range q.Labels {
			ls[i] = int64(l)
		}
		f = append(f, bson.E{Key: fLabel, Value: bson.D{{Key: "$in", Value: ls}}})
	}
	if q.KeyPrefix != "" {
		f = append(f, bson.E{Key: fKey, Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(q.KeyPrefix)}}})
	}
	names := make([]string, 0, len(q.Fields))
	for k := range q.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		f = append(f, bson.E{Key: fFields + "." + k, Value: q.Fields[k]})
	}
	seq := bson.D{}
	if q.MinSeq > 0 {
		seq = append(seq, bson.E{Key: "$gte", Value: q.MinSeq})
	}
	if q.MaxSeq > 0 {
		seq = append(seq, bson.E{Key: "$lte", Value: q.MaxSeq})
	}
	if len(seq) > 0 {
		f = append(f, bson.E{Key: fSeq, Value: seq})
	}
	if q.Fold != nil {
		f = append(f, q.Fold.filter())
	}
	return f
}

// Dataset is a named view over a Collection: a query, not a copy.
type Dataset struct {
	c     *Collection
	name  string
	query Query
}

// viewDoc is a dataset as stored in the "datasets" collection.
type viewDoc struct {
	ID         string    `bson:"_id"`
	Project    string    `bson:"project"`
	Name       string    `bson:"name"`
	Collection string    `bson:"collection"`
	Query      Query     `bson:"query"`
	Updated    time.Time `bson:"updated"`
}

// Define stores (or replaces) the dataset name as q over this collection,
// so that it can be listed and reopened with Dataset.
func (c *Collection) Define(ctx context.Context, name string, q Query) (*Dataset, error) {
	if name == "" {
		return nil, fmt.Errorf("dataset: define: empty dataset name")
	}
	for k := range q.Fields {
		if k == "" || strings.ContainsAny(k, ".$") {
			return nil, fmt.Errorf("dataset: define %q: field name %q: expected a non-empty name without '.' or '$'", name, k)
		}
	}
	if q.Fold != nil {
		if err := q.Fold.check(); err != nil {
			return nil, fmt.Errorf("dataset: define %q: %w", name, err)
		}
	}
	// Index the user fields the query selects on, next to the fixed indexes
	// Open made (project with seq, tags, label). One at a time: see Open.
	for k := range q.Fields {
		keys := bson.D{{Key: fProject, Value: 1}, {Key: fFields + "." + k, Value: 1}}
		if _, err := c.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
			return nil, fmt.Errorf("dataset: define %q: index field %q: %w", name, k, err)
		}
	}
	doc := viewDoc{ID: c.viewID(name), Project: c.project, Name: name, Collection: c.name, Query: q, Updated: time.Now().UTC()}
	_, err := c.views.ReplaceOne(ctx, bson.D{{Key: fID, Value: doc.ID}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return nil, fmt.Errorf("dataset: define %q: %w", name, err)
	}
	return &Dataset{c: c, name: name, query: q}, nil
}

func (c *Collection) viewID(name string) string { return c.project + "/" + c.name + "/" + name }

// Dataset reopens a dataset defined earlier (by this or another process).
func (c *Collection) Dataset(ctx context.Context, name string) (*Dataset, error) {
	var doc viewDoc
	err := c.views.FindOne(ctx, bson.D{{Key: fID, Value: c.viewID(name)}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("dataset: %q in project %q, collection %q: %w", name, c.project, c.name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: open %q: %w", name, err)
	}
	return &Dataset{c: c, name: name, query: doc.Query}, nil
}

// Datasets lists the names of the datasets defined over this collection, sorted.
func (c *Collection) Datasets(ctx context.Context) ([]string, error) {
	cur, err := c.views.Find(ctx, bson.D{{Key: fProject, Value: c.project}, {Key: "collection", Value: c.name}})
	if err != nil {
		return nil, fmt.Errorf("dataset: list datasets: %w", err)
	}
	var docs []viewDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("dataset: list datasets: %w", err)
	}
	names := make([]string, len(docs))
	for i, d := range docs {
		names[i] = d.Name
	}
	slices.Sort(names)
	return names, nil
}

// All is the unnamed dataset of every sample of the project in this collection.
func (c *Collection) All() *Dataset { return &Dataset{c: c} }

// View returns an unnamed, unsaved dataset for q.
func (c *Collection) View(q Query) *Dataset { return &Dataset{c: c, query: q} }

// Name is the dataset's name ("" for unnamed views).
func (d *Dataset) Name() string { return d.name }

// Query is the dataset's query.
func (d *Dataset) Query() Query { return d.query }

// Collection is the collection the dataset is a view of.
func (d *Dataset) Collection() *Collection { return d.c }

// Filter is the MongoDB filter that selects the dataset's samples.
func (d *Dataset) Filter() bson.D { return d.query.filter(d.c.project) }

// Count counts the dataset's samples on the server.
func (d *Dataset) Count(ctx context.Context) (int64, error) {
	n, err := d.c.coll.CountDocuments(ctx, d.Filter())
	if err != nil {
		return 0, fmt.Errorf("dataset: count %s: %w", d.label(), err)
	}
	return n, nil
}

// CountRange counts the dataset's samples with after < seq <= upTo and
// returns the creation time of the earliest of them (zero if none). The
// stream controller uses it.
func (d *Dataset) CountRange(ctx context.Context, after, upTo int64) (int64, time.Time, error) {
	f := bson.D{{Key: "$and", Value: bson.A{d.Filter(), bson.D{{Key: fSeq, Value: bson.D{{Key: "$gt", Value: after}, {Key: "$lte", Value: upTo}}}}}}}
	n, err := d.c.coll.CountDocuments(ctx, f)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("dataset: count %s in (%d, %d]: %w", d.label(), after, upTo, err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	var first struct {
		Created time.Time `bson:"created"`
	}
	err = d.c.coll.FindOne(ctx, f, options.FindOne().SetSort(bson.D{{Key: fSeq, Value: 1}}).
		SetProjection(bson.D{{Key: fCreated, Value: 1}})).Decode(&first)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return 0, time.Time{}, fmt.Errorf("dataset: first of %s in (%d, %d]: %w", d.label(), after, upTo, err)
	}
	return n, first.Created, nil
}

// Seqs returns the sequence numbers of all the project's samples in the
// collection with seq > after, ascending, at most limit of them. The stream
// controller uses it to find gaps left by inserts in flight.
func (c *Collection) Seqs(ctx context.Context, after int64, limit int64) ([]int64, error) {
	cur, err := c.coll.Find(ctx,
		bson.D{{Key: fProject, Value: c.project}, {Key: fSeq, Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetProjection(bson.D{{Key: fID, Value: 0}, {Key: fSeq, Value: 1}}).
			SetSort(bson.D{{Key: fSeq, Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("dataset: list sequence numbers of %q after %d: %w", c.name, after, err)
	}
	defer cur.Close(ctx)
	var out []int64
	for cur.Next(ctx) {
		n, ok := cur.Current.Lookup(fSeq).AsInt64OK()
		if !ok {
			return nil, fmt.Errorf("dataset: %q: a document has a non-numeric %q: %w", c.name, fSeq, ErrCorrupt)
		}
		out = append(out, n)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("dataset: list sequence numbers of %q after %d: %w", c.name, after, err)
	}
	return out, nil
}

// key identifies the view (project, collection, filter) for the cache.
func (d *Dataset) key(extra string) string {
	b, _ := bson.MarshalExtJSON(d.Filter(), true, false)
	h := sha256.Sum256(append([]byte(d.c.name+"\x00"+extra+"\x00"), b...))
	return hex.EncodeToString(h[:12])
}

// label names the dataset in errors.
func (d *Dataset) label() string {
	if d.name != "" {
		return fmt.Sprintf("dataset %q (collection %q)", d.name, d.c.name)
	}
	return fmt.Sprintf("view of collection %q", d.c.name)
}
