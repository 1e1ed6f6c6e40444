package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlgo/tl/formats"
)

// ImportOptions configure the import helpers.
type ImportOptions struct {
	// BatchSize is the number of samples per insert; default 256.
	BatchSize int
	// Tags are added to every imported sample.
	Tags []string
	// KeyPrefix is prepended to every generated key.
	KeyPrefix string
	// Fields are added to every imported sample's user fields.
	Fields map[string]any
	// SkipExisting counts samples whose key already exists as skipped
	// instead of failing, so an interrupted import can simply be rerun.
	SkipExisting bool
	// Total is the expected number of samples, for the progress bar's ETA
	// (the helpers that know it set it).
	Total int
	// Progress receives the progress bar; nil means stderr when it is a
	// terminal and nothing otherwise. Quiet turns it off.
	Progress io.Writer
	Quiet    bool
	// Label names the import on the progress bar.
	Label string
}

// ImportStats say what an import did.
type ImportStats struct {
	Inserted int
	Skipped  int
	Elapsed  time.Duration
}

// Import inserts every sample of src into c, in batches, with a progress
// bar. Tags, KeyPrefix and Fields from o are applied to each sample. On an
// error the stats count what was stored; samples already read from src are
// inserted before a source error is returned, so nothing read is lost.
func Import(ctx context.Context, c *Collection, src iter.Seq2[Sample, error], o ImportOptions) (ImportStats, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	label := o.Label
	if label == "" {
		label = "import " + c.name
	}
	bar := newProgress(o.Progress, o.Quiet, label, o.Total)
	start := time.Now()
	var st ImportStats
	batch := make([]Sample, 0, o.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.Insert(ctx, batch...)
		var ie *InsertError
		switch {
		case err == nil:
			st.Inserted += len(batch)
		case errors.As(err, &ie) && o.SkipExisting && allDuplicates(ie):
			st.Inserted += len(batch) - len(ie.Keys)
			st.Skipped += len(ie.Keys)
		case errors.As(err, &ie):
			st.Inserted += len(batch) - len(ie.Keys)
			return err
		default:
			return err
		}
		bar.add(len(batch))
		batch = batch[:0]
		return nil
	}
	for s, err := range src {
		if err != nil {
			ferr := flush()
			st.Elapsed = time.Since(start)
			return st, errors.Join(fmt.Errorf("dataset: import: sample source after %d samples: %w", st.Inserted+st.Skipped+len(batch), err), ferr)
		}
		s.Key = o.KeyPrefix + s.Key
		if len(o.Tags) > 0 {
			s.Tags = append(slices.Clip(s.Tags), o.Tags...)
		}
		if len(o.Fields) > 0 {
			f := make(map[string]any, len(s.Fields)+len(o.Fields))
			for k, v := range o.Fields {
				f[k] = v
			}
			for k, v := range s.Fields {
				f[k] = v
			}
			s.Fields = f
		}
		batch = append(batch, s)
		if len(batch) == o.BatchSize {
			if err := flush(); err != nil {
				st.Elapsed = time.Since(start)
				return st, err
			}
		}
	}
	err := flush()
	bar.finish()
	st.Elapsed = time.Since(start)
	return st, err
}

func allDuplicates(ie *InsertError) bool {
	for _, e := range ie.Errs {
		if !errors.Is(e, ErrDuplicateKey) {
			return false
		}
	}
	return true
}

// FashionMNISTClasses returns the names of Fashion-MNIST's ten classes, by label.
func FashionMNISTClasses() []string { return formats.FashionMNISTClasses() }

// IDXSamples reads an images file and a labels file in IDX format (MNIST,
// Fashion-MNIST; gzip or not; read by package formats) and returns their
// samples: uint8 tensors of the image shape (28x28, or HxWxC), keyed by
// index ("00042"), labelled, with LabelName from classes when given. The
// count is returned for progress.
func IDXSamples(ctx context.Context, imagesPath, labelsPath string, classes []string) (iter.Seq2[Sample, error], int, error) {
	im, err := formats.ReadIDXImages(ctx, imagesPath, labelsPath)
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: %w", err)
	}
	shape := []int{im.H, im.W}
	if im.C != 1 {
		shape = append(shape, im.C)
	}
	width := len(fmt.Sprint(im.N - 1))
	seq := func(yield func(Sample, error) bool) {
		for i := range im.N {
			l := int(im.Labels[i])
			s := Sample{
				Key:    fmt.Sprintf("%0*d", width, i),
				Tensor: Uint8Tensor(slices.Clone(shape), slices.Clone(im.Image(i))),
				Label:  l,
			}
			if l < len(classes) {
				s.LabelName = classes[l]
			}
			if !yield(s, nil) {
				return
			}
		}
	}
	return seq, im.N, nil
}

// ImportIDX imports an IDX images/labels pair into c (see IDXSamples).
// Use o.KeyPrefix and o.Tags to tell splits apart ("train-", "train").
func ImportIDX(ctx context.Context, c *Collection, imagesPath, labelsPath string, classes []string, o ImportOptions) (ImportStats, error) {
	src, n, err := IDXSamples(ctx, imagesPath, labelsPath, classes)
	if err != nil {
		return ImportStats{}, err
	}
	if o.Total == 0 {
		o.Total = n
	}
	if o.Label == "" {
		o.Label = "import " + filepath.Base(imagesPath)
	}
	return Import(ctx, c, src, o)
}

// imageExts are the file extensions ImageFolderSamples takes as images.
func isImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff":
		return true
	}
	return false
}

// ImageFolderSamples lists root/<class>/<image> and returns samples with the
// file's bytes (not decoded), key "<class>/<file>", LabelName the class and
// Label its index among the sorted class names, which are returned too.
// Files are read lazily, as the iterator advances.
func ImageFolderSamples(root string) (iter.Seq2[Sample, error], int, []string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("dataset: image folder: %w", err)
	}
	var classes []string
	type file struct {
		class int
		rel   string
	}
	var files []file
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	slices.Sort(classes)
	for ci, class := range classes {
		err := filepath.WalkDir(filepath.Join(root, class), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() && isImage(e.Name()) {
				rel, _ := filepath.Rel(root, p)
				files = append(files, file{ci, filepath.ToSlash(rel)})
			}
			return nil
		})
		if err != nil {
			return nil, 0, nil, fmt.Errorf("dataset: image folder: %w", err)
		}
	}
	if len(classes) == 0 {
		return nil, 0, nil, fmt.Errorf("dataset: image folder %s: no class subfolders; expected root/<class>/<image files>", root)
	}
	seq := func(yield func(Sample, error) bool) {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.rel)))
			if err != nil {
				yield(Sample{}, fmt.Errorf("dataset: image folder: %w", err))
				return
			}
			s := Sample{Key: f.rel, Bytes: b, Label: f.class, LabelName: classes[f.class],
				Fields: map[string]any{"format": strings.TrimPrefix(strings.ToLower(filepath.Ext(f.rel)), ".")}}
			if !yield(s, nil) {
				return
			}
		}
	}
	return seq, len(files), classes, nil
}

// ImportImageFolder imports root/<class>/<image> into c (see ImageFolderSamples).
func ImportImageFolder(ctx context.Context, c *Collection, root string, o ImportOptions) (ImportStats, []string, error) {
	src, n, classes, err := ImageFolderSamples(root)
	if err != nil {
		return ImportStats{}, nil, err
	}
	if o.Total == 0 {
		o.Total = n
	}
	if o.Label == "" {
		o.Label = "import " + filepath.Base(root)
	}
	st, err := Import(ctx, c, src, o)
	return st, classes, err
}
