package dataset

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/tlgo/tl/formats"
)

// ExportIDX writes the dataset's samples, in insertion order, as an IDX
// images file and an IDX labels file (gzip when a path ends in ".gz"): the
// inverse of ImportIDX. Every sample must be a uint8 tensor of one shape
// with a label in 0..255 and no target; nothing is written otherwise.
func ExportIDX(ctx context.Context, d *Dataset, imagesPath, labelsPath string) (int, error) {
	var all []Sample
	for s, err := range d.Samples(ctx, ReadOptions{BatchSize: 1024}) {
		if err != nil {
			return 0, fmt.Errorf("dataset: export %s: %w", d.label(), err)
		}
		if s.Tensor == nil || s.Tensor.DType != Uint8 {
			return 0, fmt.Errorf("dataset: export %s to IDX: sample %q is not a uint8 tensor", d.label(), s.Key)
		}
		if len(all) > 0 && !slices.Equal(s.Tensor.Shape, all[0].Tensor.Shape) {
			return 0, fmt.Errorf("dataset: export %s to IDX: sample %q has shape %v, sample %q has %v; IDX needs one shape",
				d.label(), s.Key, s.Tensor.Shape, all[0].Key, all[0].Tensor.Shape)
		}
		if s.Target != nil {
			return 0, fmt.Errorf("dataset: export %s to IDX: sample %q has a target tensor; IDX labels are class ids only", d.label(), s.Key)
		}
		if s.Label < 0 || s.Label > 255 {
			return 0, fmt.Errorf("dataset: export %s to IDX: sample %q has label %d; IDX labels are 0..255", d.label(), s.Key, s.Label)
		}
		all = append(all, s)
	}
	if len(all) == 0 {
		return 0, fmt.Errorf("dataset: export %s to IDX: no samples", d.label())
	}
	slices.SortFunc(all, func(a, b Sample) int { return int(a.Seq - b.Seq) })
	shape := all[0].Tensor.Shape
	images := &formats.IDX{Type: formats.IDXUint8, Dims: append([]int{len(all)}, shape...)}
	labels := &formats.IDX{Type: formats.IDXUint8, Dims: []int{len(all)}, Data: make([]byte, len(all))}
	images.Data = make([]byte, 0, len(all)*all[0].Tensor.Len())
	for i, s := range all {
		images.Data = append(images.Data, s.Tensor.Uint8...)
		labels.Data[i] = byte(s.Label)
	}
	if err := writeIDX(imagesPath, images); err != nil {
		return 0, err
	}
	if err := writeIDX(labelsPath, labels); err != nil {
		return 0, err
	}
	return len(all), nil
}

// writeIDX writes f to path, gzip-compressed when path ends in ".gz".
func writeIDX(path string, f *formats.IDX) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: export: %w", err)
	}
	var w io.Writer = fh
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(fh)
		w = zw
	}
	err = formats.EncodeIDX(w, f)
	if zw != nil {
		err = errors.Join(err, zw.Close())
	}
	if err = errors.Join(err, fh.Close()); err != nil {
		return fmt.Errorf("dataset: export %s: %w", path, err)
	}
	return nil
}
