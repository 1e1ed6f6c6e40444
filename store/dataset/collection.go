package dataset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
)

// Defaults for Options.
const (
	DefaultCollection    = "samples"
	DefaultBlobThreshold = 256 << 10
	DefaultCompressMin   = 4 << 10
)

// Collection names shared by every sample collection of a database.
const (
	countersCollection = "dataset_counters"
	viewsCollection    = "datasets"
)

// Options configure a Collection. The zero value is usable.
type Options struct {
	// Collection is the MongoDB collection that holds the samples;
	// default DefaultCollection. Its GridFS bucket is Collection+"_blobs".
	Collection string
	// BlobThreshold is the stored payload size above which a payload goes
	// to GridFS instead of the document; default DefaultBlobThreshold.
	// Keeping documents small matters on FerretDB, whose reply batches are
	// counted in documents.
	BlobThreshold int
	// Compress stores payloads of at least CompressMin bytes zstd-compressed
	// when that makes them smaller. Reading is transparent either way.
	Compress    bool
	CompressMin int
	// CacheDir is the local on-disk cache of read samples; empty disables
	// caching. See ReadOptions.Cache.
	CacheDir string
	// Logger receives this package's logs; nil discards them.
	Logger *slog.Logger
}

// Collection is a project's samples in one MongoDB collection: the place
// samples are inserted into and datasets (views) are defined over.
// It is safe for concurrent use.
type Collection struct {
	db       *mongo.Database
	project  string
	name     string
	opts     Options
	coll     *mongo.Collection
	counters *mongo.Collection
	views    *mongo.Collection
	blobs    *blob.Bucket
	enc      *zstd.Encoder
	dec      *zstd.Decoder
	log      *slog.Logger
	fills    atomic.Int64 // cache fills begun (the tests count them)
}

// Open returns the samples of s's project in s's database, creating the
// indexes that queries use. It does not take ownership of s.
func Open(ctx context.Context, s *store.DB, opts Options) (*Collection, error) {
	db, project := s.Database(), s.Project()
	if project == "" || strings.ContainsAny(project, "/\x00") {
		return nil, fmt.Errorf("dataset: project %q: expected a non-empty name without '/'", project)
	}
	if opts.Collection == "" {
		opts.Collection = DefaultCollection
	}
	if opts.BlobThreshold <= 0 {
		opts.BlobThreshold = DefaultBlobThreshold
	}
	if opts.CompressMin <= 0 {
		opts.CompressMin = DefaultCompressMin
	}
	log := opts.Logger
	if log == nil {
		log = s.Logger()
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("dataset: zstd encoder: %w", err)
	}
	dec, err := newDecoder()
	if err != nil {
		return nil, fmt.Errorf("dataset: zstd decoder: %w", err)
	}
	c := &Collection{
		db: db, project: project, name: opts.Collection, opts: opts,
		coll:     db.Collection(opts.Collection),
		counters: db.Collection(countersCollection),
		views:    db.Collection(viewsCollection),
		enc:      enc, dec: dec, log: log,
	}
	// Lookups by _id (samples by key, the counter, views) must not scan on
	// FerretDB over SQLite; see store.DB.IndexIDs.
	if err := s.IndexIDs(ctx, c.name, countersCollection, viewsCollection); err != nil {
		return nil, fmt.Errorf("dataset: open %q: %w", c.name, err)
	}
	if c.blobs, err = blob.NewBucket(ctx, s, c.name+"_blobs", 0); err != nil {
		return nil, fmt.Errorf("dataset: open %q: %w", c.name, err)
	}
	// Indexes for what queries and the stream controller filter on. FerretDB
	// on SQLite still scans; PostgreSQL and MongoDB use them. One at a time:
	// FerretDB v1.24.2 drops the connection (a panic in its handler) when one
	// createIndexes command lists several indexes that all exist already.
	for _, keys := range []bson.D{
		{{Key: fProject, Value: 1}, {Key: fSeq, Value: 1}},
		{{Key: fProject, Value: 1}, {Key: fTags, Value: 1}},
		{{Key: fProject, Value: 1}, {Key: fLabel, Value: 1}},
	} {
		if _, err := c.coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
			return nil, fmt.Errorf("dataset: create index %v on %q: %w", keys, c.name, err)
		}
	}
	return c, nil
}

// Project is the project the collection's samples belong to.
func (c *Collection) Project() string { return c.project }

// Name is the MongoDB collection name.
func (c *Collection) Name() string { return c.name }

// Mongo is the underlying MongoDB collection, for queries this package
// does not offer.
func (c *Collection) Mongo() *mongo.Collection { return c.coll }

// counterID is the _id of the counter document of this project and collection.
func (c *Collection) counterID() string { return c.name + "/" + c.project }

// Counter is the state of a collection's insertion counter.
type Counter struct {
	// Seq is the last sequence number reserved by a writer.
	Seq int64 `bson:"seq"`
	// Done is how many reserved numbers have been written (or failed):
	// Seq == Done means no insert is in flight.
	Done int64 `bson:"done"`
	// Gen counts deletions, so caches notice them.
	Gen int64 `bson:"gen"`
}

// Settled reports whether every reserved sequence number has been written.
func (k Counter) Settled() bool { return k.Seq == k.Done }

// Counter reads the collection's insertion counter: one lookup by _id.
func (c *Collection) Counter(ctx context.Context) (Counter, error) {
	var k Counter
	err := c.counters.FindOne(ctx, bson.D{{Key: fID, Value: c.counterID()}}).Decode(&k)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Counter{}, nil
	}
	if err != nil {
		return Counter{}, fmt.Errorf("dataset: read counter of %q: %w", c.name, err)
	}
	return k, nil
}

// bump increments counter fields atomically and returns the new state.
// findAndModify on one document needs no transaction.
func (c *Collection) bump(ctx context.Context, inc bson.D) (Counter, error) {
	var k Counter
	err := c.counters.FindOneAndUpdate(ctx,
		bson.D{{Key: fID, Value: c.counterID()}},
		bson.D{{Key: "$inc", Value: inc}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&k)
	if err != nil {
		return Counter{}, fmt.Errorf("dataset: update counter of %q: %w", c.name, err)
	}
	return k, nil
}

// ErrDuplicateKey is wrapped by Insert errors for keys that already exist.
var ErrDuplicateKey = errors.New("duplicate sample key")

// InsertError lists the samples of an Insert call that were not stored.
// The others were.
type InsertError struct {
	Keys []string
	Errs []error
}

func (e *InsertError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset: %d sample(s) not inserted:", len(e.Keys))
	for i, k := range e.Keys {
		if i == 5 {
			fmt.Fprintf(&b, " ... and %d more", len(e.Keys)-5)
			break
		}
		fmt.Fprintf(&b, " %q (%v);", k, e.Errs[i])
	}
	return b.String()
}

// Unwrap returns the per-sample errors, so errors.Is(err, ErrDuplicateKey) works.
func (e *InsertError) Unwrap() []error { return e.Errs }

// Insert stores samples and returns their insertion sequence numbers, in
// order. Big payloads are uploaded to GridFS first, so a document never
// points at a blob that is not whole. Samples are validated before anything
// is written; on a partial failure the error is an *InsertError naming the
// samples not stored (their blobs are removed), and the rest are stored.
func (c *Collection) Insert(ctx context.Context, samples ...Sample) ([]int64, error) {
	if len(samples) == 0 {
		return nil, nil
	}
	seen := make(map[string]bool, len(samples))
	for i := range samples {
		if err := samples[i].validate(); err != nil {
			return nil, fmt.Errorf("dataset: insert into %q: sample %d: %w", c.name, i, err)
		}
		if seen[samples[i].Key] {
			return nil, fmt.Errorf("dataset: insert into %q: key %q appears twice in one call: %w", c.name, samples[i].Key, ErrDuplicateKey)
		}
		seen[samples[i].Key] = true
	}
	docs := make([]bson.D, len(samples))
	blobs := make([]bson.ObjectID, len(samples))
	var uploaded []bson.ObjectID
	cleanup := func(ids []bson.ObjectID) {
		for _, id := range ids {
			if id.IsZero() {
				continue
			}
			if err := c.deleteBlob(context.WithoutCancel(ctx), id); err != nil {
				c.log.Warn("dataset: remove orphan blob", "collection", c.name, "blob", id.Hex(), "err", err)
			}
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range samples {
		s := &samples[i]
		kind, shape, raw := s.payload()
		data, enc := raw, ""
		if c.opts.Compress && len(raw) >= c.opts.CompressMin {
			if z := c.enc.EncodeAll(raw, nil); len(z) < len(raw) {
				data, enc = z, encZstd
			}
		}
		d := bson.D{
			{Key: fID, Value: docID(c.project, s.Key)},
			{Key: fProject, Value: c.project},
			{Key: fKey, Value: s.Key},
			{Key: fSeq, Value: int64(0)}, // set below, once reserved
			{Key: fKeyHash, Value: KeyHash(s.Key)},
			{Key: fCreated, Value: now},
			{Key: fKind, Value: kind},
		}
		if shape != nil {
			sh := make([]int64, len(shape))
			for j, v := range shape {
				sh[j] = int64(v)
			}
			d = append(d, bson.E{Key: fShape, Value: sh})
		}
		if enc != "" {
			d = append(d, bson.E{Key: fEnc, Value: enc})
		}
		d = append(d, bson.E{Key: fSize, Value: int64(len(raw))})
		if len(data) > c.opts.BlobThreshold {
			id, err := c.putBlob(ctx, docID(c.project, s.Key), data)
			if err != nil {
				cleanup(uploaded)
				return nil, fmt.Errorf("dataset: insert into %q: upload payload of %q to GridFS: %w", c.name, s.Key, err)
			}
			uploaded = append(uploaded, id)
			blobs[i] = id
			d = append(d, bson.E{Key: fBlob, Value: id})
		} else {
			d = append(d, bson.E{Key: fData, Value: bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: data}})
		}
		d = append(d, bson.E{Key: fLabel, Value: int64(s.Label)})
		if s.Target != nil {
			d = append(d, bson.E{Key: fTarget, Value: targetDoc(s.Target)})
		}
		if s.LabelName != "" {
			d = append(d, bson.E{Key: fLabelName, Value: s.LabelName})
		}
		tags := s.Tags
		if tags == nil {
			tags = []string{}
		}
		d = append(d, bson.E{Key: fTags, Value: tags})
		if len(s.Fields) > 0 {
			d = append(d, bson.E{Key: fFields, Value: s.Fields})
		}
		docs[i] = d
	}

	// Reserve the sequence numbers right before inserting, so that the window
	// in which a number is reserved but not visible stays short.
	n := int64(len(samples))
	k, err := c.bump(ctx, bson.D{{Key: "seq", Value: n}})
	if err != nil {
		cleanup(uploaded)
		return nil, fmt.Errorf("dataset: insert into %q: %w", c.name, err)
	}
	// Whatever happens next, the reservation is finished: readers waiting for
	// the counter to settle must not wait forever.
	defer func() {
		if _, err := c.bump(context.WithoutCancel(ctx), bson.D{{Key: "done", Value: n}}); err != nil {
			c.log.Error("dataset: counter left unsettled", "collection", c.name, "err", err)
		}
	}()
	first := k.Seq - n + 1
	seqs := make([]int64, len(samples))
	anyDocs := make([]any, len(docs))
	for i := range docs {
		seqs[i] = first + int64(i)
		docs[i][3].Value = seqs[i]
		anyDocs[i] = docs[i]
	}
	_, err = c.coll.InsertMany(ctx, anyDocs, options.InsertMany().SetOrdered(false))
	if err == nil {
		for i := range samples {
			samples[i].Seq, samples[i].Project = seqs[i], c.project
		}
		return seqs, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		// We cannot tell which documents made it; keep the blobs, since a
		// stored document may point at them.
		return nil, fmt.Errorf("dataset: insert %d samples into %q: %w", len(samples), c.name, err)
	}
	ie := &InsertError{}
	failed := make(map[int]bool)
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(samples) {
			continue
		}
		failed[we.Index] = true
		e := error(&we.WriteError)
		if mongo.IsDuplicateKeyError(we.WriteError) {
			e = fmt.Errorf("%w: %s", ErrDuplicateKey, we.Message)
		}
		ie.Keys = append(ie.Keys, samples[we.Index].Key)
		ie.Errs = append(ie.Errs, e)
		cleanup([]bson.ObjectID{blobs[we.Index]})
	}
	for i := range samples {
		if !failed[i] {
			samples[i].Seq, samples[i].Project = seqs[i], c.project
		} else {
			seqs[i] = 0
		}
	}
	return seqs, ie
}

// ErrNotFound is returned for a key or dataset that does not exist.
var ErrNotFound = errors.New("not found")

// Get reads one sample by key: a lookup by _id, fast on every backend.
func (c *Collection) Get(ctx context.Context, key string) (Sample, error) {
	raw, err := c.coll.FindOne(ctx, bson.D{{Key: fID, Value: docID(c.project, key)}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Sample{}, fmt.Errorf("dataset: sample %q in %q: %w", key, c.name, ErrNotFound)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("dataset: get sample %q from %q: %w", key, c.name, err)
	}
	st, err := decodeDoc(c.name, raw)
	if err != nil {
		return Sample{}, err
	}
	return c.resolve(ctx, st)
}

// Delete removes samples by key, with their blobs. Missing keys are ignored.
func (c *Collection) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		id := docID(c.project, key)
		raw, err := c.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dataset: delete sample %q from %q: %w", key, c.name, err)
		}
		if _, err := c.coll.DeleteOne(ctx, bson.D{{Key: fID, Value: id}}); err != nil {
			return fmt.Errorf("dataset: delete sample %q from %q: %w", key, c.name, err)
		}
		// The document goes first: a blob without a document is garbage, a
		// document without its blob is an error for readers.
		if oid, ok := raw.Lookup(fBlob).ObjectIDOK(); ok {
			if err := c.deleteBlob(ctx, oid); err != nil {
				c.log.Warn("dataset: remove blob", "key", key, "blob", oid.Hex(), "err", err)
			}
		}
	}
	if _, err := c.bump(ctx, bson.D{{Key: "gen", Value: int64(1)}}); err != nil {
		return fmt.Errorf("dataset: delete from %q: %w", c.name, err)
	}
	return nil
}

// ErrMissingBlob is wrapped by errors for a document whose GridFS payload
// is gone or incomplete.
var ErrMissingBlob = errors.New("GridFS payload missing")

// resolve fetches a payload from GridFS if needed, decompresses it and
// builds the sample.
func (c *Collection) resolve(ctx context.Context, st *stored) (Sample, error) {
	data := st.data
	if st.has {
		want := int64(-1)
		if st.enc == "" {
			want = st.size
		}
		var err error
		if data, err = c.getBlob(ctx, st.blob, want); err != nil {
			return Sample{}, fmt.Errorf("dataset: sample %q in %q: read blob %s from bucket %q: %w",
				st.Key, c.name, st.blob.Hex(), c.name+"_blobs", err)
		}
	}
	data, err := st.decompress(c.name, c.dec, data)
	if err != nil {
		return Sample{}, err
	}
	return st.finish(c.name, data)
}

// FromStore is Open; kept because callers use both names.
func FromStore(ctx context.Context, s *store.DB, opts Options) (*Collection, error) {
	return Open(ctx, s, opts)
}
