package blob_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store/blob"
	"github.com/tlgo/tl/store/storetest"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutOpenAndGridFSCompatibility(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		const cs = 1000
		bk, err := blob.NewBucket(ctx, db, "bk", cs)
		if err != nil {
			t.Fatal(err)
		}
		gridfs := db.Database().GridFSBucket(options.GridFSBucket().SetName("bk"))
		for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 3*cs + 500, 40 * cs} {
			data := randomBytes(t, size)
			info, err := bk.Put(ctx, "f", bson.D{{Key: "k", Value: size}}, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Put(%d bytes): %v", size, err)
			}
			want := sha256.Sum256(data)
			if info.Length != int64(size) || info.SHA256 != hex.EncodeToString(want[:]) {
				t.Fatalf("Put(%d bytes) = %+v", size, info)
			}
			r, err := bk.Open(ctx, info.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) || r.Sum() != info.SHA256 {
				t.Fatalf("read back %d of %d bytes: %v", len(got), size, err)
			}
			// A standard GridFS reader sees the same bytes.
			var buf bytes.Buffer
			if _, err := gridfs.DownloadToStream(ctx, info.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("driver GridFS read of %d bytes: %d bytes, %v", size, buf.Len(), err)
			}
		}
		for _, c := range []string{"bk.files", "bk.chunks"} {
			n, err := db.Collection(c).CountDocuments(ctx, bson.D{{Key: "project", Value: bson.D{{Key: "$ne", Value: db.Project()}}}})
			if err != nil || n != 0 {
				t.Fatalf("%s: %d documents without the project (%v)", c, n, err)
			}
		}
		if _, err := bk.Open(ctx, bson.NewObjectID()); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Open(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := blob.NewBucket(ctx, db, "x", 10); err == nil {
			t.Fatal("chunk size 10 accepted")
		}
	})
}

func TestDamageAndOrphans(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		bk, err := blob.NewBucket(ctx, db, "bk", 512)
		if err != nil {
			t.Fatal(err)
		}
		put := func() blob.Info {
			info, err := bk.Put(ctx, "f", nil, bytes.NewReader(randomBytes(t, 5000)))
			if err != nil {
				t.Fatal(err)
			}
			return info
		}
		readErr := func(id bson.ObjectID) error {
			r, err := bk.Open(ctx, id)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.ReadAll(r)
			return err
		}
		missing, short, orphan, kept := put(), put(), put(), put()
		if _, err := bk.Chunks().DeleteOne(ctx, bson.D{{Key: "_id", Value: blob.ChunkID(missing.ID, 3)}}); err != nil {
			t.Fatal(err)
		}
		if err := readErr(missing.ID); !errors.Is(err, blob.ErrCorrupt) {
			t.Errorf("missing chunk: %v, want ErrCorrupt", err)
		}
		if _, err := bk.Chunks().UpdateOne(ctx, bson.D{{Key: "_id", Value: blob.ChunkID(short.ID, 2)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: bson.Binary{Data: []byte("short")}}}}}); err != nil {
			t.Fatal(err)
		}
		if err := readErr(short.ID); !errors.Is(err, blob.ErrCorrupt) {
			t.Errorf("short chunk: %v, want ErrCorrupt", err)
		}
		// A writer that died before its file document: chunks only.
		if _, err := bk.Files().DeleteOne(ctx, bson.D{{Key: "_id", Value: orphan.ID}}); err != nil {
			t.Fatal(err)
		}
		if ids, err := bk.Orphans(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
			t.Fatalf("Orphans older than an hour = %v, %v; want none (too young)", ids, err)
		}
		ids, err := bk.Orphans(ctx, time.Now().Add(time.Second))
		if err != nil || len(ids) != 1 || ids[0] != orphan.ID {
			t.Fatalf("Orphans = %v, %v; want [%s]", ids, err, orphan.ID.Hex())
		}
		if n, err := bk.RemoveChunks(ctx, orphan.ID); err != nil || n != 10 {
			t.Fatalf("RemoveChunks = %d, %v; want 10", n, err)
		}
		if err := bk.Delete(ctx, missing.ID); err != nil {
			t.Fatal(err)
		}
		if err := bk.Delete(ctx, missing.ID); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("second Delete = %v, want ErrNotFound", err)
		}
		if err := readErr(kept.ID); err != nil {
			t.Fatalf("untouched blob: %v", err)
		}
		// kept and short remain: 20 chunks.
		if n, err := bk.Chunks().CountDocuments(ctx, bson.D{}); err != nil || n != 20 {
			t.Fatalf("chunks left = %d, %v; want 20", n, err)
		}
	})
}

type failAfter struct{ n int }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source broke")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestFailedPutLeavesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		bk, err := blob.NewBucket(ctx, db, "bk", 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bk.Put(ctx, "f", nil, &failAfter{n: 20 << 20}); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		for _, c := range []string{"bk.files", "bk.chunks"} {
			if n, err := db.Collection(c).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
				t.Fatalf("%s holds %d documents after a failed put (%v), want 0", c, n, err)
			}
		}
	})
}
