package safetensors

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layout builds a file byte by byte from the specification: an 8-byte
// little-endian header length, the JSON header, the data.
func layout(header string, data ...byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// The reference writer's layout, written by hand from the specification: tensors
// sorted by descending dtype (F32 before I32) then by name, a compact header
// with __metadata__ first, padded with spaces to a multiple of 8.
func TestEncodeMatchesReferenceLayout(t *testing.T) {
	hdr := `{"__metadata__":{"format":"pt"},` +
		`"bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},` +
		`"step":{"dtype":"I32","shape":[],"data_offsets":[24,28]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	data := append(f32le(0.5, -1), f32le(1, 2, 3, 4)...)
	data = append(data, 7, 0, 0, 0)
	want := layout(hdr, data...)

	var buf bytes.Buffer
	err := Encode(&buf, []Tensor{
		FromInt32("step", nil, []int32{7}),
		FromFloat32("weight", []int{2, 2}, []float32{1, 2, 3, 4}),
		FromFloat32("bias", []int{2}, []float32{0.5, -1}),
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("Encode wrote\n%q\nwant\n%q", buf.Bytes(), want)
	}

	f, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Tensors) != 3 {
		t.Fatalf("metadata %v, %d tensors", f.Metadata, len(f.Tensors))
	}
	w, _ := f.Tensor("weight")
	got := make([]float32, 4)
	if err := w.Float32s(got); err != nil || !slices.Equal(got, []float32{1, 2, 3, 4}) || !slices.Equal(w.Shape, []int{2, 2}) {
		t.Fatalf("weight %v %v %v", got, w.Shape, err)
	}
	s, _ := f.Tensor("step")
	iv := make([]int32, 1)
	if err := s.Int32s(iv); err != nil || iv[0] != 7 || len(s.Shape) != 0 {
		t.Fatalf("step %v %v", iv, err)
	}
}

// Known answers of the reference writer: an empty file, and one with only
// metadata.
func TestEncodeEmpty(t *testing.T) {
	var buf bytes.Buffer
	Encode(&buf, nil, nil)
	if want := layout("{}      "); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("empty: %q, want %q", buf.Bytes(), want)
	}
	buf.Reset()
	Encode(&buf, nil, map[string]string{"framework": "pt"})
	if want := layout(`{"__metadata__":{"framework":"pt"}}     `); !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("metadata only: %q, want %q", buf.Bytes(), want)
	}
}

// Files from other writers: unpadded headers, tensors listed out of offset order,
// half-precision types, escapes in names.
func TestDecodeForeignFiles(t *testing.T) {
	hdr := `{"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a\"\u00e9":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`
	// F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 1.5 = 0x3fc0, -0.25 = 0xbe80.
	b := layout(hdr, 0x00, 0x3c, 0x00, 0xc0, 0xc0, 0x3f, 0x80, 0xbe)
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors[0].Name != "a\"é" || f.Tensors[1].Name != "b" {
		t.Fatalf("tensors not in data order: %q %q", f.Tensors[0].Name, f.Tensors[1].Name)
	}
	got := make([]float32, 2)
	f.Tensors[0].Float32s(got)
	if !slices.Equal(got, []float32{1, -2}) {
		t.Fatalf("F16 %v", got)
	}
	f.Tensors[1].Float32s(got)
	if !slices.Equal(got, []float32{1.5, -0.25}) {
		t.Fatalf("BF16 %v", got)
	}
	if halfToFloat(0x0001) != float32(math.Ldexp(1, -24)) || !math.IsInf(float64(halfToFloat(0x7c00)), 1) {
		t.Fatal("F16 subnormal or infinity")
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		want string
		eof  bool
	}{
		{"short", []byte{1, 2, 3}, "8-byte header length", true},
		{"length past end", layout(ok, eight...)[:20], "runs past the end", true},
		{"huge length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "over the limit", false},
		{"not an object", layout(`[1,2]`), "does not start with '{'", false},
		{"bad json", layout(`{"a":{`), `tensor "a": want {"dtype"`, false},
		{"bad key", layout(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},7:1}`), "bad header JSON", false},
		{"missing field", layout(`{"a":{"dtype":"F32","shape":[2]}}`, eight...), "all required", false},
		{"unknown dtype", layout(`{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}`, eight...), "unknown or unsupported dtype", false},
		{"negative shape", layout(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight...), "negative", false},
		{"size mismatch", layout(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight...), "needs 12 bytes", false},
		{"data truncated", layout(ok, eight[:5]...), "run past the end", true},
		{"trailing data", layout(ok, make([]byte, 9)...), "cover 8 bytes of data, the file holds 9", false},
		{"hole", layout(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), "starts at data offset 4, want 0", false},
		{"overlap", layout(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), "must not overlap", false},
		{"duplicate", layout(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight...), "twice", false},
		{"metadata not strings", layout(`{"__metadata__":{"k":1}}`), "map strings to strings", false},
		{"garbage after json", layout(`{}  x`), "not padding", false},
		{"overflowing shape", layout(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight...), "too large", false},
	}
	for _, c := range cases {
		_, err := Decode(c.file)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want an *Error wrapping ErrFormat", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want it to say %q", c.name, err, c.want)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) != c.eof {
			t.Errorf("%s: errors.Is(err, io.ErrUnexpectedEOF) = %v, want %v", c.name, !c.eof, c.eof)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	bad := [][]Tensor{
		{{Name: "", DType: F32}},
		{FromFloat32("a", []int{1}, []float32{1}), FromFloat32("a", []int{1}, []float32{1})},
		{{Name: "a", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}},
		{{Name: "a", DType: "X", Shape: []int{1}, Data: make([]byte, 4)}},
		{{Name: "__metadata__", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}},
	}
	for i, ts := range bad {
		if err := Encode(io.Discard, ts, nil); err == nil {
			t.Errorf("case %d: want an error", i)
		}
	}
}

func TestWriteFileReadFileAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	ctx := context.Background()
	if err := WriteFile(ctx, path, []Tensor{FromFloat32("x", []int{3}, []float32{1, 2, 3})}, nil); err != nil {
		t.Fatal(err)
	}
	// A failing write leaves the previous file whole, and no temporary behind.
	if err := WriteFile(ctx, path, []Tensor{{Name: "x", DType: F32, Shape: []int{3}, Data: nil}}, nil); err == nil {
		t.Fatal("want an error for data of the wrong size")
	}
	f, err := ReadFile(ctx, path)
	if err != nil || len(f.Tensors) != 1 || f.Tensors[0].Elements() != 3 {
		t.Fatalf("after a failed write: %v %v", f, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the folder holds %d entries, want only the file", len(entries))
	}
	raw, _ := os.ReadFile(path)
	os.WriteFile(path, raw[:len(raw)-3], 0o644)
	_, err = ReadFile(ctx, path)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), path) {
		t.Fatalf("truncated file: %v", err)
	}
}

// Decoding a 16 MB file of four tensors (validation and float32 conversion).
func BenchmarkDecode(b *testing.B) {
	var ts []Tensor
	for i := range 4 {
		ts = append(ts, FromFloat32(string(rune('a'+i)), []int{1024, 1024}, make([]float32, 1<<20)))
	}
	var buf bytes.Buffer
	Encode(&buf, ts, nil)
	dst := make([]float32, 1<<20)
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Decode(buf.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		for i := range f.Tensors {
			f.Tensors[i].Float32s(dst)
		}
	}
}
