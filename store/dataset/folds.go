package dataset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Fold selects one fold of a k-fold partition of a view (Query.Fold): fold I
// of K, or, with Exclude, every fold but I (a cross-validation's training
// set). The partition is by the samples' key hash (KeyHash, stored with each
// sample), so it is computed by the server, stable across reruns and
// independent of insertion order.
//
// Unstratified, fold j holds the samples with KeyHash(key) mod K == j: an
// expected 1/K of the view each. Stratified (Strata set, by Folds), each
// label's samples ordered by key hash are cut into K runs whose sizes differ
// by at most one, the longer runs first, and run b goes to fold (b+Offset) mod
// K, the offset carrying on from the previous label's longer runs: every fold
// holds each label's share to within one sample and the folds' sizes differ by
// at most one, as if the samples were dealt round-robin label by label. The
// cuts are key-hash values, so a fold is still a server-side filter (a range
// per label) rather than a stored list of keys; a label met after the cuts
// were made is dealt by key hash mod K.
type Fold struct {
	K       int  `bson:"k" json:"k"`
	I       int  `bson:"i" json:"i"`
	Exclude bool `bson:"exclude,omitempty" json:"exclude,omitempty"`
	// Strata, for a stratified fold: per label (decimal), where its runs
	// begin and which fold the first run goes to.
	Strata map[string]Stratum `bson:"strata,omitempty" json:"strata,omitempty"`
}

// Stratum is one label's cut of a stratified partition.
type Stratum struct {
	// Cuts are the K-1 key hashes at which runs 1..K-1 begin.
	Cuts []int64 `bson:"cuts" json:"cuts"`
	// Offset is the fold of run 0.
	Offset int `bson:"offset" json:"offset"`
}

// ErrTooFewSamples is returned when a view has fewer samples than folds.
var ErrTooFewSamples = errors.New("fewer samples than folds")

// check reports a fold that selects nothing sensible.
func (f *Fold) check() error {
	if f.K < 2 || f.I < 0 || f.I >= f.K {
		return fmt.Errorf("dataset: fold %d of %d: expected k >= 2 and 0 <= i < k", f.I, f.K)
	}
	for l, st := range f.Strata {
		if len(st.Cuts) != f.K-1 || st.Offset < 0 || st.Offset >= f.K {
			return fmt.Errorf("dataset: fold %d of %d: label %s has %d cuts and offset %d, expected k-1 = %d and 0 <= offset < k", f.I, f.K, l, len(st.Cuts), st.Offset, f.K-1)
		}
	}
	return nil
}

// branches are the $or branches that select fold j.
func (f *Fold) branches(j int) bson.A {
	mod := bson.D{{Key: fKeyHash, Value: bson.D{{Key: "$mod", Value: bson.A{int64(f.K), int64(j)}}}}}
	if len(f.Strata) == 0 {
		return bson.A{mod}
	}
	labels := make([]string, 0, len(f.Strata))
	for l := range f.Strata {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b string) int { return int(atoi(a) - atoi(b)) })
	out := make(bson.A, 0, len(labels)+1)
	known := make(bson.A, 0, len(labels))
	for _, l := range labels {
		st := f.Strata[l]
		b := (j - st.Offset + f.K) % f.K // the run that goes to fold j
		rng := bson.D{}
		if b > 0 {
			rng = append(rng, bson.E{Key: "$gte", Value: st.Cuts[b-1]})
		}
		if b < f.K-1 {
			rng = append(rng, bson.E{Key: "$lt", Value: st.Cuts[b]})
		}
		out = append(out, bson.D{{Key: fLabel, Value: atoi(l)}, {Key: fKeyHash, Value: rng}})
		known = append(known, atoi(l))
	}
	return append(out, bson.D{{Key: fLabel, Value: bson.D{{Key: "$nin", Value: known}}}, mod[0]})
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// filter is the part of a view's filter that selects the fold.
func (f *Fold) filter() bson.E {
	if len(f.Strata) == 0 && !f.Exclude {
		return bson.E{Key: fKeyHash, Value: bson.D{{Key: "$mod", Value: bson.A{int64(f.K), int64(f.I)}}}}
	}
	var or bson.A
	for j := range f.K {
		if (j == f.I) != f.Exclude {
			or = append(or, f.branches(j)...)
		}
	}
	return bson.E{Key: "$or", Value: or}
}

// FoldViews are the two views of fold I: Train (every other fold) and Test.
type FoldViews struct {
	I           int
	Train, Test *Dataset
}

// Folds defines the 2k views of a k-fold partition of d, named
// "<prefix>-<i>-train" and "<prefix>-<i>-test" for i in 0..k-1, each d's
// query plus a Fold. Stratified, it first reads every sample's label and key
// hash (a projection of two numbers a sample, not the payloads) to make the
// cuts. It returns ErrTooFewSamples, defining nothing, when d has fewer than
// k samples. Defining them again with the same data gives the same views.
func (d *Dataset) Folds(ctx context.Context, prefix string, k int, stratified bool) ([]FoldViews, error) {
	if prefix == "" {
		return nil, fmt.Errorf("dataset: folds of %s: empty view name prefix", d.label())
	}
	if k < 2 {
		return nil, fmt.Errorf("dataset: folds of %s: k = %d, expected at least 2", d.label(), k)
	}
	if d.query.Fold != nil {
		return nil, fmt.Errorf("dataset: folds of %s: the view is already a fold; partition its base view", d.label())
	}
	var strata map[string]Stratum
	var n int64
	if stratified {
		var err error
		if strata, n, err = d.strata(ctx, k); err != nil {
			return nil, err
		}
	} else {
		var err error
		if n, err = d.Count(ctx); err != nil {
			return nil, err
		}
	}
	if n < int64(k) {
		return nil, fmt.Errorf("dataset: folds of %s: %d samples for k = %d folds: %w", d.label(), n, k, ErrTooFewSamples)
	}
	out := make([]FoldViews, k)
	for i := range k {
		fv := FoldViews{I: i}
		for _, ex := range []bool{true, false} {
			q := d.query
			q.Fold = &Fold{K: k, I: i, Exclude: ex, Strata: strata}
			name := fmt.Sprintf("%s-%d-test", prefix, i)
			if ex {
				name = fmt.Sprintf("%s-%d-train", prefix, i)
			}
			v, err := d.c.Define(ctx, name, q)
			if err != nil {
				return nil, err
			}
			if ex {
				fv.Train = v
			} else {
				fv.Test = v
			}
		}
		out[i] = fv
	}
	return out, nil
}

// strata reads each sample's label and key hash and cuts every label's
// samples, ordered by key hash, into k runs (see Fold); it returns the
// strata and the number of samples.
func (d *Dataset) strata(ctx context.Context, k int) (map[string]Stratum, int64, error) {
	cur, err := d.c.coll.Find(ctx, d.Filter(), options.Find().SetProjection(bson.D{{Key: fID, Value: 0}, {Key: fLabel, Value: 1}, {Key: fKeyHash, Value: 1}}))
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: folds of %s: read labels: %w", d.label(), err)
	}
	defer cur.Close(ctx)
	byLabel := map[int64][]int64{}
	var n int64
	for cur.Next(ctx) {
		l, _ := cur.Current.Lookup(fLabel).AsInt64OK()
		h, ok := cur.Current.Lookup(fKeyHash).AsInt64OK()
		if !ok {
			return nil, 0, fmt.Errorf("dataset: folds of %s: a sample has no numeric %q: %w", d.label(), fKeyHash, ErrCorrupt)
		}
		byLabel[l] = append(byLabel[l], h)
		n++
	}
	if err := cur.Err(); err != nil {
		return nil, 0, fmt.Errorf("dataset: folds of %s: read labels: %w", d.label(), err)
	}
	labels := slices.Sorted(maps.Keys(byLabel))
	out := make(map[string]Stratum, len(labels))
	offset := 0
	for _, l := range labels {
		hs := byLabel[l]
		slices.Sort(hs)
		per, extra := len(hs)/k, len(hs)%k
		st := Stratum{Cuts: make([]int64, k-1), Offset: offset}
		for b := 1; b < k; b++ {
			at := b*per + min(b, extra)  // the first `extra` runs hold one more
			st.Cuts[b-1] = math.MaxInt64 // an empty run (fewer samples than folds)
			if at < len(hs) {
				st.Cuts[b-1] = hs[at]
			}
		}
		out[strconv.FormatInt(l, 10)] = st
		offset = (offset + extra) % k
	}
	return out, n, nil
}
