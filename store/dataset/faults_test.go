package dataset_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

func TestCorruptDocumentIsNamedAndNothingIsLost(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		if _, err := c.Insert(ctx, mnistLike(20)...); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			key, field string
			value      any
		}{
			{"img-0003", "shape", "4x4"},
			{"img-0005", "tags", int64(5)},
			{"img-0007", "label", "seven"},
			{"img-0009", "data", "not binary"},
		} {
			if _, err := c.Mongo().UpdateOne(ctx, bson.D{{Key: "key", Value: tc.key}},
				bson.D{{Key: "$set", Value: bson.D{{Key: tc.field, Value: tc.value}}}}); err != nil {
				t.Fatal(err)
			}
			_, err := c.Get(ctx, tc.key)
			var ce *dataset.CorruptError
			if !errors.As(err, &ce) || ce.Key != tc.key || ce.Field != tc.field || !errors.Is(err, dataset.ErrCorrupt) {
				t.Fatalf("Get(%s) with a bad %s: %v; want a CorruptError naming both", tc.key, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name key and field", err)
			}
		}
		// A read stops at the first corrupt document with the same error.
		var rerr error
		for _, err := range c.All().Samples(ctx, dataset.ReadOptions{}) {
			if err != nil {
				rerr = err
			}
		}
		var ce *dataset.CorruptError
		if !errors.As(rerr, &ce) || !strings.HasPrefix(ce.Key, "img-000") {
			t.Fatalf("read over corrupt documents: %v; want a CorruptError", rerr)
		}
		// Nothing was modified or lost: every document is still there and
		// the good ones still read.
		if n, err := c.All().Count(ctx); err != nil || n != 20 {
			t.Fatalf("count after corrupt reads = %d, %v; want 20", n, err)
		}
		if s, err := c.Get(ctx, "img-0004"); err != nil || s.Tensor.Uint8[0] != 4 {
			t.Fatalf("good sample after corrupt reads: %v", err)
		}
	})
}

func TestMissingBlob(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{BlobThreshold: 100})
		big := make([]byte, 1000)
		for i := range big {
			big[i] = byte(i * 7)
		}
		if _, err := c.Insert(ctx,
			dataset.Sample{Key: "no-file", Bytes: big},
			dataset.Sample{Key: "no-chunks", Bytes: big},
			dataset.Sample{Key: "ok", Bytes: big}); err != nil {
			t.Fatal(err)
		}
		blobOf := func(key string) bson.ObjectID {
			var d struct {
				Blob bson.ObjectID `bson:"blob"`
			}
			if err := c.Mongo().FindOne(ctx, bson.D{{Key: "key", Value: key}}).Decode(&d); err != nil || d.Blob.IsZero() {
				t.Fatalf("blob of %s: %v", key, err)
			}
			return d.Blob
		}
		db := c.Mongo().Database()
		if _, err := db.Collection("samples_blobs.files").DeleteOne(ctx, bson.D{{Key: "_id", Value: blobOf("no-file")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Collection("samples_blobs.chunks").DeleteMany(ctx, bson.D{{Key: "files_id", Value: blobOf("no-chunks")}}); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"no-file", "no-chunks"} {
			_, err := c.Get(ctx, key)
			if !errors.Is(err, dataset.ErrMissingBlob) || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Errorf("Get(%s): %v; want ErrMissingBlob naming the key", key, err)
			}
		}
		if s, err := c.Get(ctx, "ok"); err != nil || string(s.Bytes) != string(big) {
			t.Fatalf("intact blob: %v", err)
		}
		if n, _ := c.All().Count(ctx); n != 3 {
			t.Fatalf("documents after failed reads: %d, want 3", n)
		}
	})
}

func TestServerGoneMidRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		direct := b.Open(t)
		p := storetest.NewProxy(t, direct)
		viaProxy, err := store.Open(ctx, store.Config{
			URL:      p.URL(),
			Database: direct.Database().Name(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer viaProxy.Close(context.Background())
		c, err := dataset.Open(ctx, viaProxy, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Insert(ctx, mnistLike(200)...); err != nil {
			t.Fatal(err)
		}
		// The server goes away after the first batch.
		n, batches := 0, 0
		var rerr error
		for batch, err := range c.All().Batches(ctx, dataset.ReadOptions{BatchSize: 10, DriverBatch: 5, Prefetch: 1}) {
			if err != nil {
				rerr = err
				break
			}
			n += len(batch)
			if batches++; batches == 1 {
				p.Cut()
			}
		}
		if rerr == nil || n >= 200 {
			t.Fatalf("read %d samples and error %v after the server went away; want an error", n, rerr)
		}
		if errors.Is(rerr, context.DeadlineExceeded) || !strings.Contains(rerr.Error(), "dataset: read") {
			t.Fatalf("error %q: want a prompt read error from the driver", rerr)
		}
		// The samples are all still there.
		c2, err := dataset.Open(ctx, direct, dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := c2.All().Count(ctx); err != nil || m != 200 {
			t.Fatalf("count after the failed read: %d, %v", m, err)
		}
		// A cancelled context ends a read with an error wrapping it.
		cctx, cancel := context.WithCancel(ctx)
		var cerr error
		for _, err := range c2.All().Batches(cctx, dataset.ReadOptions{BatchSize: 10, DriverBatch: 5}) {
			if err != nil {
				cerr = err
				break
			}
			cancel()
		}
		cancel()
		if !errors.Is(cerr, context.Canceled) {
			t.Fatalf("read after cancel: %v; want context.Canceled", cerr)
		}
	})
}
