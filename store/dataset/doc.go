// Package dataset keeps training data in a MongoDB wire-protocol database
// (embedded FerretDB by default, any server by URL) and reads it back fast
// enough to feed training: the dataset module of the TensorLayer paper
// (section 2.3).
//
// # Samples are documents
//
// A Sample is a key, a payload (opaque Bytes such as an encoded image, or a
// dense Tensor of uint8, int32 or float32), a label, tags and free user
// fields. Collection.Insert stores each sample as one document whose _id is
// "project/key", so that a lookup by key is a lookup by _id: the only query
// that FerretDB's SQLite backend answers without scanning the collection.
// Each document also carries the project, an insertion sequence number and a
// hash of the key (see KeyHash). Payloads bigger than Options.BlobThreshold
// go to a GridFS bucket (collection+"_blobs") and the document points to
// them; readers do not see the difference. The blobs are written by package
// store/blob: GridFS's format, readable by any GridFS client, with chunks
// addressed by _id, so that a blob is read by _id lookups instead of the
// files_id query that FerretDB answers by scanning the whole bucket. Open
// also indexes _id lookups of its collections on FerretDB over SQLite
// (store.DB.IndexIDs), without which every lookup by key scans. With Options.Compress, payloads
// are stored zstd-compressed when that makes them smaller.
//
// # Labels that are tensors
//
// A sample may carry a Target besides its class id: a dense label (a
// regression target, a mask) of uint8, int32 or float32, stored in the
// sample document as a subdocument "target" of kind, shape and data, always
// inline (at most MaxTargetBytes, whatever the payload's size, so a view's
// target shapes are summarised on the server without reading a payload).
// Insert refuses, before writing anything, a target whose shape and values
// disagree, one over the limit, and a float32 target with a NaN or an
// infinity; decoding checks the same, so a corrupt target is a
// CorruptError naming the field.
//
// # Insertion sequence without transactions
//
// FerretDB v1 has no transactions and no change streams, so the order of
// arrival is kept by a counter document per project and collection. An
// insert of n samples reserves n numbers with one findAndModify $inc on
// "seq", inserts, then adds n to "done". A reader that sees seq == done
// knows that no insert is in flight; the stream controller and the local
// cache rely on that. Big payloads are uploaded before the numbers are
// reserved, which keeps the window between reserving and writing short, and
// a document is written only once its blob is whole. Deletions bump a third
// field, "gen".
//
// # Datasets are views
//
// A Dataset is a name and a Query (tags that must all be present, tags of
// which one must be, tags that must be absent, labels, a key prefix, user
// field values, a sequence range). Collection.Define stores it in the
// "datasets" collection, so it can be listed and reopened by name; it copies
// no sample, and a sample inserted later is in every view whose query it
// matches. Open creates indexes on (project, seq), (project, tags) and
// (project, label), and Define one on (project, fields.<name>) for each user
// field its query selects on; FerretDB over PostgreSQL and MongoDB use them,
// FerretDB over SQLite scans anyway.
//
// # Reading
//
// Dataset.Batches and Dataset.Samples are iterators. A goroutine reads ahead
// (ReadOptions.Prefetch batches, on a bounded channel) while the caller
// trains; breaking out of the loop or cancelling the context stops it, and
// an error (a corrupt document, a missing blob, a server that went away)
// ends the iteration with an error that names the sample. Reading never
// modifies stored data. The driver asks for few documents per reply when
// they are big: FerretDB v1 counts reply batches in documents, and many
// large documents overflow its wire limit.
//
// Options on each read:
//
//   - Shard i of n keeps the samples with KeyHash(key) % n == i. The filter
//     runs on the server ($mod on the stored hash); n workers split a dataset
//     exactly, without talking to each other.
//   - Shuffle draws the order from a seed. From the local cache it is an
//     exact permutation; straight from the server it is a shuffle buffer.
//   - Fraction keeps a deterministic subset drawn from the seed and the
//     keys; Limit stops early.
//   - Cache reads through a local on-disk cache (Options.CacheDir): one
//     directory per view and shard, filled by a complete pass and used while
//     the collection's counter is unchanged and settled, so the second epoch
//     reads the disk and asks the server only for the counter (one _id
//     lookup). A new, deleted or in-flight sample makes the next read go back
//     to the server and refill the cache.
//
// # Importing
//
// Import inserts any iter.Seq2[Sample, error] in batches, with a progress
// bar (rate and ETA) on stderr when stderr is a terminal. ImportIDX reads
// MNIST and Fashion-MNIST IDX files (with package formats; Debian's
// dataset-fashion-mnist installs them under /usr/share/datasets/fashion-mnist)
// and ImportImageFolder a folder of class subfolders of images. With
// ImportOptions.SkipExisting an interrupted import can simply be run again.
// ImportJSONL reads a JSON Lines file of samples (JSONLRecord: values, shape,
// dtype, label, and a float32 target for a regression), checking every
// line before it writes any. ExportIDX writes a dataset of uint8 images back to IDX files; any dataset
// is also exported as a Go iterator by Dataset.Samples.
//
// # Concurrency
//
// A Collection is safe for concurrent use by many goroutines and processes:
// the counter document is the only shared state, and it is updated
// atomically. Two caches of the same view in one directory are kept apart by
// unique data file names; the index is replaced by rename.
package dataset
