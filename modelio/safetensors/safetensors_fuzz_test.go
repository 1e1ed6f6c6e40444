package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// Decode never panics. A file it accepts is consistent (each tensor's data is
// its shape's size, the tensors tile the data in order) and survives a round
// trip through Encode; a file it rejects gets an *Error wrapping ErrFormat.
func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	Encode(&buf, []Tensor{FromFloat32("w", []int{2, 2}, []float32{1, 2, 3, 4}), FromInt32("i", []int{1}, []int32{5})}, map[string]string{"k": "v"})
	f.Add(buf.Bytes())
	f.Add(layout(`{"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, 0, 1, 2, 3, 4, 5, 6, 7))
	f.Add(layout(`{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[0, 33554432, 33554432],"data_offsets":[8,8]}}`, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f))
	f.Add(layout(`{"x":{"dtype":"F32","shape":[4294967296, 4294967296],"data_offsets":[0,0]}}`))
	f.Add(layout(`{"__metadata__":null}`))
	f.Add(layout("{}"))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add(binary.LittleEndian.AppendUint64(nil, MaxHeader)) // a header length with no header
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrFormat) || e.Offset < 0 || e.Offset > int64(len(b)) {
				t.Fatalf("error %v: want an *Error wrapping ErrFormat at an offset inside the file", err)
			}
			return
		}
		var end int
		for _, x := range file.Tensors {
			if len(x.Data) != x.Elements()*x.DType.Size() {
				t.Fatalf("tensor %q: %d bytes for %s%v", x.Name, len(x.Data), x.DType, x.Shape)
			}
			end += len(x.Data)
		}
		if hdr := binary.LittleEndian.Uint64(b); end != len(b)-8-int(hdr) {
			t.Fatalf("tensors cover %d bytes of %d", end, len(b)-8-int(hdr))
		}
		var out bytes.Buffer
		if err := Encode(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
		again, err := Decode(out.Bytes())
		if err != nil {
			t.Fatalf("decoding a re-encoded file: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) || len(again.Metadata) != len(file.Metadata) {
			t.Fatalf("%d tensors, then %d", len(file.Tensors), len(again.Tensors))
		}
		for k, v := range file.Metadata {
			if again.Metadata[k] != v {
				t.Fatalf("metadata %q changed in a round trip", k)
			}
		}
		for _, x := range file.Tensors {
			y, ok := again.Tensor(x.Name)
			if !ok || y.DType != x.DType || !slices.Equal(y.Shape, x.Shape) || !bytes.Equal(y.Data, x.Data) {
				t.Fatalf("tensor %q changed in a round trip", x.Name)
			}
			// Elements() is at most the data's size, so this allocates no
			// more than the input.
			dst := make([]float32, x.Elements())
			switch err := x.Float32s(dst); x.DType {
			case F32, F16, BF16, F64:
				if err != nil {
					t.Fatalf("tensor %q: Float32s: %v", x.Name, err)
				}
			default:
				if err == nil {
					t.Fatalf("tensor %q of %s converted to float32", x.Name, x.DType)
				}
			}
		}
	})
}
