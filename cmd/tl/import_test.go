package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// writePTB writes a tiny corpus in PTB's format: lines of words, "<unk>" among
// them; the validation text has a word the training text lacks.
func writePTB(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"ptb.train.txt": " the cat sat on the mat \n the dog sat on the <unk> \n a cat and a dog \n",
		"ptb.valid.txt": " the bird sat \n",
		"ptb.test.txt":  " a dog sat on a cat \n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// openSamples opens the default sample collection of db.
func openSamples(t *testing.T, db *store.DB) *dataset.Collection {
	t.Helper()
	c, err := dataset.Open(context.Background(), db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenIDs reads a split's windows back as the kinds do: in key order,
// concatenated.
func tokenIDs(t *testing.T, c *dataset.Collection, name string) []int32 {
	t.Helper()
	d, err := c.Dataset(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var ss []dataset.Sample
	for s, err := range d.Samples(context.Background(), dataset.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b dataset.Sample) int { return strings.Compare(a.Key, b.Key) })
	var ids []int32
	for _, s := range ss {
		ids = append(ids, s.Tensor.Int32...)
	}
	return ids
}

func TestImportTokenCorpora(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db, conn := isolatedStore(t, b, "text")
		tl := tlWith(t, conn)
		ctx := context.Background()
		c := openSamples(t, db)
		dir := t.TempDir()
		writePTB(t, dir)
		want, err := formats.ReadPTB(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}

		code, out, errOut := tl("import", "ptb", dir, "--window", "4", "--define", "tiny")
		if code != 0 {
			t.Fatalf("tl import ptb: exit %d: %s%s", code, out, errOut)
		}
		// 20 train words (<eos> included) in 5 windows, 4 valid in 1, 7 test in 2, and the vocabulary.
		for _, w := range []string{"inserted 9, skipped 0", "defined dataset tiny-train: tags=train prefix=ptb/ (5 samples)",
			"defined dataset tiny-valid: tags=valid prefix=ptb/ (1 samples)", "defined dataset tiny-test: tags=test prefix=ptb/ (2 samples)"} {
			if !strings.Contains(out, w) {
				t.Errorf("tl import ptb: output lacks %q:\n%s", w, out)
			}
		}
		if !strings.Contains(errOut, "9/9 100%") {
			t.Errorf("tl import ptb: no progress line: %q", errOut)
		}
		for split, ids := range map[string][]int32{"train": want.Train, "valid": want.Valid, "test": want.Test} {
			if got := tokenIDs(t, c, "tiny-"+split); !slices.Equal(got, ids) {
				t.Errorf("%s split read back: %v, want %v", split, got, ids)
			}
		}
		unk, _ := want.Vocab.ID("<unk>")
		if want.Valid[1] != unk { // "bird" is not in the training text
			t.Fatalf("valid ids %v: bird should map to <unk> %d", want.Valid, unk)
		}
		v, err := c.Get(ctx, "ptb/vocab")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(v.Bytes), "\n"), "\n")
		if len(lines) != want.Vocab.Len() || lines[0] != "the\t4" || fmt.Sprint(v.Fields["unk"]) != fmt.Sprint(unk) || !slices.Contains(v.Tags, "vocab") {
			t.Errorf("vocabulary sample: %q, fields %v, tags %v; want %d lines from \"the\\t4\"", lines, v.Fields, v.Tags, want.Vocab.Len())
		}
		s, err := c.Get(ctx, "ptb/train/000001")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.Fields["offset"]) != "4" || s.Fields["vocab"] != "ptb/vocab" || s.Fields["split"] != "train" {
			t.Errorf("window fields %v", s.Fields)
		}

		// A rerun stores nothing new; one that cuts the text otherwise fails
		// before writing.
		if code, out, errOut := tl("import", "ptb", dir, "--window", "4", "--quiet"); code != 0 || !strings.Contains(out, "inserted 0, skipped 9") {
			t.Errorf("rerun: exit %d: %s%s", code, out, errOut)
		}
		before, _ := c.All().Count(ctx)
		if code, _, errOut := tl("import", "ptb", dir, "--window", "5", "--quiet"); code == 0 || !strings.Contains(errOut, `prefix "ptb/" holds another import`) {
			t.Errorf("rerun with another window: exit %d: %s", code, errOut)
		}
		if after, _ := c.All().Count(ctx); after != before {
			t.Errorf("the failed rerun wrote %d samples", after-before)
		}

		// A binary file: the error names the file and the offset, nothing is written.
		bad := t.TempDir()
		writePTB(t, bad)
		if err := os.WriteFile(filepath.Join(bad, "ptb.valid.txt"), []byte("the cat\x00sat\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = tl("import", "ptb", bad, "--prefix", "bad/", "--quiet")
		if code == 0 || !strings.Contains(errOut, "ptb.valid.txt") || !strings.Contains(errOut, "offset 7") {
			t.Errorf("tl import ptb of a binary file: exit %d: %s", code, errOut)
		}
		if after, _ := c.All().Count(ctx); after != before {
			t.Errorf("the failed import wrote %d samples", after-before)
		}
		code, _, errOut = tl("import", "ptb", t.TempDir(), "--prefix", "none/", "--quiet")
		if code == 0 || !strings.Contains(errOut, "ptb.train.txt") {
			t.Errorf("tl import ptb of an empty folder: exit %d: %s", code, errOut)
		}

		// text8: one line; --vocab 3 keeps UNK and the two most common words.
		t8 := filepath.Join(t.TempDir(), "text8")
		if err := os.WriteFile(t8, []byte(" anarchism originated as a term of abuse as a term"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errOut = tl("import", "text8", t8, "--vocab", "3", "--window", "3", "--define", "t8", "--quiet")
		if code != 0 || !strings.Contains(out, "defined dataset t8-train: tags=train prefix=text8/ (4 samples)") {
			t.Fatalf("tl import text8: exit %d: %s%s", code, out, errOut)
		}
		corpus, err := formats.ReadText8(ctx, t8, 3)
		if err != nil {
			t.Fatal(err)
		}
		if got := tokenIDs(t, c, "t8-train"); !slices.Equal(got, corpus.IDs) || corpus.Vocab.Unk != 0 {
			t.Errorf("text8 read back %v, want %v", got, corpus.IDs)
		}
		v, err = c.Get(ctx, "text8/vocab")
		if err != nil || !strings.HasPrefix(string(v.Bytes), "UNK\t6\na\t2\n") {
			t.Errorf("text8 vocabulary: %v %q", err, v.Bytes)
		}
	})
}

// writeCIFAR writes n records of CIFAR-10's binary format: image i has pixel
// p = (i+p) mod 251, label i mod 10.
func writeCIFAR(t *testing.T, path string, n, first int) *formats.Images {
	t.Helper()
	im := &formats.Images{N: n, H: 32, W: 32, C: 3, Pixels: make([]uint8, n*32*32*3), Labels: make([]int32, n)}
	for i := range n {
		im.Labels[i] = int32((first + i) % 10)
		px := im.Image(i)
		for p := range px {
			px[p] = uint8((first + i + p) % 251)
		}
	}
	var b bytes.Buffer
	if err := formats.EncodeCIFAR10(&b, im); err != nil {
		t.Fatal(err)
	}
	if b.Len() != n*3073 {
		t.Fatalf("%d bytes for %d records, want 3073 each", b.Len(), n)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return im
}

func TestImportCIFAR(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		db, conn := isolatedStore(t, b, "vision")
		tl := tlWith(t, conn)
		ctx := context.Background()
		c := openSamples(t, db)
		dir := t.TempDir()
		train := writeCIFAR(t, filepath.Join(dir, "data_batch_2.bin"), 5, 0) // a subset: batch 2 alone
		test := writeCIFAR(t, filepath.Join(dir, "test_batch.bin"), 3, 7)
		code, out, errOut := tl("import", "cifar", dir, "--define", "c10")
		if code != 0 {
			t.Fatalf("tl import cifar: exit %d: %s%s", code, out, errOut)
		}
		for _, w := range []string{"inserted 8, skipped 0", "data_batch_2 (train, 5), test_batch (test, 3)",
			"defined dataset c10-train: tags=train prefix=cifar10/ (5 samples)", "defined dataset c10-test: tags=test prefix=cifar10/ (3 samples)"} {
			if !strings.Contains(out, w) {
				t.Errorf("tl import cifar: output lacks %q:\n%s", w, out)
			}
		}
		for _, tc := range []struct {
			key string
			im  *formats.Images
			i   int
		}{{"cifar10/data_batch_2/0003", train, 3}, {"cifar10/test_batch/0002", test, 2}} {
			s, err := c.Get(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			l := int(tc.im.Labels[tc.i])
			if !slices.Equal(s.Tensor.Shape, []int{32, 32, 3}) || !bytes.Equal(s.Tensor.Uint8, tc.im.Image(tc.i)) ||
				s.Label != l || s.LabelName != formats.CIFAR10Classes()[l] {
				t.Errorf("%s: shape %v, label %d %q, pixels equal %v; want label %d", tc.key, s.Tensor.Shape, s.Label, s.LabelName,
					bytes.Equal(s.Tensor.Uint8, tc.im.Image(tc.i)), l)
			}
		}
		if code, out, _ := tl("import", "cifar", dir, "--quiet"); code != 0 || !strings.Contains(out, "inserted 0, skipped 8") {
			t.Errorf("rerun: exit %d: %s", code, out)
		}

		// A truncated batch: the error names the file and the record; nothing
		// of the good batch beside it is written.
		bad := t.TempDir()
		writeCIFAR(t, filepath.Join(bad, "data_batch_1.bin"), 2, 0)
		writeCIFAR(t, filepath.Join(bad, "test_batch.bin"), 2, 0)
		if err := os.Truncate(filepath.Join(bad, "test_batch.bin"), 3073+100); err != nil {
			t.Fatal(err)
		}
		before, _ := c.All().Count(ctx)
		code, _, errOut = tl("import", "cifar", bad, "--prefix", "bad/", "--quiet")
		if code == 0 || !strings.Contains(errOut, "test_batch.bin") || !strings.Contains(errOut, "offset 3073") || !strings.Contains(errOut, "record 1") {
			t.Errorf("tl import cifar of a truncated batch: exit %d: %s", code, errOut)
		}
		if after, _ := c.All().Count(ctx); after != before {
			t.Errorf("the failed import wrote %d samples", after-before)
		}
		code, _, errOut = tl("import", "cifar", t.TempDir(), "--quiet")
		if code == 0 || !strings.Contains(errOut, "no CIFAR-10 batch") || !strings.Contains(errOut, "data_batch_1.bin") {
			t.Errorf("tl import cifar of an empty folder: exit %d: %s", code, errOut)
		}
	})
}

func TestImportFormatsHelp(t *testing.T) {
	for _, sub := range []string{"cifar", "ptb", "text8"} {
		code, out, _ := runTL("import", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage:\n  tl import "+sub) || !strings.Contains(out, "--define") || !strings.Contains(out, "Examples:") {
			t.Errorf("tl import %s --help: exit %d: %q", sub, code, out)
		}
	}
}
