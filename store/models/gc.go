package models

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tlgo/tl/store"
)

// GC removes weights no model references: files of saves that failed after
// their upload, or of deletes interrupted half-way, and chunks of uploads
// killed before their file document was written. Only files and chunks older
// than minAge are touched, so saves in progress are safe; use an age well
// above the longest save (an hour, say). It returns how many files and
// orphan chunk groups it removed.
func (s *Store) GC(ctx context.Context, minAge time.Duration) (int, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	cutoff := time.Now().Add(-minAge)
	project := s.Project()

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
	if err := cur.Err(); err != nil {
		cur.Close(ctx)
		return 0, fmt.Errorf("models: gc: list models: %w", err)
	}
	cur.Close(ctx)

	removed := 0
	files := s.bucket.GetFilesCollection()
	fcur, err := files.Find(ctx, bson.D{{Key: "metadata.project", Value: project}})
	if err != nil {
		return 0, fmt.Errorf("models: gc: list weights: %w", err)
	}
	var stale []bson.ObjectID
	known := map[bson.ObjectID]bool{}
	for fcur.Next(ctx) {
		var f struct {
			ID         bson.ObjectID `bson:"_id"`
			UploadDate time.Time     `bson:"uploadDate"`
		}
		if err := bson.Unmarshal(fcur.Current, &f); err != nil {
			continue
		}
		known[f.ID] = true
		if !used[f.ID] && f.UploadDate.Before(cutoff) {
			stale = append(stale, f.ID)
		}
	}
	fcur.Close(ctx)
	for _, id := range stale {
		if err := s.bucket.Delete(ctx, id); err != nil && err != mongo.ErrFileNotFound {
			return removed, fmt.Errorf("models: gc: delete weights %s: %w", id.Hex(), err)
		}
		removed++
	}

	// Chunks without a file document: an upload killed mid-way. Chunks do
	// not say their project; such chunks are garbage whoever wrote them.
	// Their files_id is an ObjectID stamped when the upload began, which
	// keeps uploads in progress safe. known holds only this project's files,
	// so look each candidate up before deleting.
	chunks := s.bucket.GetChunksCollection()
	var ids []bson.ObjectID
	if err := chunks.Distinct(ctx, "files_id", bson.D{}).Decode(&ids); err != nil {
		return removed, fmt.Errorf("models: gc: list chunks: %w", err)
	}
	for _, id := range ids {
		if known[id] || used[id] || !id.Timestamp().Before(cutoff) {
			continue
		}
		n, err := files.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}})
		if err != nil {
			return removed, fmt.Errorf("models: gc: check weights %s: %w", id.Hex(), err)
		}
		if n > 0 {
			continue
		}
		if _, err := chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: id}}); err != nil {
			return removed, fmt.Errorf("models: gc: delete orphan chunks of %s: %w", id.Hex(), err)
		}
		removed++
	}
	return removed, nil
}
