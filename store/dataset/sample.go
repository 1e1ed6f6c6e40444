package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// DType is the element type of a Tensor.
type DType string

// The element types a sample tensor may have.
const (
	Uint8   DType = "uint8"
	Int32   DType = "int32"
	Float32 DType = "float32"
)

// kindBytes marks a sample whose payload is opaque bytes (an encoded image, a
// text) rather than a tensor.
const kindBytes = "bytes"

// Tensor is a dense row-major tensor: a shape and the values of one dtype.
// Exactly the slice that matches DType is used.
type Tensor struct {
	DType   DType
	Shape   []int
	Uint8   []uint8
	Int32   []int32
	Float32 []float32
}

// Float32Tensor returns a float32 tensor of the given shape over data (not copied).
func Float32Tensor(shape []int, data []float32) *Tensor {
	return &Tensor{DType: Float32, Shape: shape, Float32: data}
}

// Int32Tensor returns an int32 tensor of the given shape over data (not copied).
func Int32Tensor(shape []int, data []int32) *Tensor {
	return &Tensor{DType: Int32, Shape: shape, Int32: data}
}

// Uint8Tensor returns a uint8 tensor of the given shape over data (not copied).
func Uint8Tensor(shape []int, data []uint8) *Tensor {
	return &Tensor{DType: Uint8, Shape: shape, Uint8: data}
}

// Len is the number of elements the shape describes.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// maxElements bounds the elements of one sample tensor (4 GiB of float32), so
// that a shape's size and its byte count never overflow an int.
const maxElements = 1 << 30

// elements is the number of elements of shape, or an error for a negative
// dimension or a product over maxElements (where Len would overflow: [2^32,
// 2^32] has 2^64 elements, and Len says 0).
func elements(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && n > maxElements/d {
			// The product of the rest may still be 0.
			if slices.Contains(shape[i:], 0) {
				return 0, nil
			}
			return 0, fmt.Errorf("tensor shape %v: more than %d elements", shape, maxElements)
		}
		n *= d
	}
	return n, nil
}

// check says what is wrong with t, if anything.
func (t *Tensor) check() error {
	want, err := elements(t.Shape)
	if err != nil {
		return err
	}
	var got int
	switch t.DType {
	case Uint8:
		got = len(t.Uint8)
	case Int32:
		got = len(t.Int32)
	case Float32:
		got = len(t.Float32)
	default:
		return fmt.Errorf("tensor dtype %q: expected uint8, int32 or float32", t.DType)
	}
	if got != want {
		return fmt.Errorf("tensor shape %v holds %d %s values, got %d", t.Shape, want, t.DType, got)
	}
	return nil
}

// bytes encodes the values little-endian.
func (t *Tensor) bytes() []byte {
	switch t.DType {
	case Uint8:
		return t.Uint8
	case Int32:
		b := make([]byte, 4*len(t.Int32))
		for i, v := range t.Int32 {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	case Float32:
		b := make([]byte, 4*len(t.Float32))
		for i, v := range t.Float32 {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	return nil
}

// tensorFromBytes decodes little-endian values written by Tensor.bytes.
func tensorFromBytes(dt DType, shape []int, b []byte) (*Tensor, error) {
	t := &Tensor{DType: dt, Shape: shape}
	n, err := elements(shape)
	if err != nil {
		return nil, err
	}
	switch dt {
	case Uint8:
		if len(b) != n {
			return nil, fmt.Errorf("shape %v needs %d bytes of uint8, payload has %d", shape, n, len(b))
		}
		t.Uint8 = b
	case Int32, Float32:
		if len(b) != 4*n {
			return nil, fmt.Errorf("shape %v needs %d bytes of %s, payload has %d", shape, 4*n, dt, len(b))
		}
		if dt == Int32 {
			t.Int32 = make([]int32, n)
			for i := range t.Int32 {
				t.Int32[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
		} else {
			t.Float32 = make([]float32, n)
			for i := range t.Float32 {
				t.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		}
	default:
		return nil, fmt.Errorf("dtype %q: expected uint8, int32 or float32", dt)
	}
	return t, nil
}

// Sample is one record of a dataset: a key unique in its project and
// collection, a payload (opaque Bytes or a Tensor), a label and tags.
type Sample struct {
	// Key names the sample; unique per project and collection.
	Key string
	// Bytes is an opaque payload (an encoded image, a text). Nil when Tensor is set.
	Bytes []byte
	// Tensor is a dense payload. Nil when Bytes is set.
	Tensor *Tensor
	// Label is the class index; LabelName its name, if any.
	Label     int
	LabelName string
	// Target is a dense label (a regression target, a mask), nil for a
	// sample labelled by its class id alone. It is stored inline in the
	// sample document (at most MaxTargetBytes), whatever the payload's size;
	// float32 values must be finite.
	Target *Tensor
	// Tags are what dataset queries select on.
	Tags []string
	// Fields are extra user fields, stored under "fields" and queryable.
	Fields map[string]any

	// Seq is the insertion sequence, set by Collection.Insert: monotonic
	// per project and collection.
	Seq int64
	// Project is the project the sample belongs to, set on insert and read.
	Project string
}

// ErrInvalidSample is wrapped by errors for samples that cannot be stored.
var ErrInvalidSample = errors.New("invalid sample")

// validate checks what Insert needs before anything is written.
func (s *Sample) validate() error {
	if s.Key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidSample)
	}
	if strings.ContainsRune(s.Key, 0) {
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalidSample, s.Key)
	}
	if s.Tensor != nil && s.Bytes != nil {
		return fmt.Errorf("%w: sample %q has both Bytes and Tensor; expected one", ErrInvalidSample, s.Key)
	}
	if s.Tensor != nil {
		if err := s.Tensor.check(); err != nil {
			return fmt.Errorf("%w: sample %q: %w", ErrInvalidSample, s.Key, err)
		}
	}
	if s.Target != nil {
		if err := s.Target.checkTarget(); err != nil {
			return fmt.Errorf("%w: sample %q: target: %w", ErrInvalidSample, s.Key, err)
		}
	}
	for name := range s.Fields {
		if name == "" || strings.ContainsAny(name, ".$") {
			return fmt.Errorf("%w: sample %q: field name %q: expected a non-empty name without '.' or '$'", ErrInvalidSample, s.Key, name)
		}
	}
	return nil
}

// payload returns the kind, shape and raw bytes to store.
func (s *Sample) payload() (kind string, shape []int, raw []byte) {
	if s.Tensor != nil {
		return string(s.Tensor.DType), s.Tensor.Shape, s.Tensor.bytes()
	}
	return kindBytes, nil, s.Bytes
}

// MaxTargetBytes bounds a sample's Target: it lives in the sample document,
// which queries and summaries scan, so it stays small; a bigger dense label
// belongs in a sample of its own.
const MaxTargetBytes = 64 << 10

// checkTarget says what is wrong with t as a sample's target, if anything:
// what check says, a size over MaxTargetBytes, or a float32 value that is
// NaN or infinite (a loss over it would be too).
func (t *Tensor) checkTarget() error {
	if err := t.check(); err != nil {
		return err
	}
	if n := int64(t.Len()) * elemSize(t.DType); n > MaxTargetBytes {
		return fmt.Errorf("shape %v of %s is %d bytes, expected at most %d (MaxTargetBytes)", t.Shape, t.DType, n, MaxTargetBytes)
	}
	for i, v := range t.Float32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("element %d of shape %v is %v, expected a finite value", i, t.Shape, v)
		}
	}
	return nil
}

// targetDoc is the subdocument a target is stored as.
func targetDoc(t *Tensor) bson.D {
	sh := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		sh[i] = int64(d)
	}
	return bson.D{
		{Key: fKind, Value: string(t.DType)},
		{Key: fShape, Value: sh},
		{Key: fData, Value: bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: t.bytes()}},
	}
}
