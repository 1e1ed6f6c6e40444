// Package idx reads and writes IDX files, the format of MNIST and
// Fashion-MNIST: a big-endian header (two zero bytes, a type code, the number
// of dimensions, each dimension as uint32) followed by the values, row-major.
// Gzip-compressed files (.gz) are read transparently.
package idx

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// Type is an IDX element type code.
type Type byte

// The IDX element types.
const (
	Uint8   Type = 0x08
	Int8    Type = 0x09
	Int16   Type = 0x0B
	Int32   Type = 0x0C
	Float32 Type = 0x0D
	Float64 Type = 0x0E
)

// Size is the byte size of one element, or 0 for an unknown type.
func (t Type) Size() int {
	switch t {
	case Uint8, Int8:
		return 1
	case Int16:
		return 2
	case Int32, Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

func (t Type) String() string {
	switch t {
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Int16:
		return "int16"
	case Int32:
		return "int32"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("type 0x%02x", byte(t))
}

// File is a decoded IDX file. Data holds the values big-endian, as stored.
type File struct {
	Type Type
	Dims []int
	Data []byte
}

// Len is the number of elements the dimensions describe.
func (f *File) Len() int {
	n := 1
	for _, d := range f.Dims {
		n *= d
	}
	return n
}

// Items is the first dimension: the number of images or labels.
func (f *File) Items() int {
	if len(f.Dims) == 0 {
		return 0
	}
	return f.Dims[0]
}

// ItemShape is the shape of one item (the dimensions after the first).
func (f *File) ItemShape() []int { return append([]int{}, f.Dims[1:]...) }

// Item returns the raw bytes of item i (no copy).
func (f *File) Item(i int) []byte {
	sz := f.Type.Size()
	for _, d := range f.Dims[1:] {
		sz *= d
	}
	return f.Data[i*sz : (i+1)*sz]
}

// Float32s decodes every value as float32, whatever the stored type.
func (f *File) Float32s() []float32 {
	n := f.Len()
	out := make([]float32, n)
	for i := range out {
		switch f.Type {
		case Uint8:
			out[i] = float32(f.Data[i])
		case Int8:
			out[i] = float32(int8(f.Data[i]))
		case Int16:
			out[i] = float32(int16(binary.BigEndian.Uint16(f.Data[2*i:])))
		case Int32:
			out[i] = float32(int32(binary.BigEndian.Uint32(f.Data[4*i:])))
		case Float32:
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(f.Data[4*i:]))
		case Float64:
			out[i] = float32(math.Float64frombits(binary.BigEndian.Uint64(f.Data[8*i:])))
		}
	}
	return out
}

// maxElements bounds what a header may claim, so a corrupt header cannot
// make Read allocate without limit.
const maxElements = 1 << 32

// Read decodes an IDX file from r, un-gzipping it if it starts with the
// gzip magic. name is used in errors.
func Read(r io.Reader, name string) (*File, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: %s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("idx: %s: header: %w", name, err)
	}
	t := Type(hdr[2])
	if hdr[0] != 0 || hdr[1] != 0 || t.Size() == 0 || hdr[3] == 0 {
		return nil, fmt.Errorf("idx: %s: magic % x: expected 00 00, a type code (08, 09, 0b, 0c, 0d, 0e) and a dimension count > 0", name, hdr)
	}
	f := &File{Type: t, Dims: make([]int, hdr[3])}
	n := 1
	for i := range f.Dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("idx: %s: dimension %d: %w", name, i, err)
		}
		f.Dims[i] = int(d)
		if d != 0 && n > maxElements/int(d) {
			return nil, fmt.Errorf("idx: %s: dimensions %v exceed %d elements", name, f.Dims[:i+1], maxElements)
		}
		n *= int(d)
	}
	want := n * t.Size()
	f.Data = make([]byte, want)
	got, err := io.ReadFull(br, f.Data)
	if err != nil {
		return nil, fmt.Errorf("idx: %s: dimensions %v of %s need %d bytes of data, read %d: %w", name, f.Dims, t, want, got, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("idx: %s: data longer than dimensions %v of %s (%d bytes)", name, f.Dims, t, want)
	}
	return f, nil
}

// ReadFile reads an IDX file (gzip or not) from path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer fh.Close()
	return Read(fh, path)
}

// Write encodes f to w, uncompressed.
func Write(w io.Writer, f *File) error {
	if f.Type.Size() == 0 || len(f.Dims) == 0 || len(f.Dims) > 255 {
		return fmt.Errorf("idx: write: %s with %d dimensions: expected a known type and 1-255 dimensions", f.Type, len(f.Dims))
	}
	if len(f.Data) != f.Len()*f.Type.Size() {
		return fmt.Errorf("idx: write: dimensions %v of %s need %d bytes, data has %d", f.Dims, f.Type, f.Len()*f.Type.Size(), len(f.Data))
	}
	var b bytes.Buffer
	b.Write([]byte{0, 0, byte(f.Type), byte(len(f.Dims))})
	for _, d := range f.Dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("idx: write: %w", err)
	}
	if _, err := w.Write(f.Data); err != nil {
		return fmt.Errorf("idx: write: %w", err)
	}
	return nil
}

// WriteFile writes f to path, gzip-compressed when path ends in ".gz".
func WriteFile(path string, f *File) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("idx: %w", err)
	}
	var w io.Writer = fh
	var zw *gzip.Writer
	if len(path) > 3 && path[len(path)-3:] == ".gz" {
		zw = gzip.NewWriter(fh)
		w = zw
	}
	err = Write(w, f)
	if zw != nil {
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("idx: %s: %w", path, err)
	}
	return nil
}
