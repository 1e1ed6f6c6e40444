// Package blob stores large byte streams in a MongoDB database, in the
// GridFS layout, but written and read so that FerretDB serves them fast.
//
// A bucket named "b" is the two collections of GridFS: "b.files" holds one
// document per blob (_id, length, chunkSize, uploadDate, filename,
// metadata) and "b.chunks" the bytes, in chunks of a fixed size (files_id,
// n, data). Any GridFS reader (mongofiles, the driver's GridFSBucket) reads
// these blobs. The difference is the chunk _id: not a random ObjectID but
// "<file id hex>:<n>", so this package fetches chunk n of a blob by _id.
// FerretDB over SQLite pushes only a lookup on _id alone down to SQLite;
// the usual GridFS query on files_id scans and decodes every chunk of every
// blob in the bucket, so reads slowed down as the bucket grew. (FerretDB's
// own _id lookups on SQLite also scan; NewBucket has store.DB.IndexIDs fix
// that for its collections.)
//
// Every file and chunk document also carries the project of the store.DB
// the bucket was made from (GridFS readers ignore extra fields).
//
// Put writes all chunks first and the file document last, so a blob whose
// writer died has no file document: Open does not see it, and Orphans finds
// its chunks for removal. Open reads chunks ahead in parallel and checks
// each one's index and size.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tlgo/tl/store"
)

// Errors tested with errors.Is.
var (
	ErrNotFound = errors.New("blob: not found")
	// ErrCorrupt: a chunk is missing or has the wrong index or size.
	ErrCorrupt = errors.New("blob: corrupt")
)

// DefaultChunkSize is 1 MiB: large enough that per-chunk round trips are
// cheap, far below the 16 MiB document limit.
const DefaultChunkSize = 1 << 20

// Bucket is a pair of GridFS collections. Safe for concurrent use.
type Bucket struct {
	name      string
	project   string
	files     *mongo.Collection
	chunks    *mongo.Collection
	chunkSize int
	// Prefetch is how many chunks Open fetches ahead, in parallel.
	prefetch int
}

// NewBucket returns the bucket name of db's database, creating its
// collections with _id lookups indexed (see store.DB.IndexIDs); chunkSize 0
// means DefaultChunkSize.
func NewBucket(ctx context.Context, db *store.DB, name string, chunkSize int) (*Bucket, error) {
	if err := store.ValidateName("bucket", name); err != nil {
		return nil, err
	}
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < 256 || chunkSize > 8<<20 {
		return nil, fmt.Errorf("blob: chunk size %d, expected 256 B to 8 MiB", chunkSize)
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if err := db.IndexIDs(ctx, name+".files", name+".chunks"); err != nil {
		return nil, fmt.Errorf("blob: bucket %s: %w", name, err)
	}
	return &Bucket{
		name:      name,
		project:   db.Project(),
		files:     db.Collection(name + ".files"),
		chunks:    db.Collection(name + ".chunks"),
		chunkSize: chunkSize,
		prefetch:  4,
	}, nil
}

// Files and Chunks are the bucket's collections.
func (b *Bucket) Files() *mongo.Collection  { return b.files }
func (b *Bucket) Chunks() *mongo.Collection { return b.chunks }

// ChunkID is the _id of chunk n of blob id.
func ChunkID(id bson.ObjectID, n int64) string { return id.Hex() + ":" + strconv.FormatInt(n, 10) }

// Info describes a stored blob.
type Info struct {
	ID        bson.ObjectID `bson:"_id"`
	Length    int64         `bson:"length"`
	ChunkSize int64         `bson:"chunkSize"`
	Uploaded  time.Time     `bson:"uploadDate"`
	Filename  string        `bson:"filename"`
	Metadata  bson.Raw      `bson:"metadata,omitempty"`
	// SHA256 is computed by Put and not stored by this package (callers
	// keep it where they need it, e.g. in a model document).
	SHA256 string `bson:"-"`
}

// Put copies r into a new blob and returns its Info, with the SHA-256 of
// the bytes. If r fails or ctx ends, the chunks written so far are removed
// (best effort: if the server is gone, they stay as orphans).
func (b *Bucket) Put(ctx context.Context, filename string, metadata any, r io.Reader) (Info, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	id := bson.NewObjectID()
	h := sha256.New()
	// Batches of about 8 MiB per insert.
	perBatch := max(1, (8<<20)/b.chunkSize)
	batch := make([]any, 0, perBatch)
	var n, length int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := b.chunks.InsertMany(ctx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	fail := func(err error) (Info, error) {
		b.removeChunks(id, n+int64(len(batch)))
		return Info{}, fmt.Errorf("blob: put %s into %s after %d bytes: %w", filename, b.name, length, err)
	}
	for {
		buf := make([]byte, b.chunkSize)
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			h.Write(buf[:k])
			batch = append(batch, bson.D{
				{Key: "_id", Value: ChunkID(id, n)},
				{Key: "files_id", Value: id},
				{Key: "project", Value: b.project},
				{Key: "n", Value: n},
				{Key: "data", Value: bson.Binary{Data: buf[:k]}},
			})
			n++
			length += int64(k)
			if len(batch) == perBatch {
				if err := flush(); err != nil {
					return fail(err)
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	info := Info{ID: id, Length: length, ChunkSize: int64(b.chunkSize), Uploaded: time.Now().UTC().Truncate(time.Millisecond), Filename: filename}
	doc := bson.D{
		{Key: "_id", Value: id}, {Key: "length", Value: length}, {Key: "chunkSize", Value: int32(b.chunkSize)},
		{Key: "uploadDate", Value: info.Uploaded}, {Key: "filename", Value: filename},
		{Key: "project", Value: b.project},
	}
	if metadata != nil {
		doc = append(doc, bson.E{Key: "metadata", Value: metadata})
	}
	if _, err := b.files.InsertOne(ctx, doc); err != nil {
		return fail(err)
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

// removeChunks deletes the chunks of a failed put, on a fresh context: the
// caller's may be the reason the put failed. Few chunks go by _id (fast on
// SQLite); many go in one query on files_id (one scan instead of many).
func (b *Bucket) removeChunks(id bson.ObjectID, n int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_ = b.deleteChunks(ctx, id, n)
}

func (b *Bucket) deleteChunks(ctx context.Context, id bson.ObjectID, n int64) error {
	if n > 16 {
		_, err := b.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: id}})
		return err
	}
	for i := int64(0); i < n; i++ {
		if _, err := b.chunks.DeleteOne(ctx, bson.D{{Key: "_id", Value: ChunkID(id, i)}}); err != nil {
			return err
		}
	}
	return nil
}

// Stat returns a blob's file document.
func (b *Bucket) Stat(ctx context.Context, id bson.ObjectID) (Info, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	var info Info
	err := b.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&info)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Info{}, fmt.Errorf("blob %s in %s: %w", id.Hex(), b.name, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s in %s: %w", id.Hex(), b.name, err)
	}
	if info.Length < 0 || info.ChunkSize <= 0 {
		return Info{}, fmt.Errorf("%w: blob %s in %s: length %d, chunkSize %d", ErrCorrupt, id.Hex(), b.name, info.Length, info.ChunkSize)
	}
	return info, nil
}

// Open returns a reader of a blob's bytes. Chunks are fetched ahead, a few
// at a time; a missing or misshapen chunk is an error wrapping ErrCorrupt.
// The reader's Sum, after io.EOF, is the SHA-256 of what was read.
func (b *Bucket) Open(ctx context.Context, id bson.ObjectID) (*Reader, error) {
	info, err := b.Stat(ctx, id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := store.Detach(ctx)
	r := &Reader{
		b: b, info: info, ctx: ctx, cancel: cancel, h: sha256.New(),
		nchunks: (info.Length + info.ChunkSize - 1) / info.ChunkSize,
	}
	return r, nil
}

// Reader reads a blob; see Bucket.Open. Not safe for concurrent use.
type Reader struct {
	b       *Bucket
	info    Info
	ctx     context.Context
	cancel  context.CancelFunc
	h       hash.Hash
	nchunks int64
	next    int64           // next chunk to hand out
	ahead   []chan chunkRes // fetches in flight, in chunk order
	issued  int64           // next chunk to fetch
	cur     []byte
	read    int64
	err     error
}

type chunkRes struct {
	data []byte
	err  error
}

// Info is the blob's file document.
func (r *Reader) Info() Info { return r.info }

// Sum is the hex SHA-256 of the bytes read so far.
func (r *Reader) Sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

func (r *Reader) fetch(n int64) chan chunkRes {
	ch := make(chan chunkRes, 1)
	go func() {
		var doc struct {
			N    int64       `bson:"n"`
			Data bson.Binary `bson:"data"`
		}
		err := r.b.chunks.FindOne(r.ctx, bson.D{{Key: "_id", Value: ChunkID(r.info.ID, n)}}).Decode(&doc)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			err = fmt.Errorf("%w: blob %s in %s: chunk %d of %d is missing", ErrCorrupt, r.info.ID.Hex(), r.b.name, n, r.nchunks)
		case err != nil:
			err = fmt.Errorf("blob: read chunk %d of %s in %s: %w", n, r.info.ID.Hex(), r.b.name, err)
		default:
			want := r.info.ChunkSize
			if n == r.nchunks-1 {
				want = r.info.Length - n*r.info.ChunkSize
			}
			if doc.N != n || int64(len(doc.Data.Data)) != want {
				err = fmt.Errorf("%w: blob %s in %s: chunk %d holds n=%d and %d bytes, expected n=%d and %d bytes",
					ErrCorrupt, r.info.ID.Hex(), r.b.name, n, doc.N, len(doc.Data.Data), n, want)
			}
		}
		ch <- chunkRes{data: doc.Data.Data, err: err}
	}()
	return ch
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for len(r.cur) == 0 {
		if r.next == r.nchunks {
			r.err = io.EOF
			return 0, io.EOF
		}
		for r.issued < r.nchunks && len(r.ahead) < r.b.prefetch {
			r.ahead = append(r.ahead, r.fetch(r.issued))
			r.issued++
		}
		var res chunkRes
		select {
		case res = <-r.ahead[0]:
		case <-r.ctx.Done():
			res.err = fmt.Errorf("blob: read %s in %s: %w", r.info.ID.Hex(), r.b.name, context.Cause(r.ctx))
		}
		if res.err != nil {
			r.err = res.err
			return 0, r.err
		}
		r.ahead = r.ahead[1:]
		r.next++
		r.cur = res.data
	}
	k := copy(p, r.cur)
	r.h.Write(p[:k])
	r.cur = r.cur[k:]
	r.read += int64(k)
	return k, nil
}

// Close stops fetching. It always returns nil.
func (r *Reader) Close() error {
	r.cancel()
	if r.err == nil {
		r.err = errors.New("blob: reader closed")
	}
	return nil
}

// Delete removes a blob: its file document first (so it disappears at
// once), then its chunks. Deleting a missing blob is ErrNotFound.
func (b *Bucket) Delete(ctx context.Context, id bson.ObjectID) error {
	info, err := b.Stat(ctx, id)
	if err != nil {
		return err
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if _, err := b.files.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("blob: delete %s in %s: %w", id.Hex(), b.name, err)
	}
	n := (info.Length + info.ChunkSize - 1) / info.ChunkSize
	if err := b.deleteChunks(ctx, id, n); err != nil {
		return fmt.Errorf("blob: delete %s in %s: file removed, chunks left for Orphans: %w", id.Hex(), b.name, err)
	}
	return nil
}

// Orphans returns the IDs of blobs whose chunks exist without a file
// document and whose upload began before cutoff: writers that died, or
// deletes cut short. It scans the chunks collection (one distinct query).
func (b *Bucket) Orphans(ctx context.Context, cutoff time.Time) ([]bson.ObjectID, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	var ids []bson.ObjectID
	if err := b.chunks.Distinct(ctx, "files_id", bson.D{}).Decode(&ids); err != nil {
		return nil, fmt.Errorf("blob: list chunks of %s: %w", b.name, err)
	}
	var out []bson.ObjectID
	for _, id := range ids {
		if !id.Timestamp().Before(cutoff) {
			continue
		}
		err := b.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			out = append(out, id)
		} else if err != nil {
			return nil, fmt.Errorf("blob: check %s in %s: %w", id.Hex(), b.name, err)
		}
	}
	return out, nil
}

// RemoveChunks deletes every chunk of id (found by files_id, so it works
// without the file document). Use it on Orphans.
func (b *Bucket) RemoveChunks(ctx context.Context, id bson.ObjectID) (int64, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	res, err := b.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: id}})
	if err != nil {
		return 0, fmt.Errorf("blob: remove chunks of %s in %s: %w", id.Hex(), b.name, err)
	}
	return res.DeletedCount, nil
}
