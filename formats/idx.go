package formats

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// IDXType is the element type code of an IDX file.
type IDXType byte

// The IDX element types.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size is the byte size of one element, or 0 for an unknown code.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// String names the type ("uint8").
func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "uint8"
	case IDXInt8:
		return "int8"
	case IDXInt16:
		return "int16"
	case IDXInt32:
		return "int32"
	case IDXFloat32:
		return "float32"
	case IDXFloat64:
		return "float64"
	}
	return fmt.Sprintf("IDXType(0x%02x)", byte(t))
}

// IDX is a decoded IDX file: an element type, dimensions, and the values as
// stored (big-endian, row-major).
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Len is the number of elements the dimensions describe.
func (f *IDX) Len() int {
	n := 1
	for _, d := range f.Dims {
		n *= d
	}
	return n
}

// maxIDXBytes bounds what a header may claim (far above any real file), so that
// a corrupt header is an error rather than an attempt to allocate terabytes. The
// product of the non-zero dimensions is bounded too, so that an empty file's
// dimensions ([0, 2^32-1, 2^32-1]) cannot overflow a product computed later.
const maxIDXBytes = 1 << 34

// maxDeflateRatio is the most a deflate stream can expand: 258 bytes for a
// length code and a distance code of one bit each. A gzip stream of n bytes
// holds at most maxDeflateRatio*n bytes, whatever its header says.
const maxDeflateRatio = 1032

// ReadIDX reads an IDX file, gzipped or not (decided by its first two bytes).
func ReadIDX(ctx context.Context, path string) (*IDX, error) {
	return readIDX(ctx, path, nil)
}

func readIDX(ctx context.Context, path string, check func(*IDX) error) (*IDX, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("formats: %s: %w", path, err)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("formats: %w", err)
	}
	defer fh.Close()
	return decodeIDX(ctx, fh, path, check)
}

// DecodeIDX decodes an IDX stream, un-gzipping it if it starts with the gzip
// magic. name identifies the stream in errors; offsets in errors count bytes of
// the decompressed stream.
//
// Memory follows the bytes that exist, not the header's claims: when r knows its
// size (a file, a *bytes.Reader), a header that claims more data than the file
// holds, or than its gzip stream can expand to, fails before anything is
// allocated; otherwise the data is read incrementally and a gzip stream is
// never decompressed past what the header declares.
func DecodeIDX(ctx context.Context, r io.Reader, name string) (*IDX, error) {
	return decodeIDX(ctx, r, name, nil)
}

// decodeIDX is DecodeIDX with check, when not nil, called on the type and
// dimensions before the data is read: a caller that knows what it wants fails
// before allocating for what it does not.
func decodeIDX(ctx context.Context, r io.Reader, name string, check func(*IDX) error) (*IDX, error) {
	in := inspect(r)
	rd, gz, err := openMaybeGzip(ctx, r, name)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	where := name
	if gz {
		where += " (gunzipped)"
	}
	var hdr [4]byte
	if n, err := io.ReadFull(rd, hdr[:]); err != nil {
		return nil, &FormatError{File: where, Offset: int64(n), Want: "a 4-byte IDX magic number", Err: eofAsUnexpected(err)}
	}
	t := IDXType(hdr[2])
	if hdr[0] != 0 || hdr[1] != 0 || t.Size() == 0 || hdr[3] == 0 {
		return nil, &FormatError{File: where, Offset: 0, Want: fmt.Sprintf("an IDX magic number 00 00 <type 08|09|0b|0c|0d|0e> <rank > 0>, got % x", hdr)}
	}
	f := &IDX{Type: t, Dims: make([]int, hdr[3])}
	size, nonzero := int64(t.Size()), int64(t.Size())
	for i := range f.Dims {
		var b [4]byte
		if n, err := io.ReadFull(rd, b[:]); err != nil {
			return nil, &FormatError{File: where, Offset: int64(4 + 4*i + n), Want: fmt.Sprintf("dimension %d of %d (4 bytes, big-endian)", i, len(f.Dims)), Err: eofAsUnexpected(err)}
		}
		d := int64(binary.BigEndian.Uint32(b[:]))
		f.Dims[i] = int(d)
		if d != 0 && nonzero > maxIDXBytes/d {
			return nil, &FormatError{File: where, Offset: int64(4 + 4*i), Want: fmt.Sprintf("dimensions of at most %d bytes of data, got %v of %v", int64(maxIDXBytes), f.Dims[:i+1], t)}
		}
		size *= d
		if d != 0 {
			nonzero *= d
		}
	}
	start := int64(4 + 4*len(f.Dims))
	if check != nil {
		if err := check(f); err != nil {
			return nil, err
		}
	}
	// The header's claim against what the input can hold, before allocating.
	exact := false
	switch {
	case in.size < 0:
	case !gz && start+size > in.size:
		return nil, &FormatError{File: where, Offset: in.size, Want: fmt.Sprintf("%d bytes of %v data for dimensions %v, the file ends after %d", size, t, f.Dims, in.size-start), Err: io.ErrUnexpectedEOF}
	case !gz:
		exact = true
	case start+size > maxDeflateRatio*in.size:
		return nil, &FormatError{File: where, Offset: start, Want: fmt.Sprintf("%d bytes of %v data for dimensions %v, more than a %d-byte gzip stream can expand to (%d bytes at most)", size, t, f.Dims, in.size, maxDeflateRatio*in.size), Err: io.ErrUnexpectedEOF}
	default:
		// The gzip trailer holds the size of the (last) member's content,
		// modulo 2^32: when it agrees with the header, allocate at once;
		// when not, the data is read as it comes, and fails where it ends.
		exact = in.hasTrailer && in.trailer == uint32(start+size)
	}
	var data []byte
	if exact {
		data = make([]byte, size)
		var n int
		n, err = io.ReadFull(rd, data)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			data, err = data[:n], nil // reported below, as for a stream
		}
	} else {
		data, err = readUpTo(rd, size)
	}
	if err != nil {
		return nil, &FormatError{File: where, Offset: start + int64(len(data)), Want: fmt.Sprintf("%d bytes of %v data for dimensions %v", size, t, f.Dims), Err: err}
	}
	if int64(len(data)) < size {
		return nil, &FormatError{File: where, Offset: start + int64(len(data)), Want: fmt.Sprintf("%d bytes of %v data for dimensions %v, the file ends after %d", size, t, f.Dims, len(data)), Err: io.ErrUnexpectedEOF}
	}
	// Reading past the data also makes gzip check its trailer (CRC and size);
	// a stream that expands to more than the header declares stops here, one
	// byte past the data.
	var one [1]byte
	n, err := io.ReadFull(rd, one[:])
	if n != 0 {
		return nil, &FormatError{File: where, Offset: start + size, Want: fmt.Sprintf("the end of the file after %d bytes of data for dimensions %v", size, f.Dims)}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, &FormatError{File: where, Offset: start + size, Want: "the end of the stream (with a valid gzip trailer)", Err: err}
	}
	f.Data = data
	return f, nil
}

// EncodeIDX writes f, uncompressed. Tests use it to make small files in the real
// format.
func EncodeIDX(w io.Writer, f *IDX) error {
	if f.Type.Size() == 0 || len(f.Dims) == 0 || len(f.Dims) > 255 {
		return fmt.Errorf("formats: EncodeIDX: %v with %d dimensions, want a known type and 1 to 255 dimensions", f.Type, len(f.Dims))
	}
	if len(f.Data) != f.Len()*f.Type.Size() {
		return fmt.Errorf("formats: EncodeIDX: dimensions %v of %v need %d bytes, data has %d", f.Dims, f.Type, f.Len()*f.Type.Size(), len(f.Data))
	}
	bw := bufio.NewWriter(w)
	bw.Write([]byte{0, 0, byte(f.Type), byte(len(f.Dims))})
	for _, d := range f.Dims {
		binary.Write(bw, binary.BigEndian, uint32(d))
	}
	bw.Write(f.Data)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("formats: EncodeIDX: %w", err)
	}
	return nil
}

// Split names a part of a data set.
type Split string

// The standard splits.
const (
	Train Split = "train"
	Test  Split = "test"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs the
// files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses returns the names of Fashion-MNIST's ten labels (a new
// slice each call).
func FashionMNISTClasses() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// FashionMNIST reads a split of Fashion-MNIST from dir (see MNIST for the file
// names) and names its classes.
func FashionMNIST(ctx context.Context, dir string, split Split) (*Images, error) {
	im, err := MNIST(ctx, dir, split)
	if err != nil {
		return nil, err
	}
	im.Classes = FashionMNISTClasses()
	return im, nil
}

// MNIST reads a split of MNIST or Fashion-MNIST from dir: the files
// train-images-idx3-ubyte and train-labels-idx1-ubyte (Train) or t10k-... (Test),
// each with or without a .gz suffix.
func MNIST(ctx context.Context, dir string, split Split) (*Images, error) {
	prefix := "train"
	switch split {
	case Train:
	case Test:
		prefix = "t10k"
	default:
		return nil, fmt.Errorf("formats: MNIST: split %q, want %q or %q", split, Train, Test)
	}
	img, err := findFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lab, err := findFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return ReadIDXImages(ctx, img, lab)
}

func findFile(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("formats: neither %s nor %s.gz in %s: %w", base, base, dir, os.ErrNotExist)
}

// ReadIDXImages reads an image file (uint8, N×H×W or N×H×W×C) and a label file
// (uint8, N) and checks that they agree. The labels are read first, and the
// image file's header is checked against them before its pixels are read.
func ReadIDXImages(ctx context.Context, imagesPath, labelsPath string) (*Images, error) {
	lb, err := ReadIDX(ctx, labelsPath)
	if err != nil {
		return nil, err
	}
	if lb.Type != IDXUint8 || len(lb.Dims) != 1 {
		return nil, fmt.Errorf("formats: %s: labels are %v with dimensions %v, want uint8 N", labelsPath, lb.Type, lb.Dims)
	}
	im, err := readIDX(ctx, imagesPath, func(im *IDX) error {
		if im.Type != IDXUint8 || (len(im.Dims) != 3 && len(im.Dims) != 4) {
			return fmt.Errorf("formats: %s: images are %v with dimensions %v, want uint8 N×H×W or N×H×W×C", imagesPath, im.Type, im.Dims)
		}
		if lb.Dims[0] != im.Dims[0] {
			return fmt.Errorf("formats: %s has %d images but %s has %d labels", imagesPath, im.Dims[0], labelsPath, lb.Dims[0])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &Images{N: im.Dims[0], H: im.Dims[1], W: im.Dims[2], C: 1, Pixels: im.Data, Labels: make([]int32, lb.Dims[0])}
	if len(im.Dims) == 4 {
		out.C = im.Dims[3]
	}
	for i, b := range lb.Data {
		out.Labels[i] = int32(b)
	}
	return out, nil
}

// FormatError is a file that does not hold what its format promises.
type FormatError struct {
	File   string // the file (or stream name)
	Offset int64  // the byte offset where the problem starts
	Want   string // what was expected there
	Err    error  // the underlying error (io.ErrUnexpectedEOF for a truncated file), or nil
}

// Error says where the file breaks its format and what was expected.
func (e *FormatError) Error() string {
	s := fmt.Sprintf("formats: %s: offset %d: want %s", e.File, e.Offset, e.Want)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

func eofAsUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
