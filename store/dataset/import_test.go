package dataset_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// writeIDX writes n 3x2 images (pixel = i+j) and labels (i%10) in IDX format.
func writeIDX(t *testing.T, dir string, n int, gz bool) (images, labels string) {
	t.Helper()
	px := make([]byte, n*6)
	for i := range n {
		for j := range 6 {
			px[i*6+j] = byte(i + j)
		}
	}
	ls := make([]byte, n)
	for i := range ls {
		ls[i] = byte(i % 10)
	}
	ext := ""
	if gz {
		ext = ".gz"
	}
	images, labels = filepath.Join(dir, "images-idx3-ubyte"+ext), filepath.Join(dir, "labels-idx1-ubyte"+ext)
	put(t, images, &formats.IDX{Type: formats.IDXUint8, Dims: []int{n, 3, 2}, Data: px})
	put(t, labels, &formats.IDX{Type: formats.IDXUint8, Dims: []int{n}, Data: ls})
	return images, labels
}

// put writes an IDX file, gzip-compressed when path ends in ".gz".
func put(t *testing.T, path string, f *formats.IDX) {
	t.Helper()
	var b bytes.Buffer
	if err := formats.EncodeIDX(&b, f); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readIDX(t *testing.T, path string) *formats.IDX {
	t.Helper()
	f, err := formats.ReadIDX(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImportIDX(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		images, labels := writeIDX(t, t.TempDir(), 120, true)
		var bar strings.Builder
		st, err := dataset.ImportIDX(ctx, c, images, labels, dataset.FashionMNISTClasses(),
			dataset.ImportOptions{KeyPrefix: "train-", Tags: []string{"train"}, BatchSize: 50, Progress: &bar})
		if err != nil || st.Inserted != 120 {
			t.Fatalf("import: %+v, %v", st, err)
		}
		if !strings.Contains(bar.String(), "120/120") {
			t.Errorf("progress output %q lacks the final count", bar.String())
		}
		s, err := c.Get(ctx, "train-013")
		if err != nil {
			t.Fatal(err)
		}
		if s.Label != 3 || s.LabelName != "Dress" || !slices.Equal(s.Tensor.Shape, []int{3, 2}) || s.Tensor.Uint8[5] != 18 || !slices.Equal(s.Tags, []string{"train"}) {
			t.Fatalf("sample train-013 = %+v", s)
		}
		// Rerunning an interrupted import skips what is there.
		st, err = dataset.ImportIDX(ctx, c, images, labels, nil, dataset.ImportOptions{KeyPrefix: "train-", SkipExisting: true, Quiet: true})
		if err != nil || st.Inserted != 0 || st.Skipped != 120 {
			t.Fatalf("rerun with SkipExisting: %+v, %v", st, err)
		}
		if _, err := dataset.ImportIDX(ctx, c, images, labels, nil, dataset.ImportOptions{KeyPrefix: "train-", Quiet: true}); !errors.Is(err, dataset.ErrDuplicateKey) {
			t.Fatalf("rerun without SkipExisting: %v; want ErrDuplicateKey", err)
		}
		// Export is the inverse of import.
		dir := t.TempDir()
		n, err := dataset.ExportIDX(ctx, c.All(), filepath.Join(dir, "img.gz"), filepath.Join(dir, "lab"))
		if err != nil || n != 120 {
			t.Fatalf("export: %d, %v", n, err)
		}
		orig, back := readIDX(t, images), readIDX(t, filepath.Join(dir, "img.gz"))
		if !slices.Equal(back.Dims, orig.Dims) || string(back.Data) != string(orig.Data) {
			t.Fatal("exported images differ from the imported ones")
		}
		lorig, lback := readIDX(t, labels), readIDX(t, filepath.Join(dir, "lab"))
		if string(lback.Data) != string(lorig.Data) {
			t.Fatal("exported labels differ")
		}
		// Mismatched files are refused before anything is written.
		img2, _ := writeIDX(t, t.TempDir(), 7, false)
		if _, err := dataset.ImportIDX(ctx, c, img2, labels, nil, dataset.ImportOptions{Quiet: true}); err == nil || !strings.Contains(err.Error(), "7 images but") {
			t.Fatalf("mismatched counts: %v", err)
		}
	})
}

func TestImportFashionMNIST(t *testing.T) {
	dir := "/usr/share/datasets/fashion-mnist"
	images, labels := filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	_, err := os.Stat(images)
	testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist; .ci/run does)", err)
	ctx := storetest.Context(t)
	c := open(t, storetest.Backends()[0], dataset.Options{})
	st, err := dataset.ImportIDX(ctx, c, images, labels, dataset.FashionMNISTClasses(), dataset.ImportOptions{Tags: []string{"test"}, BatchSize: 1000})
	if err != nil || st.Inserted != 10000 {
		t.Fatalf("import t10k: %+v, %v", st, err)
	}
	t.Logf("imported %d samples in %v (%.0f samples/s)", st.Inserted, st.Elapsed, float64(st.Inserted)/st.Elapsed.Seconds())
	bags := c.View(dataset.Query{Labels: []int{8}})
	if n, err := bags.Count(ctx); err != nil || n != 1000 {
		t.Fatalf("bags: %d, %v; want 1000 (t10k is balanced)", n, err)
	}
	s, err := c.Get(ctx, "0000")
	if err != nil || !slices.Equal(s.Tensor.Shape, []int{28, 28}) || s.LabelName != dataset.FashionMNISTClasses()[s.Label] {
		t.Fatalf("first sample: %+v, %v", s, err)
	}
}

func TestImportImageFolder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		root := t.TempDir()
		files := map[string]string{"dog/a.png": "png-a", "cat/b.JPG": "jpg-b", "cat/sub/c.png": "png-c", "dog/notes.txt": "skip me"}
		for p, body := range files {
			os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(root, p), []byte(body), 0o644)
		}
		st, classes, err := dataset.ImportImageFolder(ctx, c, root, dataset.ImportOptions{Tags: []string{"pets"}, Quiet: true})
		if err != nil || st.Inserted != 3 || !slices.Equal(classes, []string{"cat", "dog"}) {
			t.Fatalf("import: %+v %v %v", st, classes, err)
		}
		s, err := c.Get(ctx, "dog/a.png")
		if err != nil || string(s.Bytes) != "png-a" || s.Label != 1 || s.LabelName != "dog" || s.Fields["format"] != "png" {
			t.Fatalf("dog/a.png = %+v, %v", s, err)
		}
		if s, err := c.Get(ctx, "cat/sub/c.png"); err != nil || s.Label != 0 {
			t.Fatalf("nested cat image: %+v, %v", s, err)
		}
		if _, _, err := dataset.ImportImageFolder(ctx, c, filepath.Join(root, "dog"), dataset.ImportOptions{Quiet: true}); err == nil {
			t.Fatal("a folder without class subfolders was accepted")
		}
	})
}

func TestImportIteratorKeepsWhatWasReadOnError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		boom := errors.New("sensor unplugged")
		var src iter.Seq2[dataset.Sample, error] = func(yield func(dataset.Sample, error) bool) {
			for i := range 5 {
				if !yield(dataset.Sample{Key: fmt.Sprint(i), Bytes: []byte{byte(i)}}, nil) {
					return
				}
			}
			yield(dataset.Sample{}, boom)
		}
		st, err := dataset.Import(ctx, c, src, dataset.ImportOptions{BatchSize: 3, Quiet: true})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "after 5 samples") || st.Inserted != 5 {
			t.Fatalf("import: %+v, %v; want 5 stored and the source error", st, err)
		}
		if n, _ := c.All().Count(ctx); n != 5 {
			t.Fatalf("stored %d, want 5", n)
		}
	})
}
