package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Blobs are stored in GridFS's format (a files document and chunks with
// files_id, n and data), so any GridFS client can read them, but each chunk
// gets a string _id "<file id>/<n>": reading a blob is then a few lookups by
// _id. A GridFS reader finds chunks with a query on files_id, which FerretDB
// answers by scanning every chunk of the bucket, and reading one 1 MiB blob
// from a bucket of 32 took about a second that way.

// blobChunkSize is bigger than GridFS's default (255 KiB): each chunk costs
// FerretDB a lookup, and few big documents are cheaper than many small ones.
const blobChunkSize = 1 << 20

// chunksPerInsert bounds one insert of chunks to 8 MiB.
const chunksPerInsert = 8

func chunkID(file bson.ObjectID, n int) string { return fmt.Sprintf("%s/%d", file.Hex(), n) }

// putBlob stores data as a new blob and returns its id. The files document
// goes last, so a blob is visible only once whole.
func (c *Collection) putBlob(ctx context.Context, filename string, data []byte) (bson.ObjectID, error) {
	id := bson.NewObjectID()
	chunks := c.bucket.GetChunksCollection()
	n := (len(data) + blobChunkSize - 1) / blobChunkSize
	for first := 0; first < n; first += chunksPerInsert {
		var docs []any
		for i := first; i < min(n, first+chunksPerInsert); i++ {
			part := data[i*blobChunkSize : min(len(data), (i+1)*blobChunkSize)]
			docs = append(docs, bson.D{
				{Key: "_id", Value: chunkID(id, i)},
				{Key: "files_id", Value: id},
				{Key: "n", Value: int32(i)},
				{Key: "data", Value: bson.Binary{Data: part}},
			})
		}
		if _, err := chunks.InsertMany(ctx, docs); err != nil {
			c.dropChunks(ctx, id, first+chunksPerInsert)
			return id, fmt.Errorf("write chunks of blob %s: %w", id.Hex(), err)
		}
	}
	_, err := c.bucket.GetFilesCollection().InsertOne(ctx, bson.D{
		{Key: "_id", Value: id},
		{Key: "length", Value: int64(len(data))},
		{Key: "chunkSize", Value: int32(blobChunkSize)},
		{Key: "uploadDate", Value: time.Now().UTC()},
		{Key: "filename", Value: filename},
	})
	if err != nil {
		c.dropChunks(ctx, id, n)
		return id, fmt.Errorf("write blob %s: %w", id.Hex(), err)
	}
	return id, nil
}

// dropChunks removes the first n chunks of a blob, best effort.
func (c *Collection) dropChunks(ctx context.Context, id bson.ObjectID, n int) {
	chunks := c.bucket.GetChunksCollection()
	for i := range n {
		if _, err := chunks.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: chunkID(id, i)}}); err != nil {
			c.log.Warn("dataset: remove orphan chunk", "blob", id.Hex(), "n", i, "err", err)
			return
		}
	}
}

type blobFile struct {
	Length    int64 `bson:"length"`
	ChunkSize int32 `bson:"chunkSize"`
}

// getBlob reads a blob by id. Blobs written by another GridFS client (chunk
// _ids that are not ours) are read through the driver's GridFS reader.
func (c *Collection) getBlob(ctx context.Context, id bson.ObjectID) ([]byte, error) {
	var f blobFile
	err := c.bucket.GetFilesCollection().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&f)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("%w: no files document: %w", ErrMissingBlob, mongo.ErrFileNotFound)
	}
	if err != nil {
		return nil, err
	}
	if f.Length < 0 || f.ChunkSize <= 0 {
		return nil, fmt.Errorf("%w: files document says length %d, chunk size %d", ErrMissingBlob, f.Length, f.ChunkSize)
	}
	n := int((f.Length + int64(f.ChunkSize) - 1) / int64(f.ChunkSize))
	out := make([]byte, 0, f.Length)
	chunks := c.bucket.GetChunksCollection()
	for i := range n {
		var ch struct {
			Data []byte `bson:"data"`
		}
		err := chunks.FindOne(ctx, bson.D{{Key: "_id", Value: chunkID(id, i)}}).Decode(&ch)
		if errors.Is(err, mongo.ErrNoDocuments) && i == 0 {
			return c.getForeignBlob(ctx, id)
		}
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, fmt.Errorf("%w: chunk %d of %d: %w", ErrMissingBlob, i, n, mongo.ErrMissingChunk)
		}
		if err != nil {
			return nil, err
		}
		want := int(min(int64(f.ChunkSize), f.Length-int64(i)*int64(f.ChunkSize)))
		if len(ch.Data) != want {
			return nil, fmt.Errorf("%w: chunk %d has %d bytes, want %d: %w", ErrMissingBlob, i, len(ch.Data), want, mongo.ErrWrongSize)
		}
		out = append(out, ch.Data...)
	}
	return out, nil
}

// getForeignBlob reads a blob through the driver's GridFS reader.
func (c *Collection) getForeignBlob(ctx context.Context, id bson.ObjectID) ([]byte, error) {
	ds, err := c.bucket.OpenDownloadStream(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissingBlob, err)
	}
	defer ds.Close()
	out := make([]byte, ds.GetFile().Length)
	if _, err := io.ReadFull(ds, out); err != nil {
		if errors.Is(err, mongo.ErrMissingChunk) || errors.Is(err, mongo.ErrWrongSize) {
			return nil, fmt.Errorf("%w: %w", ErrMissingBlob, err)
		}
		return nil, err
	}
	return out, nil
}

// deleteBlob removes a blob, best effort for its chunks.
func (c *Collection) deleteBlob(ctx context.Context, id bson.ObjectID) error {
	var f blobFile
	err := c.bucket.GetFilesCollection().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&f)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := c.bucket.GetFilesCollection().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return err
	}
	if f.ChunkSize > 0 {
		c.dropChunks(ctx, id, int((f.Length+int64(f.ChunkSize)-1)/int64(f.ChunkSize)))
	}
	return nil
}
