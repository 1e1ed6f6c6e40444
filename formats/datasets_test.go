package formats

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/internal/testenv"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func idxBytes(t *testing.T, f *IDX) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := EncodeIDX(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// smallMNIST writes a 3-image, 2×2 MNIST split in dir, gzipped or not.
func smallMNIST(t *testing.T, dir string, zip bool) {
	t.Helper()
	img := idxBytes(t, &IDX{Type: IDXUint8, Dims: []int{3, 2, 2}, Data: []byte{0, 1, 2, 3, 10, 11, 12, 13, 250, 251, 252, 255}})
	lab := idxBytes(t, &IDX{Type: IDXUint8, Dims: []int{3}, Data: []byte{7, 0, 9}})
	suffix := ""
	if zip {
		img, lab, suffix = gz(t, img), gz(t, lab), ".gz"
	}
	writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"+suffix), img)
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"+suffix), lab)
}

func TestMNISTPlainAndGzip(t *testing.T) {
	for _, zip := range []bool{false, true} {
		dir := t.TempDir()
		smallMNIST(t, dir, zip)
		im, err := FashionMNIST(context.Background(), dir, Test)
		if err != nil {
			t.Fatalf("gzip=%v: %v", zip, err)
		}
		if im.N != 3 || im.H != 2 || im.W != 2 || im.C != 1 {
			t.Fatalf("gzip=%v: got %d×%d×%d×%d, want 3×2×2×1", zip, im.N, im.H, im.W, im.C)
		}
		if !slices.Equal(im.Labels, []int32{7, 0, 9}) || !bytes.Equal(im.Image(2), []byte{250, 251, 252, 255}) {
			t.Fatalf("gzip=%v: labels %v, image 2 %v", zip, im.Labels, im.Image(2))
		}
		if im.Classes[9] != "Ankle boot" {
			t.Fatalf("class 9 = %q", im.Classes[9])
		}
		if err := im.Check(10); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIDXErrors(t *testing.T) {
	good := idxBytes(t, &IDX{Type: IDXUint8, Dims: []int{2, 3}, Data: []byte{1, 2, 3, 4, 5, 6}})
	huge := []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2}
	claimsMore := []byte{0, 0, 8, 1, 0x40, 0, 0, 0, 1, 2, 3} // 1 GiB claimed, 3 bytes present
	cases := []struct {
		name       string
		data       []byte
		offset     int64
		want       string
		unexpected bool
	}{
		{"empty", nil, 0, "magic", true},
		{"bad magic", []byte{1, 2, 3, 4, 0, 0, 0, 0}, 0, "magic", false},
		{"cut in dims", good[:6], 6, "dimension 0", true},
		{"cut in data", good[:len(good)-2], int64(len(good) - 2), "6 bytes", true},
		{"trailing", append(slices.Clone(good), 9), int64(len(good)), "end of the file", false},
		{"huge dims", huge, 8, "at most", false},
		{"claims more", claimsMore, 11, "1073741824 bytes", true},
	}
	for _, c := range cases {
		for _, zip := range []bool{false, true} {
			data := c.data
			if zip {
				data = gz(t, data)
			}
			_, err := DecodeIDX(context.Background(), bytes.NewReader(data), "f.idx")
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("%s (gzip %v): got %v, want a *FormatError", c.name, zip, err)
			}
			offset := c.offset
			if zip && c.name == "claims more" {
				offset = 8 // a 35-byte gzip stream cannot expand to 1 GiB: known before reading the data
			}
			if fe.Offset != offset || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "f.idx") {
				t.Errorf("%s (gzip %v): %v; want offset %d and %q", c.name, zip, err, offset, c.want)
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF); got != c.unexpected {
				t.Errorf("%s (gzip %v): errors.Is(err, io.ErrUnexpectedEOF) = %v, want %v", c.name, zip, got, c.unexpected)
			}
		}
	}
}

func TestIDXTruncatedGzipStream(t *testing.T) {
	good := gz(t, idxBytes(t, &IDX{Type: IDXInt32, Dims: []int{100}, Data: make([]byte, 400)}))
	for cut := 1; cut <= 8; cut++ { // the trailer is a CRC-32 and the size
		_, err := DecodeIDX(context.Background(), bytes.NewReader(good[:len(good)-cut]), "cut.gz")
		if err == nil || !strings.Contains(err.Error(), "cut.gz") || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a gzip stream without its last %d bytes: got %v, want an unexpected EOF naming the file", cut, err)
		}
	}
	bad := slices.Clone(good)
	bad[len(bad)-5] ^= 1 // the CRC
	if _, err := DecodeIDX(context.Background(), bytes.NewReader(bad), "crc.gz"); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("a bad CRC: got %v", err)
	}
}

func TestMNISTMismatchAndMissing(t *testing.T) {
	dir := t.TempDir()
	smallMNIST(t, dir, false)
	writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), idxBytes(t, &IDX{Type: IDXUint8, Dims: []int{2}, Data: []byte{1, 2}}))
	if _, err := MNIST(context.Background(), dir, Test); err == nil || !strings.Contains(err.Error(), "3 images but") {
		t.Fatalf("3 images, 2 labels: got %v", err)
	}
	if _, err := MNIST(context.Background(), dir, Train); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing train files: got %v, want os.ErrNotExist", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MNIST(ctx, dir, Test); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: got %v", err)
	}
}

func TestRealFashionMNIST(t *testing.T) {
	_, err := os.Stat(filepath.Join(FashionMNISTDir, "t10k-images-idx3-ubyte.gz"))
	testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist)", err)
	im, err := FashionMNIST(context.Background(), FashionMNISTDir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 10000 || im.H != 28 || im.W != 28 || im.C != 1 {
		t.Fatalf("got %d×%d×%d×%d, want 10000×28×28×1", im.N, im.H, im.W, im.C)
	}
	if err := im.Check(10); err != nil {
		t.Fatal(err)
	}
	var per [10]int
	for _, l := range im.Labels {
		per[l]++
	}
	for c, n := range per {
		if n != 1000 {
			t.Errorf("class %d has %d test images, want 1000", c, n)
		}
	}
}

func cifarImages(n int) *Images {
	im := &Images{N: n, H: 32, W: 32, C: 3, Pixels: make([]uint8, n*3072), Labels: make([]int32, n)}
	for i := range im.Pixels {
		im.Pixels[i] = uint8(i * 7 % 251)
	}
	for i := range im.Labels {
		im.Labels[i] = int32(i % 10)
	}
	return im
}

func TestCIFAR10RoundTripAndLayout(t *testing.T) {
	dir := t.TempDir()
	im := cifarImages(4)
	var buf bytes.Buffer
	if err := EncodeCIFAR10(&buf, im); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	// The file is planar: record 1's green plane starts 1+1024 bytes into it, and
	// holds the G of each HWC pixel.
	if raw[3073+1+1024+5] != im.Image(1)[3*5+1] {
		t.Fatalf("record layout is not CHW")
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), raw)
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n"))
	got, err := CIFAR10(context.Background(), dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 4 || !bytes.Equal(got.Pixels, im.Pixels) || !slices.Equal(got.Labels, im.Labels) || got.Classes[9] != "j" {
		t.Fatalf("round trip differs: N=%d classes=%v", got.N, got.Classes)
	}
	for i := 1; i <= 5; i++ {
		writeFile(t, filepath.Join(dir, "data_batch_"+string(rune('0'+i))+".bin"), raw)
	}
	tr, err := CIFAR10(context.Background(), dir, Train)
	if err != nil || tr.N != 20 || !bytes.Equal(tr.Image(19), im.Image(3)) {
		t.Fatalf("train split: %v, N=%v", err, tr)
	}
}

func TestCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	EncodeCIFAR10(&buf, cifarImages(3))
	raw := buf.Bytes()
	cut := filepath.Join(dir, "cut.bin")
	writeFile(t, cut, raw[:2*3073+100])
	_, err := ReadCIFAR10(context.Background(), cut)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != 2*3073 || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "cut.bin") || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("truncated: %v", err)
	}
	bad := filepath.Join(dir, "bad.bin")
	corrupt := slices.Clone(raw)
	corrupt[3073] = 200
	writeFile(t, bad, corrupt)
	if _, err := ReadCIFAR10(context.Background(), bad); !errors.As(err, &fe) || fe.Offset != 3073 || !strings.Contains(err.Error(), "label") {
		t.Fatalf("bad label: %v", err)
	}
	empty := filepath.Join(dir, "empty.bin")
	writeFile(t, empty, nil)
	if _, err := ReadCIFAR10(context.Background(), empty); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("empty: %v", err)
	}
}

func TestPTB(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ptb.train.txt"), []byte(" the cat sat \n the dog <unk> \n"))
	writeFile(t, filepath.Join(dir, "ptb.valid.txt"), []byte(" the cat \n"))
	writeFile(t, filepath.Join(dir, "ptb.test.txt"), []byte(" a zebra sat \n"))
	p, err := ReadPTB(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	// Frequencies: <eos> 2, the 2, then <unk> cat dog sat once each (byte order).
	wantWords := []string{"<eos>", "the", "<unk>", "cat", "dog", "sat"}
	if !slices.Equal(p.Vocab.Words, wantWords) {
		t.Fatalf("vocabulary %v, want %v", p.Vocab.Words, wantWords)
	}
	if !slices.Equal(p.Train, []int32{1, 3, 5, 0, 1, 4, 2, 0}) || !slices.Equal(p.Valid, []int32{1, 3, 0}) {
		t.Fatalf("train %v valid %v", p.Train, p.Valid)
	}
	if !slices.Equal(p.Test, []int32{2, 2, 5, 0}) {
		t.Fatalf("test %v: unknown words should map to <unk> (2)", p.Test)
	}
}

func TestPTBWithoutUnkRejectsUnknownWords(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ptb.train.txt"), []byte("a b\n"))
	writeFile(t, filepath.Join(dir, "ptb.valid.txt"), []byte("a\n"))
	writeFile(t, filepath.Join(dir, "ptb.test.txt"), []byte("a c\n"))
	_, err := ReadPTB(context.Background(), dir)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != 2 || !strings.Contains(err.Error(), "ptb.test.txt") || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("got %v", err)
	}
}

func TestText8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "text8")
	writeFile(t, path, []byte(" b a b c b a d e"))
	c, err := ReadText8(context.Background(), path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Vocab.Words, []string{"UNK", "b", "a"}) || !slices.Equal(c.Vocab.Counts, []int{3, 3, 2}) {
		t.Fatalf("vocabulary %v counts %v", c.Vocab.Words, c.Vocab.Counts)
	}
	if !slices.Equal(c.IDs, []int32{1, 2, 1, 0, 1, 2, 0, 0}) {
		t.Fatalf("ids %v", c.IDs)
	}
	ids, err := c.Vocab.Encode([]string{"a", "zzz"})
	if err != nil || !slices.Equal(ids, []int32{2, 0}) {
		t.Fatalf("Encode: %v %v", ids, err)
	}
}

func TestTextRejectsBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "text8")
	writeFile(t, path, gz(t, []byte("hello world")))
	_, err := ReadText8(context.Background(), path, 10)
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "text8") {
		t.Fatalf("a gzipped text8: got %v, want a FormatError", err)
	}
	writeFile(t, path, nil)
	if _, err := ReadText8(context.Background(), path, 10); err == nil || !strings.Contains(err.Error(), "at least one word") {
		t.Fatalf("empty text8: %v", err)
	}
}

// Text8 with every word kept has no UNK; with fewer kept, UNK is id 0 and
// takes the rest.
func TestText8UnkOnlyWhenUsed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "text8")
	writeFile(t, path, []byte("b a b c b a"))
	for _, c := range []struct {
		size    int
		words   []string
		unkID   int32
		unknown int
	}{
		{0, []string{"b", "a", "c"}, -1, 0},
		{4, []string{"b", "a", "c"}, -1, 0},
		{3, []string{"UNK", "b", "a"}, 0, 1},
	} {
		corp, err := ReadText8(context.Background(), path, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(corp.Vocab.Words, c.words) || corp.Vocab.Unk != c.unkID {
			t.Errorf("size %d: words %v, unk %d; want %v, %d", c.size, corp.Vocab.Words, corp.Vocab.Unk, c.words, c.unkID)
		}
		n := 0
		for _, id := range corp.IDs {
			if id == c.unkID {
				n++
			}
		}
		if n != c.unknown {
			t.Errorf("size %d: %d words mapped to UNK; want %d", c.size, n, c.unknown)
		}
	}
}

// A CIFAR-10 folder with only some training batches reads those; with none,
// the error names the folder and the files looked for.
func TestCIFAR10Subset(t *testing.T) {
	dir := t.TempDir()
	rec := make([]byte, 3073)
	rec[0] = 7
	writeFile(t, filepath.Join(dir, "data_batch_2.bin"), append(rec, rec...))
	im, err := CIFAR10(context.Background(), dir, Train)
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 2 {
		t.Errorf("read %d images from one batch of 2; want 2", im.N)
	}
	_, err = CIFAR10(context.Background(), dir, Test)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "test_batch.bin") || !strings.Contains(err.Error(), dir) {
		t.Errorf("no test batch: %v; want ErrNotExist naming %s and test_batch.bin", err, dir)
	}
}
