package dataset

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Field names of a sample document. Queries, indexes and the stream
// controller use them; they are part of the stored format.
const (
	fID        = "_id"
	fProject   = "project"
	fKey       = "key"
	fSeq       = "seq"
	fKeyHash   = "kh"
	fCreated   = "created"
	fKind      = "kind"
	fShape     = "shape"
	fData      = "data"
	fEnc       = "enc"
	fSize      = "size"
	fBlob      = "blob"
	fLabel     = "label"
	fLabelName = "label_name"
	fTags      = "tags"
	fFields    = "fields"
	// fTarget is a sample's Target: a subdocument of kind, shape and data
	// (the names of the payload's fields), always inline.
	fTarget = "target"
)

// encZstd marks a payload stored zstd-compressed.
const encZstd = "zstd"

// docID is the _id of a sample: lookups by _id are the only ones FerretDB's
// SQLite backend does not answer with a full scan.
func docID(project, key string) string { return project + "/" + key }

// KeyHash is the hash that partitions samples into shards: shard i of n
// holds the samples whose KeyHash(key) % n == i. It is stored with each
// sample, so the server can filter on it. It is FNV-1a (64 bits) finished
// with SplitMix64's mixer, since FNV alone spreads similar keys badly,
// and kept non-negative.
func KeyHash(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(mix64(h.Sum64()) >> 1)
}

// mix64 is SplitMix64's finalizer: every input bit affects every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// CorruptError reports a stored sample document that cannot be decoded.
// Nothing is modified on the server when it is returned.
type CorruptError struct {
	Collection string
	Key        string // the sample key, or "" if the key itself is unreadable
	ID         string // the document _id as text
	Field      string
	Err        error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("dataset: corrupt sample %q (_id %s) in collection %q: field %q: %v", e.Key, e.ID, e.Collection, e.Field, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrCorrupt is wrapped by every CorruptError.
var ErrCorrupt = errors.New("corrupt document")

// stored is a decoded sample document whose payload may still be in
// GridFS or compressed.
type stored struct {
	Sample
	kind  string
	shape []int
	data  []byte
	enc   string
	size  int64
	blob  bson.ObjectID
	has   bool // blob is set
	id    string
	when  time.Time
}

// decodeDoc decodes a sample document, checking every field's type so that a
// bad document is named precisely.
func decodeDoc(coll string, raw bson.Raw) (*stored, error) {
	st := &stored{}
	idv := raw.Lookup(fID)
	st.id = idv.String()
	if s, ok := idv.StringValueOK(); ok {
		st.id = s
	}
	bad := func(field, format string, args ...any) error {
		return &CorruptError{Collection: coll, Key: st.Key, ID: st.id, Field: field,
			Err: fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))}
	}
	str := func(field string, required bool) (string, error) {
		v, err := raw.LookupErr(field)
		if err != nil {
			if required {
				return "", bad(field, "missing")
			}
			return "", nil
		}
		s, ok := v.StringValueOK()
		if !ok {
			return "", bad(field, "got %s, want string", v.Type)
		}
		return s, nil
	}
	num := func(field string, required bool) (int64, error) {
		v, err := raw.LookupErr(field)
		if err != nil {
			if required {
				return 0, bad(field, "missing")
			}
			return 0, nil
		}
		n, ok := v.AsInt64OK()
		if !ok {
			return 0, bad(field, "got %s, want a number", v.Type)
		}
		return n, nil
	}
	var err error
	if st.Key, err = str(fKey, true); err != nil {
		return nil, err
	}
	if st.Project, err = str(fProject, true); err != nil {
		return nil, err
	}
	if st.Seq, err = num(fSeq, true); err != nil {
		return nil, err
	}
	if st.kind, err = str(fKind, true); err != nil {
		return nil, err
	}
	switch st.kind {
	case kindBytes, string(Uint8), string(Int32), string(Float32):
	default:
		return nil, bad(fKind, "got %q, want bytes, uint8, int32 or float32", st.kind)
	}
	if st.enc, err = str(fEnc, false); err != nil {
		return nil, err
	}
	if st.enc != "" && st.enc != encZstd {
		return nil, bad(fEnc, "got %q, want \"\" or %q", st.enc, encZstd)
	}
	if st.size, err = num(fSize, true); err != nil {
		return nil, err
	}
	if st.size < 0 {
		return nil, bad(fSize, "got %d, want a byte count (>= 0)", st.size)
	}
	lab, err := num(fLabel, false)
	if err != nil {
		return nil, err
	}
	st.Label = int(lab)
	if st.LabelName, err = str(fLabelName, false); err != nil {
		return nil, err
	}
	if v, err := raw.LookupErr(fCreated); err == nil {
		t, ok := v.TimeOK()
		if !ok {
			return nil, bad(fCreated, "got %s, want a date", v.Type)
		}
		st.when = t
	}
	if v, err := raw.LookupErr(fShape); err == nil {
		arr, ok := v.ArrayOK()
		if !ok {
			return nil, bad(fShape, "got %s, want an array of integers", v.Type)
		}
		vals, err := arr.Values()
		if err != nil {
			return nil, bad(fShape, "%v", err)
		}
		st.shape = make([]int, len(vals))
		for i, e := range vals {
			d, ok := e.AsInt64OK()
			if !ok || d < 0 {
				return nil, bad(fShape, "element %d is %s, want a non-negative integer", i, e.Type)
			}
			st.shape[i] = int(d)
		}
	} else if st.kind != kindBytes {
		return nil, bad(fShape, "missing for a %s tensor", st.kind)
	}
	if st.kind != kindBytes {
		// The shape and the size must agree before any payload is fetched or
		// decompressed: the size is what decompression may produce.
		n, err := elements(st.shape)
		if err != nil {
			return nil, bad(fShape, "%v", err)
		}
		if want := int64(n) * elemSize(DType(st.kind)); st.size != want {
			return nil, bad(fSize, "got %d, but shape %v of %s holds %d bytes", st.size, st.shape, st.kind, want)
		}
	}
	if v, err := raw.LookupErr(fTags); err == nil {
		arr, ok := v.ArrayOK()
		if !ok {
			return nil, bad(fTags, "got %s, want an array of strings", v.Type)
		}
		vals, err := arr.Values()
		if err != nil {
			return nil, bad(fTags, "%v", err)
		}
		st.Tags = make([]string, len(vals))
		for i, e := range vals {
			s, ok := e.StringValueOK()
			if !ok {
				return nil, bad(fTags, "element %d is %s, want string", i, e.Type)
			}
			st.Tags[i] = s
		}
	}
	if v, err := raw.LookupErr(fFields); err == nil {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, bad(fFields, "got %s, want a document", v.Type)
		}
		m := map[string]any{}
		if err := bson.Unmarshal(d, &m); err != nil {
			return nil, bad(fFields, "%v", err)
		}
		st.Fields = m
	}
	if v, err := raw.LookupErr(fTarget); err == nil {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, bad(fTarget, "got %s, want a document of kind, shape and data", v.Type)
		}
		t, err := decodeTarget(d)
		if err != nil {
			return nil, bad(fTarget, "%v", err)
		}
		st.Target = t
	}
	dv, derr := raw.LookupErr(fData)
	bv, berr := raw.LookupErr(fBlob)
	switch {
	case derr == nil:
		_, b, ok := dv.BinaryOK()
		if !ok {
			return nil, bad(fData, "got %s, want binary", dv.Type)
		}
		if st.enc == "" && int64(len(b)) != st.size {
			return nil, bad(fSize, "got %d, the payload in field %q has %d bytes", st.size, fData, len(b))
		}
		st.data = append([]byte(nil), b...) // the driver's buffer is not ours to keep
	case berr == nil:
		oid, ok := bv.ObjectIDOK()
		if !ok {
			return nil, bad(fBlob, "got %s, want an ObjectId", bv.Type)
		}
		st.blob, st.has = oid, true
	default:
		return nil, bad(fData, "missing, and no GridFS blob either")
	}
	return st, nil
}

// elemSize is the byte size of one element of dt.
func elemSize(dt DType) int64 {
	if dt == Uint8 {
		return 1
	}
	return 4
}

// maxZstdRatio is the most a zstd stream can expand: a block holds at most 128
// KiB and takes 4 bytes at the least (a 3-byte header and one byte repeated).
// A payload of n compressed bytes holds at most maxZstdRatio*n bytes.
const maxZstdRatio = (128 << 10) / 4

// newDecoder returns the zstd decoder of a collection: DecodeAll stops at the
// capacity of its destination, which decompress sets to the size the
// document declares, so that a payload that expands further fails rather than
// filling memory.
func newDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true))
}

// decompress returns the payload of st from its stored bytes: the bytes
// themselves, or what they decompress to, at most st.size bytes, allocated
// only when st.size is what data can expand to.
func (st *stored) decompress(coll string, dec *zstd.Decoder, data []byte) ([]byte, error) {
	if st.enc != encZstd {
		return data, nil
	}
	bad := func(err error) error {
		return &CorruptError{Collection: coll, Key: st.Key, ID: st.id, Field: fData, Err: fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)}
	}
	if st.size > int64(len(data))*maxZstdRatio {
		return nil, &CorruptError{Collection: coll, Key: st.Key, ID: st.id, Field: fSize,
			Err: fmt.Errorf("%w: %d bytes, more than %d compressed bytes can expand to", ErrCorrupt, st.size, len(data))}
	}
	raw, err := dec.DecodeAll(data, make([]byte, 0, st.size))
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			err = fmt.Errorf("the payload expands to more than the %d bytes of field %q: %w", st.size, fSize, err)
		}
		return nil, bad(err)
	}
	return raw, nil
}

// finish turns the (decompressed, fetched) payload into the sample's Bytes or Tensor.
func (st *stored) finish(coll string, raw []byte) (Sample, error) {
	s := st.Sample
	if int64(len(raw)) != st.size {
		return Sample{}, &CorruptError{Collection: coll, Key: st.Key, ID: st.id, Field: fSize,
			Err: fmt.Errorf("%w: payload has %d bytes, document says %d", ErrCorrupt, len(raw), st.size)}
	}
	if st.kind == kindBytes {
		s.Bytes = raw
		if s.Bytes == nil {
			s.Bytes = []byte{}
		}
		return s, nil
	}
	t, err := tensorFromBytes(DType(st.kind), st.shape, raw)
	if err != nil {
		return Sample{}, &CorruptError{Collection: coll, Key: st.Key, ID: st.id, Field: fData,
			Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
	}
	s.Tensor = t
	return s, nil
}

// decodeTarget decodes a target subdocument (see targetDoc), checking it as
// Insert does.
func decodeTarget(d bson.Raw) (*Tensor, error) {
	kv, err := d.LookupErr(fKind)
	if err != nil {
		return nil, fmt.Errorf("%s missing", fKind)
	}
	kind, ok := kv.StringValueOK()
	if !ok {
		return nil, fmt.Errorf("%s is %s, want string", fKind, kv.Type)
	}
	switch DType(kind) {
	case Uint8, Int32, Float32:
	default:
		return nil, fmt.Errorf("%s %q, want uint8, int32 or float32", fKind, kind)
	}
	sv, err := d.LookupErr(fShape)
	if err != nil {
		return nil, fmt.Errorf("%s missing", fShape)
	}
	arr, ok := sv.ArrayOK()
	if !ok {
		return nil, fmt.Errorf("%s is %s, want an array of integers", fShape, sv.Type)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fShape, err)
	}
	shape := make([]int, len(vals))
	for i, e := range vals {
		n, ok := e.AsInt64OK()
		if !ok || n < 0 || n > maxElements {
			return nil, fmt.Errorf("%s element %d is %s, want a non-negative integer", fShape, i, e.Type)
		}
		shape[i] = int(n)
	}
	dv, err := d.LookupErr(fData)
	if err != nil {
		return nil, fmt.Errorf("%s missing", fData)
	}
	_, b, ok := dv.BinaryOK()
	if !ok {
		return nil, fmt.Errorf("%s is %s, want binary", fData, dv.Type)
	}
	if len(b) > MaxTargetBytes {
		return nil, fmt.Errorf("%s has %d bytes, more than %d (MaxTargetBytes)", fData, len(b), MaxTargetBytes)
	}
	t, err := tensorFromBytes(DType(kind), shape, append([]byte(nil), b...))
	if err != nil {
		return nil, err
	}
	if err := t.checkTarget(); err != nil {
		return nil, err
	}
	return t, nil
}
