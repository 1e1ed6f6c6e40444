package dataset

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// LabelCount is how many of a dataset's samples carry one label.
type LabelCount struct {
	Label int    `json:"label"`
	Name  string `json:"name,omitempty"`
	Count int64  `json:"count"`
}

// TagCount is how many of a dataset's samples carry one tag.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

// LabelCounts counts the dataset's samples per label (and label name), by
// label. The server aggregates; no payload is read.
func (d *Dataset) LabelCounts(ctx context.Context) ([]LabelCount, error) {
	pipe := bson.A{
		bson.D{{Key: "$match", Value: d.Filter()}},
		bson.D{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "l", Value: "$" + fLabel}, {Key: "n", Value: "$" + fLabelName}}},
			{Key: "count", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	var rows []struct {
		ID struct {
			L int64  `bson:"l"`
			N string `bson:"n"`
		} `bson:"_id"`
		Count int64 `bson:"count"`
	}
	if err := d.aggregate(ctx, pipe, &rows); err != nil {
		return nil, fmt.Errorf("dataset: count labels of %s: %w", d.label(), err)
	}
	out := make([]LabelCount, len(rows))
	for i, r := range rows {
		out[i] = LabelCount{Label: int(r.ID.L), Name: r.ID.N, Count: r.Count}
	}
	slices.SortFunc(out, func(a, b LabelCount) int {
		return cmp.Or(cmp.Compare(a.Label, b.Label), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

// TagCounts counts the dataset's samples per tag, by tag. The server
// aggregates; no payload is read.
func (d *Dataset) TagCounts(ctx context.Context) ([]TagCount, error) {
	pipe := bson.A{
		bson.D{{Key: "$match", Value: d.Filter()}},
		bson.D{{Key: "$unwind", Value: "$" + fTags}},
		bson.D{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: "$" + fTags},
			{Key: "count", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	var rows []struct {
		ID    string `bson:"_id"`
		Count int64  `bson:"count"`
	}
	if err := d.aggregate(ctx, pipe, &rows); err != nil {
		return nil, fmt.Errorf("dataset: count tags of %s: %w", d.label(), err)
	}
	out := make([]TagCount, len(rows))
	for i, r := range rows {
		out[i] = TagCount{Tag: r.ID, Count: r.Count}
	}
	slices.SortFunc(out, func(a, b TagCount) int { return cmp.Compare(a.Tag, b.Tag) })
	return out, nil
}

// TargetCount is how many of a dataset's samples carry a target of one
// kind and shape (Sample.Target); Kind "" counts those without one.
type TargetCount struct {
	Kind  DType `json:"kind,omitempty"`
	Shape []int `json:"shape,omitempty"`
	Count int64 `json:"count"`
}

// TargetCounts counts the dataset's samples per target kind and shape,
// those without a target first, then by kind and shape. The server
// aggregates over the documents' target fields; no payload is read.
func (d *Dataset) TargetCounts(ctx context.Context) ([]TargetCount, error) {
	pipe := bson.A{
		bson.D{{Key: "$match", Value: d.Filter()}},
		bson.D{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "k", Value: "$" + fTarget + "." + fKind}, {Key: "s", Value: "$" + fTarget + "." + fShape}}},
			{Key: "count", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	var rows []struct {
		ID struct {
			K string  `bson:"k"`
			S []int64 `bson:"s"`
		} `bson:"_id"`
		Count int64 `bson:"count"`
	}
	if err := d.aggregate(ctx, pipe, &rows); err != nil {
		return nil, fmt.Errorf("dataset: count targets of %s: %w", d.label(), err)
	}
	out := make([]TargetCount, len(rows))
	for i, r := range rows {
		out[i] = TargetCount{Kind: DType(r.ID.K), Count: r.Count}
		for _, n := range r.ID.S {
			out[i].Shape = append(out[i].Shape, int(n))
		}
		if out[i].Kind != "" && out[i].Shape == nil {
			out[i].Shape = []int{} // a scalar
		}
	}
	slices.SortFunc(out, func(a, b TargetCount) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), slices.Compare(a.Shape, b.Shape))
	})
	return out, nil
}

func (d *Dataset) aggregate(ctx context.Context, pipe bson.A, out any) error {
	cur, err := d.c.coll.Aggregate(ctx, pipe)
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// Keys returns the keys of the dataset's first n samples in insertion
// order, reading only the keys.
func (d *Dataset) Keys(ctx context.Context, n int) ([]string, error) {
	cur, err := d.c.coll.Find(ctx, d.Filter(), options.Find().
		SetProjection(bson.D{{Key: fID, Value: 0}, {Key: fKey, Value: 1}}).
		SetSort(bson.D{{Key: fSeq, Value: 1}}).SetLimit(int64(n)))
	if err != nil {
		return nil, fmt.Errorf("dataset: keys of %s: %w", d.label(), err)
	}
	var rows []struct {
		Key string `bson:"key"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("dataset: keys of %s: %w", d.label(), err)
	}
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.Key
	}
	return keys, nil
}
