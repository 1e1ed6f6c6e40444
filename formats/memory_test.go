package formats

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// allocated returns the bytes fn allocates (cumulatively: freed memory counts).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const allocBound = 10 << 20 // what a tiny input may cost, whatever it claims

// A tiny input whose header claims 2^31 bytes of data fails at once, with an
// error that says what was claimed and what is there, and allocates little:
// plain or gzipped, with the input's size known or not.
func TestIDXHugeClaimAllocatesLittle(t *testing.T) {
	claim := []byte{0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3} // uint8 × 2^31, 3 bytes present
	plainZeros := append([]byte{0, 0, 8, 1, 0x80, 0, 0, 0}, make([]byte, 8<<20)...)
	for _, c := range []struct {
		name   string
		data   []byte
		want   string
		exists uint64 // bytes of data really there, which a reader that cannot know the size reads
	}{
		{"plain", claim, "2147483648 bytes of uint8 data for dimensions [2147483648], the file ends after 3", 3},
		{"gzip", gzipped(claim), "more than a", 3},
		{"gzip of 8 MiB", gzipped(plainZeros), "more than a", 8 << 20},
	} {
		for _, sized := range []bool{true, false} {
			var r io.Reader = bytes.NewReader(c.data)
			want := c.want
			if !sized {
				r = onlyReader{r}
				want = "the file ends after"
			}
			var err error
			start := time.Now()
			n := allocated(func() { _, err = DecodeIDX(context.Background(), r, "huge.idx") })
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "huge.idx") {
				t.Errorf("%s (size known %v): %v; want an unexpected EOF naming the file and %q", c.name, sized, err, want)
			}
			bound := uint64(allocBound)
			if !sized {
				bound += 2 * c.exists // a buffer that doubles as the data comes
			}
			if n > bound {
				t.Errorf("%s (size known %v): allocated %d bytes, want at most %d", c.name, sized, n, bound)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s (size known %v): took %v", c.name, sized, d)
			}
		}
	}
}

// A gzip stream that expands far past what its header declares (a 16-byte
// header, then 64 MiB of zeros; or 4 MiB of noise, which does not compress) is
// decompressed only up to the declared size and one byte more.
func TestIDXGzipBoundedByHeader(t *testing.T) {
	head := encodedIDX(&IDX{Type: IDXUint8, Dims: []int{16}, Data: make([]byte, 16)})
	noise := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, c := range []struct {
		name string
		bomb []byte
	}{
		{"zeros", gzipped(append(slices.Clone(head), make([]byte, 64<<20)...))},
		{"noise", gzipped(append(slices.Clone(head), noise...))},
	} {
		for _, sized := range []bool{true, false} {
			br := bytes.NewReader(c.bomb)
			var r io.Reader = br
			if !sized {
				r = onlyReader{r}
			}
			var err error
			n := allocated(func() { _, err = DecodeIDX(context.Background(), r, "bomb.gz") })
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset != 8+16 || !strings.Contains(err.Error(), "the end of the file after 16 bytes") {
				t.Errorf("%s, size known %v: %v; want the end of the file at offset 24", c.name, sized, err)
			}
			if n > allocBound {
				t.Errorf("%s, size known %v: allocated %d bytes", c.name, sized, n)
			}
			if c.name == "noise" && br.Len() < 3<<20 {
				t.Errorf("size known %v: read %d of %d compressed bytes", sized, len(c.bomb)-br.Len(), len(c.bomb))
			}
		}
	}
}

// A file that holds what its header declares is read with one allocation of
// that size (a gzip file whose trailer agrees, or a plain file), not with a
// growing buffer's copies.
func TestIDXExactAllocation(t *testing.T) {
	const size = 20 << 20 // more than the first chunk of a growing buffer
	f := &IDX{Type: IDXUint8, Dims: []int{size}, Data: bytes.Repeat([]byte{7}, size)}
	dir := t.TempDir()
	for _, zip := range []bool{false, true} {
		data := encodedIDX(f)
		if zip {
			data = gzipped(data)
		}
		p := filepath.Join(dir, "f.idx")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var got *IDX
		var err error
		n := allocated(func() { got, err = ReadIDX(context.Background(), p) })
		if err != nil || !bytes.Equal(got.Data, f.Data) {
			t.Fatalf("gzip %v: %v", zip, err)
		}
		if n > size+1<<20 {
			t.Errorf("gzip %v: %d bytes allocated to read %d", zip, n, size)
		}
	}
}

// The labels are read first and the image file's header is checked against
// them before its pixels are: a label file of 2 and an image file that claims
// 1000 images of 1000×1000 fail without allocating a gigabyte.
func TestIDXImagesHeaderCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	lab := filepath.Join(dir, "labels")
	img := filepath.Join(dir, "images")
	writeFile(t, lab, encodedIDX(&IDX{Type: IDXUint8, Dims: []int{2}, Data: []byte{1, 2}}))
	writeFile(t, img, gzipped([]byte{0, 0, 8, 3, 0, 0, 3, 0xe8, 0, 0, 3, 0xe8, 0, 0, 3, 0xe8}))
	var err error
	n := allocated(func() { _, err = ReadIDXImages(context.Background(), img, lab) })
	if err == nil || !strings.Contains(err.Error(), "1000 images but") {
		t.Fatalf("got %v; want a count mismatch", err)
	}
	if n > allocBound {
		t.Fatalf("allocated %d bytes", n)
	}
}
