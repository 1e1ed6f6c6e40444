package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
)

// GC removes weights no model (nor checkpoint) references: blobs of saves that failed after
// their upload or of deletes cut short, and chunks of uploads killed before
// their file document was written. Only blobs whose upload began more than
// minAge ago are touched, so saves in progress are safe; use an age well
// above the longest save (an hour, say). It returns how many blobs it
// removed. Orphan chunks say no project; they are garbage whoever wrote
// them, so GC of any project removes them.
func (s *Store) GC(ctx context.Context, minAge time.Duration) (int, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	cutoff := time.Now().Add(-minAge)

	used := map[bson.ObjectID]bool{}
	cur, err := s.models.Find(ctx, s.db.Scope(nil))
	if err != nil {
		return 0, fmt.Errorf("models: gc: list models: %w", err)
	}
	for cur.Next(ctx) {
		if v, err := cur.Current.LookupErr("weights", "file_id"); err == nil {
			if id, ok := v.ObjectIDOK(); ok {
				used[id] = true
			}
		}
	}
	err = cur.Err()
	cur.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("models: gc: list models: %w", err)
	}
	// A checkpoint's state is a blob of the same bucket.
	if err := s.checkpointBlobs(ctx, used); err != nil {
		return 0, err
	}

	removed := 0
	fcur, err := s.bucket.Files().Find(ctx, bson.D{{Key: "metadata.project", Value: s.Project()}})
	if err != nil {
		return 0, fmt.Errorf("models: gc: list weights: %w", err)
	}
	var stale []bson.ObjectID
	for fcur.Next(ctx) {
		var f struct {
			ID         bson.ObjectID `bson:"_id"`
			UploadDate time.Time     `bson:"uploadDate"`
		}
		if err := bson.Unmarshal(fcur.Current, &f); err != nil {
			continue
		}
		if !used[f.ID] && f.ID.Timestamp().Before(cutoff) {
			stale = append(stale, f.ID)
		}
	}
	err = fcur.Err()
	fcur.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("models: gc: list weights: %w", err)
	}
	for _, id := range stale {
		if err := s.bucket.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return removed, fmt.Errorf("models: gc: %w", err)
		}
		removed++
	}

	orphans, err := s.bucket.Orphans(ctx, cutoff)
	if err != nil {
		return removed, fmt.Errorf("models: gc: %w", err)
	}
	for _, id := range orphans {
		if used[id] {
			continue // a model whose file document was lost: keep its bytes
		}
		if _, err := s.bucket.RemoveChunks(ctx, id); err != nil {
			return removed, fmt.Errorf("models: gc: %w", err)
		}
		removed++
	}
	return removed, nil
}
