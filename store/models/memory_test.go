package models_test

import (
	"errors"
	"runtime"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// A model document and its GridFS file that both claim 2^40 bytes of weights,
// of which a few kilobytes exist, make Load fail on the missing chunks after
// allocating for what was read (and a bounded first buffer), not for the claim,
// which would abort the process.
func TestLoadHugeClaimAllocatesLittle(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{ChunkSize: 4096})
		m := save(t, s, models.Spec{Name: "huge"}, randomBytes(t, 3*4096))
		const claim = int64(1) << 40
		if _, err := db.Collection(models.ModelsCollection).UpdateOne(ctx, bson.D{{Key: "_id", Value: m.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "weights.size", Value: claim}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection(models.WeightsBucket+".files").UpdateOne(ctx, bson.D{{Key: "_id", Value: m.Weights.FileID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "length", Value: claim}}}}); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := s.Load(ctx, models.Ref{Name: "huge"})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, models.ErrCorrupt) {
			t.Fatalf("Load = %v; want ErrCorrupt (chunks missing)", err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 100<<20 {
			t.Fatalf("allocated %d bytes for a claim of %d", n, claim)
		}
	})
}
