package tensor

import (
	"fmt"
	"strings"
)

// DType is the element type of a tensor.
type DType uint8

const (
	// Float32 is the element type of values: activations, weights, gradients.
	Float32 DType = iota + 1
	// Int32 is the element type of indices: labels, word ids.
	Int32
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Device says where a tensor's storage lives.
type Device uint8

const (
	// CPU is host memory.
	CPU Device = iota
)

func (d Device) String() string {
	if d == CPU {
		return "cpu"
	}
	return fmt.Sprintf("Device(%d)", uint8(d))
}

// Shape is the size of each axis. A dimension of -1 means "not known yet" (the
// batch size of a graph node before a plan fixes it); tensors always have known
// shapes.
type Shape []int

// Size is the number of elements, or -1 if a dimension is unknown.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}

// Rank is the number of axes.
func (s Shape) Rank() int { return len(s) }

// Equal reports whether two shapes are identical.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Known reports whether every dimension is known.
func (s Shape) Known() bool {
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

// Clone returns a copy that does not share memory with s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		if d < 0 {
			b.WriteByte('?')
		} else {
			fmt.Fprint(&b, d)
		}
	}
	if len(s) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// ShapeError reports a shape that an operation cannot accept.
type ShapeError struct {
	Op   string // the operation, e.g. "MatMul"
	Arg  string // the argument, e.g. "b"
	Got  Shape
	Want string // what was expected, in words
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("%s: argument %s has shape %v, want %s", e.Op, e.Arg, e.Got, e.Want)
}

// Tensor is a dense row-major array of one element type.
type Tensor struct {
	shape Shape
	dtype DType
	f32   []float32
	i32   []int32
}

// New returns a zeroed tensor. Every dimension must be known and non-negative.
func New(dt DType, shape ...int) *Tensor {
	s := Shape(shape).Clone()
	n := s.Size()
	if n < 0 {
		panic(fmt.Sprintf("tensor.New: shape %v has an unknown dimension", s))
	}
	t := &Tensor{shape: s, dtype: dt}
	switch dt {
	case Float32:
		t.f32 = make([]float32, n)
	case Int32:
		t.i32 = make([]int32, n)
	default:
		panic(fmt.Sprintf("tensor.New: unknown dtype %v", dt))
	}
	return t
}

// FromFloat32 wraps data (not copied) as a tensor of the given shape.
func FromFloat32(data []float32, shape ...int) (*Tensor, error) {
	s := Shape(shape).Clone()
	if n := s.Size(); n != len(data) {
		return nil, &ShapeError{Op: "FromFloat32", Arg: "shape", Got: s, Want: fmt.Sprintf("%d elements (len(data))", len(data))}
	}
	return &Tensor{shape: s, dtype: Float32, f32: data}, nil
}

// FromInt32 wraps data (not copied) as a tensor of the given shape.
func FromInt32(data []int32, shape ...int) (*Tensor, error) {
	s := Shape(shape).Clone()
	if n := s.Size(); n != len(data) {
		return nil, &ShapeError{Op: "FromInt32", Arg: "shape", Got: s, Want: fmt.Sprintf("%d elements (len(data))", len(data))}
	}
	return &Tensor{shape: s, dtype: Int32, i32: data}, nil
}

// Scalar returns a float32 tensor of shape ().
func Scalar(v float32) *Tensor { return &Tensor{shape: Shape{}, dtype: Float32, f32: []float32{v}} }

// Shape returns the shape. Do not modify it.
func (t *Tensor) Shape() Shape { return t.shape }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Device returns where the storage lives.
func (t *Tensor) Device() Device { return CPU }

// Size is the number of elements.
func (t *Tensor) Size() int { return t.shape.Size() }

// Float32s returns the storage of a Float32 tensor (shared, not copied).
func (t *Tensor) Float32s() []float32 {
	if t.dtype != Float32 {
		panic(fmt.Sprintf("tensor: Float32s called on a %v tensor of shape %v", t.dtype, t.shape))
	}
	return t.f32
}

// Int32s returns the storage of an Int32 tensor (shared, not copied).
func (t *Tensor) Int32s() []int32 {
	if t.dtype != Int32 {
		panic(fmt.Sprintf("tensor: Int32s called on a %v tensor of shape %v", t.dtype, t.shape))
	}
	return t.i32
}

// Reshape returns a view with another shape and the same elements. One dimension
// may be -1: it is inferred.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	s, err := ResolveReshape("Reshape", t.shape, shape)
	if err != nil {
		return nil, err
	}
	v := *t
	v.shape = s
	return &v, nil
}

// ResolveReshape fills in the -1 of a requested shape and checks that it keeps the
// number of elements of from.
func ResolveReshape(op string, from Shape, to []int) (Shape, error) {
	s := Shape(to).Clone()
	n := from.Size()
	infer := -1
	known := 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, &ShapeError{Op: op, Arg: "shape", Got: s, Want: fmt.Sprintf("at most one -1 and no other negative dimension (input %v)", from)}
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, &ShapeError{Op: op, Arg: "shape", Got: s, Want: fmt.Sprintf("a shape whose size divides %d (input %v)", n, from)}
		}
		s[infer] = n / known
		return s, nil
	}
	if known != n {
		return nil, &ShapeError{Op: op, Arg: "shape", Got: s, Want: fmt.Sprintf("%d elements like input %v", n, from)}
	}
	return s, nil
}

// Slice returns a view of rows [lo, hi) of the first axis.
func (t *Tensor) Slice(lo, hi int) (*Tensor, error) {
	if len(t.shape) == 0 || lo < 0 || hi > t.shape[0] || lo > hi {
		return nil, &ShapeError{Op: "Slice", Arg: "t", Got: t.shape, Want: fmt.Sprintf("a first axis holding rows [%d, %d)", lo, hi)}
	}
	row := 1
	for _, d := range t.shape[1:] {
		row *= d
	}
	v := Tensor{shape: t.shape.Clone(), dtype: t.dtype}
	v.shape[0] = hi - lo
	switch t.dtype {
	case Float32:
		v.f32 = t.f32[lo*row : hi*row : hi*row]
	case Int32:
		v.i32 = t.i32[lo*row : hi*row : hi*row]
	}
	return &v, nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{shape: t.shape.Clone(), dtype: t.dtype}
	if t.f32 != nil {
		c.f32 = append([]float32(nil), t.f32...)
	}
	if t.i32 != nil {
		c.i32 = append([]int32(nil), t.i32...)
	}
	return c
}

// CopyFrom copies src's elements into t. Shapes must have the same size and the
// dtypes must match.
func (t *Tensor) CopyFrom(src *Tensor) error {
	if src.dtype != t.dtype || src.Size() != t.Size() {
		return fmt.Errorf("tensor: CopyFrom a %v %v into a %v %v: %w", src.dtype, src.shape, t.dtype, t.shape,
			&ShapeError{Op: "CopyFrom", Arg: "src", Got: src.shape, Want: fmt.Sprintf("%v with %d elements", t.dtype, t.Size())})
	}
	copy(t.f32, src.f32)
	copy(t.i32, src.i32)
	return nil
}

// Fill sets every element of a Float32 tensor to v.
func (t *Tensor) Fill(v float32) {
	d := t.Float32s()
	for i := range d {
		d[i] = v
	}
}

// At returns the element at the given index as float64 (for tests and printing).
func (t *Tensor) At(idx ...int) float64 {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor.At: %d indices for shape %v", len(idx), t.shape))
	}
	off := 0
	for i, x := range idx {
		if x < 0 || x >= t.shape[i] {
			panic(fmt.Sprintf("tensor.At: index %v out of range for shape %v", idx, t.shape))
		}
		off = off*t.shape[i] + x
	}
	if t.dtype == Int32 {
		return float64(t.i32[off])
	}
	return float64(t.f32[off])
}

func (t *Tensor) String() string {
	const max = 8
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v %v [", t.shape, t.dtype)
	n := t.Size()
	for i := 0; i < n && i < max; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		if t.dtype == Int32 {
			fmt.Fprint(&b, t.i32[i])
		} else {
			fmt.Fprintf(&b, "%.4g", t.f32[i])
		}
	}
	if n > max {
		b.WriteString(" ...")
	}
	b.WriteByte(']')
	return b.String()
}
