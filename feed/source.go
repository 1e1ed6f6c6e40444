package feed

import (
	"fmt"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/tensor"
)

// Spec describes one component of an example: its shape (without the batch
// axis) and element type.
type Spec struct {
	Shape tensor.Shape
	DType tensor.DType
}

// String formats a spec as dtype(shape).
func (s Spec) String() string { return fmt.Sprintf("%v%v", s.DType, s.Shape) }

// Source is a data set of Len examples, each made of len(Specs()) components (an
// image and its label, say).
type Source interface {
	// Len is the number of examples.
	Len() int
	// Specs describes each component.
	Specs() []Spec
	// Read copies example i into out, one tensor per component with the
	// component's shape. It must not allocate: loaders call it for every example
	// of every batch.
	Read(i int, out []*tensor.Tensor) error
}

// Tensors is an in-memory Source whose examples are the rows (first-axis
// slices) of tensors of equal length.
type Tensors struct {
	ts    []*tensor.Tensor
	specs []Spec
	width []int
	n     int
}

// FromTensors makes a Source of the rows of ts, which must share their first
// dimension. The tensors are not copied: do not change them while loaders run.
func FromTensors(ts ...*tensor.Tensor) (*Tensors, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("feed: FromTensors: no tensors")
	}
	s := &Tensors{ts: ts}
	for i, t := range ts {
		sh := t.Shape()
		if len(sh) == 0 {
			return nil, &tensor.ShapeError{Op: "feed.FromTensors", Arg: fmt.Sprintf("tensor %d", i), Got: sh, Want: "rank >= 1 (examples along the first axis)"}
		}
		if i == 0 {
			s.n = sh[0]
		} else if sh[0] != s.n {
			return nil, &tensor.ShapeError{Op: "feed.FromTensors", Arg: fmt.Sprintf("tensor %d", i), Got: sh, Want: fmt.Sprintf("%d rows like tensor 0", s.n)}
		}
		s.specs = append(s.specs, Spec{Shape: sh[1:].Clone(), DType: t.DType()})
		s.width = append(s.width, sh[1:].Size())
	}
	return s, nil
}

// Len implements Source.
func (s *Tensors) Len() int { return s.n }

// Specs implements Source.
func (s *Tensors) Specs() []Spec { return s.specs }

// Read implements Source.
func (s *Tensors) Read(i int, out []*tensor.Tensor) error {
	if i < 0 || i >= s.n {
		return fmt.Errorf("feed: example %d of %d", i, s.n)
	}
	for c, t := range s.ts {
		w := s.width[c]
		if t.DType() == tensor.Float32 {
			copy(out[c].Float32s(), t.Float32s()[i*w:(i+1)*w])
		} else {
			copy(out[c].Int32s(), t.Int32s()[i*w:(i+1)*w])
		}
	}
	return nil
}

// Images is a Source over a formats.Images: component 0 is the image as float32
// H×W×C with pixels scaled to [0, 1], component 1 the int32 label (shape ()).
// Pixels stay bytes in memory and are converted as batches are made.
type Images struct {
	im    *formats.Images
	specs []Spec
	lut   [256]float32
}

// FromImages makes a Source of an image set.
func FromImages(im *formats.Images) (*Images, error) {
	if err := im.Check(0); err != nil {
		return nil, fmt.Errorf("feed: FromImages: %w", err)
	}
	s := &Images{im: im, specs: []Spec{{Shape: tensor.Shape{im.H, im.W, im.C}, DType: tensor.Float32}, {Shape: tensor.Shape{}, DType: tensor.Int32}}}
	for i := range s.lut {
		s.lut[i] = float32(i) / 255
	}
	return s, nil
}

// Len implements Source.
func (s *Images) Len() int { return s.im.N }

// Specs implements Source.
func (s *Images) Specs() []Spec { return s.specs }

// Read implements Source.
func (s *Images) Read(i int, out []*tensor.Tensor) error {
	if i < 0 || i >= s.im.N {
		return fmt.Errorf("feed: image %d of %d", i, s.im.N)
	}
	dst := out[0].Float32s()
	for j, p := range s.im.Image(i) {
		dst[j] = s.lut[p]
	}
	out[1].Int32s()[0] = s.im.Labels[i]
	return nil
}
