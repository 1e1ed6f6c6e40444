package dataset

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fuzzCollection is what decoding needs of a collection, without a server.
func fuzzCollection(t testing.TB, compress bool) *Collection {
	dec, err := newDecoder()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	return &Collection{name: "fuzz", dec: dec, enc: enc, opts: Options{Compress: compress, CompressMin: 1}}
}

// docBytes is a stored sample document, payload compressed or not, as
// Insert writes it.
func docBytes(t testing.TB, s Sample, zip bool) []byte {
	kind, shape, raw := s.payload()
	data, enc := raw, ""
	if zip {
		data, enc = fuzzCollection(t, true).enc.EncodeAll(raw, nil), encZstd
	}
	d := bson.D{
		{Key: fID, Value: docID("p", s.Key)}, {Key: fProject, Value: "p"}, {Key: fKey, Value: s.Key},
		{Key: fSeq, Value: int64(7)}, {Key: fKeyHash, Value: KeyHash(s.Key)}, {Key: fKind, Value: kind},
	}
	if shape != nil {
		sh := make([]int64, len(shape))
		for i, v := range shape {
			sh[i] = int64(v)
		}
		d = append(d, bson.E{Key: fShape, Value: sh})
	}
	if enc != "" {
		d = append(d, bson.E{Key: fEnc, Value: enc})
	}
	d = append(d, bson.E{Key: fSize, Value: int64(len(raw))},
		bson.E{Key: fData, Value: bson.Binary{Data: data}},
		bson.E{Key: fLabel, Value: int64(s.Label)}, bson.E{Key: fLabelName, Value: s.LabelName},
		bson.E{Key: fTags, Value: s.Tags})
	if len(s.Fields) > 0 {
		d = append(d, bson.E{Key: fFields, Value: s.Fields})
	}
	if s.Target != nil {
		d = append(d, bson.E{Key: fTarget, Value: targetDoc(s.Target)})
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuzzSamples() []Sample {
	return []Sample{
		{Key: "img-1", Tensor: Uint8Tensor([]int{2, 3}, []uint8{1, 2, 3, 4, 5, 6}), Label: 3, Tags: []string{"train"}},
		{Key: "vec", Tensor: Float32Tensor([]int{4}, []float32{1, -2, 0.5, 1e30}), LabelName: "x", Fields: map[string]any{"w": 1.5, "src": "a"}},
		{Key: "ids", Tensor: Int32Tensor([]int{2, 2}, []int32{1, 2, 3, -4}), Tags: []string{}},
		{Key: "empty", Tensor: Uint8Tensor([]int{0, 5}, nil)},
		{Key: "text", Bytes: []byte("hello, world"), Label: 1},
		{Key: "nothing", Bytes: []byte{}},
		{Key: "reg", Tensor: Float32Tensor([]int{3}, []float32{1, 2, 3}), Target: Float32Tensor([]int{2}, []float32{0.5, -7})},
		{Key: "mask", Bytes: []byte("png"), Target: Uint8Tensor([]int{2, 2}, []uint8{0, 1, 1, 0})},
	}
}

// A stored document, whatever its bytes (the server's reply, or a record of
// the local cache), decodes to a consistent sample or to a *CorruptError; a
// payload never decompresses past the size the document declares; what
// decodes survives a round trip through a cache record, plain or compressed.
func FuzzDecodeDoc(f *testing.F) {
	for _, s := range fuzzSamples() {
		f.Add(docBytes(f, s, false))
		f.Add(docBytes(f, s, true))
	}
	// A shape whose size overflows to 0, and a zstd payload that claims 2^40 bytes.
	f.Add(docBytes(f, Sample{Key: "k", Tensor: &Tensor{DType: Uint8, Shape: []int{1 << 32, 1 << 32}}}, false))
	bomb, _ := bson.Marshal(bson.D{{Key: fKey, Value: "k"}, {Key: fProject, Value: "p"}, {Key: fSeq, Value: int64(1)},
		{Key: fKind, Value: "bytes"}, {Key: fEnc, Value: encZstd}, {Key: fSize, Value: int64(1) << 40},
		{Key: fData, Value: bson.Binary{Data: []byte{0x28, 0xb5, 0x2f, 0xfd}}}})
	f.Add(bomb)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := fuzzCollection(t, false)
		st, err := decodeDoc("fuzz", bson.Raw(b))
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Field == "" {
				t.Fatalf("error %v is not a CorruptError naming a field", err)
			}
			return
		}
		if st.has {
			return // the payload is in GridFS: nothing more without a server
		}
		data, err := st.decompress("fuzz", c.dec, st.data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decompress: %v is not ErrCorrupt", err)
			}
			return
		}
		if int64(len(data)) > st.size {
			t.Fatalf("decompressed %d bytes, the document declares %d", len(data), st.size)
		}
		s, err := st.finish("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("finish: %v is not ErrCorrupt", err)
			}
			return
		}
		if (s.Tensor == nil) == (s.Bytes == nil) {
			t.Fatalf("sample %q: want exactly one of Bytes and Tensor", s.Key)
		}
		if s.Target != nil {
			if err := s.Target.checkTarget(); err != nil {
				t.Fatalf("a decoded target is not one Insert takes: %v", err)
			}
		}
		if s.Tensor != nil {
			if err := s.Tensor.check(); err != nil {
				t.Fatalf("a decoded tensor is inconsistent: %v", err)
			}
			if n, _ := elements(s.Tensor.Shape); int64(n)*elemSize(s.Tensor.DType) != st.size {
				t.Fatalf("shape %v of %s for %d bytes", s.Tensor.Shape, s.Tensor.DType, st.size)
			}
		}
		for _, zip := range []bool{false, true} {
			c := fuzzCollection(t, zip)
			rec, err := c.encodeRecord(&s)
			if err != nil {
				return // fields that do not encode again (checked by Insert's validate)
			}
			again, err := c.decodeRecord(rec)
			if err != nil {
				t.Fatalf("decoding a cache record (compressed %v): %v", zip, err)
			}
			if again.Key != s.Key || again.Label != s.Label || again.LabelName != s.LabelName || again.Seq != s.Seq ||
				!bytes.Equal(again.Bytes, s.Bytes) || !reflect.DeepEqual(again.Tensor, s.Tensor) && !sameTensor(again.Tensor, s.Tensor) ||
				!reflect.DeepEqual(again.Target, s.Target) && !sameTensor(again.Target, s.Target) ||
				len(again.Tags) != len(s.Tags) || len(again.Fields) != len(s.Fields) {
				t.Fatalf("cache round trip (compressed %v) changed the sample:\n%+v\n%+v", zip, s, again)
			}
		}
	})
}

// sameTensor compares tensors bit for bit (NaN payloads included).
func sameTensor(a, b *Tensor) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.DType == b.DType && reflect.DeepEqual(a.Shape, b.Shape) && bytes.Equal(a.bytes(), b.bytes())
}
