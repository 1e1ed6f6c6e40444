package formats

import "fmt"

// Images is a labelled image set held as bytes: N images of H×W×C pixels in NHWC
// order, and one int32 label per image.
type Images struct {
	N, H, W, C int
	Pixels     []uint8  // N*H*W*C bytes
	Labels     []int32  // N labels
	Classes    []string // class names when the format has them, else nil
}

// Image returns the pixels of image i (shared, not copied).
func (im *Images) Image(i int) []uint8 {
	n := im.H * im.W * im.C
	return im.Pixels[i*n : (i+1)*n : (i+1)*n]
}

// Slice returns images [lo, hi) sharing storage with im.
func (im *Images) Slice(lo, hi int) (*Images, error) {
	if lo < 0 || hi > im.N || lo > hi {
		return nil, fmt.Errorf("formats: Slice(%d, %d) of %d images", lo, hi, im.N)
	}
	n := im.H * im.W * im.C
	return &Images{N: hi - lo, H: im.H, W: im.W, C: im.C, Pixels: im.Pixels[lo*n : hi*n], Labels: im.Labels[lo:hi], Classes: im.Classes}, nil
}

// Check verifies that the sizes agree and that every label is in [0, classes)
// (classes <= 0 skips the label range check).
func (im *Images) Check(classes int) error {
	if len(im.Pixels) != im.N*im.H*im.W*im.C {
		return fmt.Errorf("formats: %d pixel bytes for %d images of %d×%d×%d", len(im.Pixels), im.N, im.H, im.W, im.C)
	}
	if len(im.Labels) != im.N {
		return fmt.Errorf("formats: %d labels for %d images", len(im.Labels), im.N)
	}
	if classes > 0 {
		for i, l := range im.Labels {
			if l < 0 || int(l) >= classes {
				return fmt.Errorf("formats: label %d of image %d is outside [0, %d)", l, i, classes)
			}
		}
	}
	return nil
}
