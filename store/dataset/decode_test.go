package dataset

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func rawDoc(t *testing.T, extra ...bson.E) bson.Raw {
	d := bson.D{{Key: fKey, Value: "k"}, {Key: fProject, Value: "p"}, {Key: fSeq, Value: int64(1)}}
	b, err := bson.Marshal(append(d, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// targetRaw is a valid bytes sample document with target as its target field.
func targetRaw(t *testing.T, target any) bson.Raw {
	return rawDoc(t, bson.E{Key: fKind, Value: "bytes"}, bson.E{Key: fSize, Value: int64(1)},
		bson.E{Key: fData, Value: bson.Binary{Data: []byte{1}}}, bson.E{Key: fTarget, Value: target})
}

// Documents that claim more than they hold are corrupt, said before anything
// is allocated for the claim: each names the field at fault.
func TestDecodeDocRejectsClaims(t *testing.T) {
	c := fuzzCollection(t, false)
	zeros := c.enc.EncodeAll(make([]byte, 1<<20), nil)
	for _, tc := range []struct {
		name, field, want string
		doc               bson.Raw
	}{
		// 2^32 × 2^32 is 2^64 elements, which an int product makes 0: the
		// empty payload matched it and the sample decoded.
		{"shape overflow", fShape, "more than", rawDoc(t, bson.E{Key: fKind, Value: "uint8"}, bson.E{Key: fShape, Value: []int64{1 << 32, 1 << 32}},
			bson.E{Key: fSize, Value: int64(0)}, bson.E{Key: fData, Value: bson.Binary{Data: []byte{}}})},
		// A negative size made make() panic before decompressing.
		{"negative size", fSize, "want a byte count", rawDoc(t, bson.E{Key: fKind, Value: "bytes"}, bson.E{Key: fEnc, Value: encZstd},
			bson.E{Key: fSize, Value: int64(-1)}, bson.E{Key: fData, Value: bson.Binary{Data: zeros}})},
		{"shape and size disagree", fSize, "shape [2 2] of int32 holds 16 bytes", rawDoc(t, bson.E{Key: fKind, Value: "int32"}, bson.E{Key: fShape, Value: []int64{2, 2}},
			bson.E{Key: fSize, Value: int64(12)}, bson.E{Key: fData, Value: bson.Binary{Data: make([]byte, 12)}})},
		{"inline size", fSize, "has 3 bytes", rawDoc(t, bson.E{Key: fKind, Value: "bytes"},
			bson.E{Key: fSize, Value: int64(4)}, bson.E{Key: fData, Value: bson.Binary{Data: []byte{1, 2, 3}}})},
		// Targets: every field checked as Insert checks it.
		{"target not a document", fTarget, "want a document", targetRaw(t, "oops")},
		{"target kind", fTarget, `kind "float64"`, targetRaw(t, bson.D{{Key: fKind, Value: "float64"}, {Key: fShape, Value: []int64{1}}, {Key: fData, Value: bson.Binary{Data: make([]byte, 8)}}})},
		{"target shape missing", fTarget, "shape missing", targetRaw(t, bson.D{{Key: fKind, Value: "float32"}, {Key: fData, Value: bson.Binary{Data: make([]byte, 4)}}})},
		{"target negative dim", fTarget, "non-negative", targetRaw(t, bson.D{{Key: fKind, Value: "float32"}, {Key: fShape, Value: []int64{-1}}, {Key: fData, Value: bson.Binary{Data: nil}}})},
		{"target short data", fTarget, "needs 8 bytes of float32, payload has 4", targetRaw(t, bson.D{{Key: fKind, Value: "float32"}, {Key: fShape, Value: []int64{2}}, {Key: fData, Value: bson.Binary{Data: make([]byte, 4)}}})},
		{"target NaN", fTarget, "expected a finite value", targetRaw(t, bson.D{{Key: fKind, Value: "float32"}, {Key: fShape, Value: []int64{1}}, {Key: fData, Value: bson.Binary{Data: []byte{0, 0, 0xc0, 0x7f}}}})},
		{"target too big", fTarget, "MaxTargetBytes", targetRaw(t, bson.D{{Key: fKind, Value: "uint8"}, {Key: fShape, Value: []int64{MaxTargetBytes + 1}}, {Key: fData, Value: bson.Binary{Data: make([]byte, MaxTargetBytes+1)}}})},
	} {
		_, err := decodeDoc("c", tc.doc)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want a CorruptError on field %q saying %q", tc.name, err, tc.field, tc.want)
		}
	}
}

// A compressed payload decompresses to at most the size its document
// declares: 2^40 bytes claimed by 4 compressed bytes fails at once, and 1 MiB
// of zeros declared as 100 bytes stops at 100, allocating neither.
func TestDecompressBoundedBySize(t *testing.T) {
	c := fuzzCollection(t, false)
	zeros := c.enc.EncodeAll(make([]byte, 1<<20), nil)
	for _, tc := range []struct {
		name, want string
		size       int64
		data       []byte
	}{
		{"claims 2^40", "more than 4 compressed bytes can expand to", 1 << 40, []byte{0x28, 0xb5, 0x2f, 0xfd}},
		{"expands past", "expands to more than the 100 bytes", 100, zeros},
	} {
		st, err := decodeDoc("c", rawDoc(t, bson.E{Key: fKind, Value: "bytes"}, bson.E{Key: fEnc, Value: encZstd},
			bson.E{Key: fSize, Value: tc.size}, bson.E{Key: fData, Value: bson.Binary{Data: tc.data}}))
		if err != nil {
			t.Fatal(err)
		}
		n := allocated(func() { _, err = st.decompress("c", c.dec, st.data) })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrCorrupt saying %q", tc.name, err, tc.want)
		}
		if n > 10<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
	}
}

// A cache record whose zstd frame claims 2^40 bytes is corrupt, found before
// allocating.
func TestDecodeRecordBomb(t *testing.T) {
	c := fuzzCollection(t, true)
	// Frame header: magic, descriptor with an 8-byte content size, window
	// byte, then the size; no blocks.
	rec := []byte{recZstd, 0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}
	var err error
	n := allocated(func() { _, err = c.decodeRecord(rec) })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "claims 1099511627776") {
		t.Fatalf("decodeRecord = %v; want ErrCorrupt for the claim", err)
	}
	if n > 10<<20 {
		t.Fatalf("allocated %d bytes", n)
	}
}

// A blob whose recorded length is 2^40 bytes but holds 3 fails with
// io.ErrUnexpectedEOF, after allocating for the 3.
func TestReadAtMostTrustsBytesNotLength(t *testing.T) {
	var out []byte
	var err error
	n := allocated(func() { out, err = readAtMost(bytes.NewReader([]byte{1, 2, 3}), 1<<40) })
	if !errors.Is(err, io.ErrUnexpectedEOF) || out != nil {
		t.Fatalf("readAtMost = %v, %v; want io.ErrUnexpectedEOF", out, err)
	}
	if n > 10<<20 {
		t.Fatalf("allocated %d bytes", n)
	}
	if out, err := readAtMost(bytes.NewReader([]byte{1, 2, 3, 4}), 3); err != nil || !bytes.Equal(out, []byte{1, 2, 3}) {
		t.Fatalf("readAtMost(4 bytes, 3) = %v, %v", out, err)
	}
}
