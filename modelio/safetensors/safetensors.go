package safetensors

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DType is a safetensors element type, spelled as in the header ("F32").
type DType string

// The element types of the format. Sub-byte types (F4, F6_*) are not supported.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	C64    DType = "C64"
)

// Size is the byte size of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E5M2, F8E4M3, F8E8M0:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64, C64:
		return 8
	}
	return 0
}

// rank is the position of d in the declaration order of the reference
// implementation's Dtype enum, which its writer sorts by (descending) before
// names: keeping it makes our files byte-identical to the reference writer's.
func (d DType) rank() int {
	return slices.Index([]DType{BOOL, U8, I8, F8E5M2, F8E4M3, F8E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, C64, I64, U64}, d)
}

// Tensor is one named tensor of a file: raw little-endian data.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Elements is the number of elements the shape describes.
func (t *Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// FromFloat32 makes an F32 tensor from values (copied).
func FromFloat32(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: b}
}

// FromInt32 makes an I32 tensor from values (copied).
func FromInt32(name string, shape []int, v []int32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return Tensor{Name: name, DType: I32, Shape: slices.Clone(shape), Data: b}
}

// Float32s decodes the data into dst (len == Elements()), converting F16, BF16
// and F64 to float32; other types are an error.
func (t *Tensor) Float32s(dst []float32) error {
	if len(dst) != t.Elements() {
		return fmt.Errorf("safetensors: %s: %d elements into a buffer of %d", t.Name, t.Elements(), len(dst))
	}
	b := t.Data
	switch t.DType {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case F16:
		for i := range dst {
			dst[i] = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		return fmt.Errorf("safetensors: %s is %s, which does not convert to float32 (F32, F16, BF16, F64 do)", t.Name, t.DType)
	}
	return nil
}

// Int32s decodes I32 data into dst (len == Elements()).
func (t *Tensor) Int32s(dst []int32) error {
	if t.DType != I32 {
		return fmt.Errorf("safetensors: %s is %s, want I32", t.Name, t.DType)
	}
	if len(dst) != t.Elements() {
		return fmt.Errorf("safetensors: %s: %d elements into a buffer of %d", t.Name, t.Elements(), len(dst))
	}
	for i := range dst {
		dst[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return nil
}

func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(man) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// File is a decoded safetensors file.
type File struct {
	Tensors  []Tensor          // in the order of their data in the file
	Metadata map[string]string // the optional __metadata__, nil if absent
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// MaxHeader is the largest header Decode accepts (as the reference
// implementation does), so a corrupt length cannot make it allocate without
// limit.
const MaxHeader = 100 << 20

// Error is a file that breaks the format.
type Error struct {
	File   string // the file, or "" for a byte slice
	Offset int64  // the byte offset the problem is at
	Msg    string
	Err    error
}

// Error names the file, the offset and the problem.
func (e *Error) Error() string {
	where := "safetensors: "
	if e.File != "" {
		where += e.File + ": "
	}
	s := fmt.Sprintf("%soffset %d: %s", where, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrFormat is wrapped by every format error, for errors.Is.
var ErrFormat = errors.New("not a valid safetensors file")

func formatErr(off int64, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

type rawInfo struct {
	DType       *DType   `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// Decode parses and validates a whole file held in b. Tensors' Data share b's
// memory. Every way a file can break the format (a short file, a bad length, bad
// JSON, an unknown type, offsets that overlap, leave holes or run past the end,
// a size that does not match the shape) is an *Error wrapping ErrFormat.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, &Error{Offset: int64(len(b)), Msg: fmt.Sprintf("want an 8-byte header length, the file has %d bytes", len(b)), Err: fmt.Errorf("%w: %w", ErrFormat, io.ErrUnexpectedEOF)}
	}
	n := binary.LittleEndian.Uint64(b)
	if n > MaxHeader {
		return nil, formatErr(0, "header length %d is over the limit of %d bytes", n, MaxHeader)
	}
	if n > uint64(len(b)-8) {
		return nil, &Error{Offset: 0, Msg: fmt.Sprintf("header length %d runs past the end of the file (%d bytes after the length)", n, len(b)-8), Err: fmt.Errorf("%w: %w", ErrFormat, io.ErrUnexpectedEOF)}
	}
	hdr := b[8 : 8+n]
	data := b[8+n:]
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, formatErr(8, "the header does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return nil, formatErr(8, "the header is not UTF-8")
	}
	f := &File{}
	type entry struct {
		name string
		info rawInfo
		off  int64
	}
	var entries []entry
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, _ := dec.Token() // '{', checked above
	_ = tok
	seen := map[string]bool{}
	for dec.More() {
		off := 8 + dec.InputOffset()
		kt, err := dec.Token()
		if err != nil {
			return nil, &Error{Offset: off, Msg: "bad header JSON", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
		}
		key, ok := kt.(string)
		if !ok {
			return nil, formatErr(off, "bad header JSON: a key is %v", kt)
		}
		if seen[key] {
			return nil, formatErr(off, "the header names %q twice", key)
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := dec.Decode(&f.Metadata); err != nil {
				return nil, &Error{Offset: off, Msg: "__metadata__ must map strings to strings", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
			}
			if f.Metadata == nil {
				f.Metadata = map[string]string{}
			}
			continue
		}
		var info rawInfo
		if err := dec.Decode(&info); err != nil {
			return nil, &Error{Offset: off, Msg: fmt.Sprintf("tensor %q: want {\"dtype\", \"shape\", \"data_offsets\"}", key), Err: fmt.Errorf("%w: %v", ErrFormat, err)}
		}
		if info.DType == nil || info.Shape == nil || info.DataOffsets == nil {
			return nil, formatErr(off, "tensor %q: dtype, shape and data_offsets are all required", key)
		}
		entries = append(entries, entry{key, info, off})
	}
	if _, err := dec.Token(); err != nil {
		return nil, &Error{Offset: 8 + dec.InputOffset(), Msg: "bad header JSON", Err: fmt.Errorf("%w: %v", ErrFormat, err)}
	}
	if rest := bytes.TrimRight(hdr[dec.InputOffset():], " "); len(rest) != 0 {
		return nil, formatErr(8+dec.InputOffset(), "the header has %d bytes after its JSON object that are not padding spaces", len(rest))
	}
	for _, e := range entries {
		dt := *e.info.DType
		if dt.Size() == 0 {
			return nil, formatErr(e.off, "tensor %q: unknown or unsupported dtype %q", e.name, dt)
		}
		elems := int64(1)
		shape := make([]int, len(*e.info.Shape))
		for i, d := range *e.info.Shape {
			if d < 0 || (d != 0 && elems > math.MaxInt32*int64(1<<20)/d) {
				return nil, formatErr(e.off, "tensor %q: shape %v is negative or too large", e.name, *e.info.Shape)
			}
			elems *= d
			shape[i] = int(d)
		}
		offs := *e.info.DataOffsets
		if len(offs) != 2 || offs[0] < 0 || offs[1] < offs[0] {
			return nil, formatErr(e.off, "tensor %q: data_offsets %v, want [begin, end] with 0 <= begin <= end", e.name, offs)
		}
		if offs[1] > int64(len(data)) {
			return nil, &Error{Offset: e.off, Msg: fmt.Sprintf("tensor %q: data_offsets %v run past the end of the data (%d bytes)", e.name, offs, len(data)), Err: fmt.Errorf("%w: %w", ErrFormat, io.ErrUnexpectedEOF)}
		}
		if want := elems * int64(dt.Size()); offs[1]-offs[0] != want {
			return nil, formatErr(e.off, "tensor %q: %s%v needs %d bytes, data_offsets %v hold %d", e.name, dt, shape, want, offs, offs[1]-offs[0])
		}
		f.Tensors = append(f.Tensors, Tensor{Name: e.name, DType: dt, Shape: shape, Data: data[offs[0]:offs[1]:offs[1]]})
	}
	// The data must be covered exactly: sorted by offset, each tensor starts where
	// the previous one ends, and the last ends at the end of the file.
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		oa, ob := *entries[a].info.DataOffsets, *entries[b].info.DataOffsets
		if oa[0] != ob[0] {
			return int(oa[0] - ob[0])
		}
		return int(oa[1] - ob[1])
	})
	var end int64
	sorted := make([]Tensor, 0, len(order))
	for _, i := range order {
		offs := *entries[i].info.DataOffsets
		if offs[0] != end {
			return nil, formatErr(entries[i].off, "tensor %q starts at data offset %d, want %d (tensors must not overlap or leave holes)", entries[i].name, offs[0], end)
		}
		end = offs[1]
		sorted = append(sorted, f.Tensors[i])
	}
	if end != int64(len(data)) {
		return nil, formatErr(8+int64(n)+end, "the tensors cover %d bytes of data, the file holds %d", end, len(data))
	}
	f.Tensors = sorted
	return f, nil
}

// Encode writes tensors and metadata in the layout of the reference writer
// (safetensors' Rust crate, used by PyTorch and Hugging Face): tensors sorted by
// descending dtype then by name, a compact JSON header with __metadata__ first
// (its keys sorted), padded with spaces to a multiple of 8 bytes.
func Encode(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	ts := slices.Clone(tensors)
	seen := map[string]bool{}
	for _, t := range ts {
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return fmt.Errorf("safetensors: Encode: tensor name %q is empty, reserved or repeated", t.Name)
		}
		seen[t.Name] = true
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: Encode: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: Encode: tensor %q: negative dimension in %v", t.Name, t.Shape)
			}
		}
		if want := t.Elements() * t.DType.Size(); len(t.Data) != want {
			return fmt.Errorf("safetensors: Encode: tensor %q: %s%v needs %d bytes, has %d", t.Name, t.DType, t.Shape, want, len(t.Data))
		}
	}
	slices.SortStableFunc(ts, func(a, b Tensor) int {
		if ra, rb := a.DType.rank(), b.DType.rank(); ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})
	var h bytes.Buffer
	h.WriteByte('{')
	if len(metadata) > 0 {
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
	}
	var off int
	for i, t := range ts {
		if i > 0 || len(metadata) > 0 {
			h.WriteByte(',')
		}
		writeJSONString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeJSONString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(off))
		h.WriteByte(',')
		off += len(t.Data)
		h.WriteString(strconv.Itoa(off))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(h.Len()))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("safetensors: Encode: %w", err)
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return fmt.Errorf("safetensors: Encode: %w", err)
	}
	for _, t := range ts {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: Encode: %w", err)
		}
	}
	return nil
}

// writeJSONString escapes as serde_json does: quotes, backslashes and control
// characters only (no HTML escaping, non-ASCII kept as UTF-8).
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// ReadFile reads and decodes a safetensors file.
func ReadFile(ctx context.Context, path string) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Decode(b)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = path
		}
		return nil, err
	}
	return f, nil
}

// WriteFile writes tensors to path atomically: to a temporary file in the same
// folder, synced, then renamed over path, so a crash or a full disk never
// leaves a half-written file where a good one was.
func WriteFile(ctx context.Context, path string, tensors []Tensor, metadata map[string]string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	bw := bufioWriter(tmp)
	if err := Encode(bw, tensors, metadata); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	// CreateTemp makes the file private; a weights file is an ordinary file.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
