package formats

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CIFAR-10 record layout: one label byte, then 32×32 pixels of red, of green and
// of blue (planar, row-major).
const (
	cifarSide   = 32
	cifarPixels = cifarSide * cifarSide * 3
	cifarRecord = 1 + cifarPixels
)

// CIFAR10Classes returns the names of CIFAR-10's labels (a new slice each
// call), used when the directory has no batches.meta.txt.
func CIFAR10Classes() []string {
	return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
}

// CIFAR10 reads a split of the CIFAR-10 binary version from dir (the
// cifar-10-batches-bin folder): data_batch_1.bin to data_batch_5.bin for Train,
// test_batch.bin for Test. Class names come from batches.meta.txt when present.
func CIFAR10(ctx context.Context, dir string, split Split) (*Images, error) {
	var files, missing []string
	switch split {
	case Train:
		// The batches present, in order: a subset (data_batch_1.bin alone,
		// say) is a smaller training set, not an error.
		for i := 1; i <= 5; i++ {
			f := filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i))
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, filepath.Base(f))
				continue
			}
			files = append(files, f)
		}
	case Test:
		f := filepath.Join(dir, "test_batch.bin")
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, filepath.Base(f))
		} else {
			files = []string{f}
		}
	default:
		return nil, fmt.Errorf("formats: CIFAR10: split %q, want %q or %q", split, Train, Test)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("formats: CIFAR10 %s split: no batch file in %s (looked for %s; the folder is the binary version's cifar-10-batches-bin): %w",
			split, dir, strings.Join(missing, ", "), os.ErrNotExist)
	}
	im, err := ReadCIFAR10(ctx, files...)
	if err != nil {
		return nil, err
	}
	im.Classes = CIFAR10Classes()
	if b, err := os.ReadFile(filepath.Join(dir, "batches.meta.txt")); err == nil {
		var names []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				names = append(names, l)
			}
		}
		if len(names) == 10 {
			im.Classes = names
		}
	}
	return im, nil
}

// ReadCIFAR10 reads CIFAR-10 binary batch files, in order, into one image set of
// 32×32×3 images (HWC).
func ReadCIFAR10(ctx context.Context, paths ...string) (*Images, error) {
	// The files' sizes first, so that the images of every batch take one
	// allocation rather than a copy per batch.
	var records int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			records += st.Size() / cifarRecord
		}
	}
	out := &Images{H: cifarSide, W: cifarSide, C: 3, Pixels: make([]uint8, 0, records*cifarPixels), Labels: make([]int32, 0, records)}
	for _, p := range paths {
		if err := readCIFARFile(ctx, p, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readCIFARFile(ctx context.Context, path string, out *Images) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("formats: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("formats: %w", err)
	}
	return decodeCIFAR(ctx, fh, st.Size(), path, out)
}

// decodeCIFAR appends to out the records of a batch of size bytes read from r
// (a file, whose size is known before it is read).
func decodeCIFAR(ctx context.Context, r io.Reader, size int64, name string, out *Images) error {
	if size == 0 {
		return &FormatError{File: name, Offset: 0, Want: fmt.Sprintf("records of %d bytes, the file is empty", cifarRecord), Err: io.ErrUnexpectedEOF}
	}
	if rem := size % cifarRecord; rem != 0 {
		n := size / cifarRecord
		return &FormatError{File: name, Offset: n * cifarRecord, Want: fmt.Sprintf("record %d to be %d bytes, the file ends after %d (a %d-byte file is not a whole number of records)", n, cifarRecord, rem, size), Err: io.ErrUnexpectedEOF}
	}
	n := int(size / cifarRecord)
	base := out.N
	out.Pixels = slices.Grow(out.Pixels, n*cifarPixels)[:(base+n)*cifarPixels]
	out.Labels = slices.Grow(out.Labels, n)[:base+n]
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 1<<20)
	var rec [cifarRecord]byte
	for i := 0; i < n; i++ {
		off := int64(i) * cifarRecord
		if m, err := io.ReadFull(br, rec[:]); err != nil {
			out.Pixels, out.Labels = out.Pixels[:base*cifarPixels], out.Labels[:base]
			if ctx.Err() != nil {
				return wrapCtx(name, ctx.Err())
			}
			return &FormatError{File: name, Offset: off + int64(m), Want: fmt.Sprintf("record %d of %d bytes", i, cifarRecord), Err: eofAsUnexpected(err)}
		}
		if rec[0] >= 10 {
			out.Pixels, out.Labels = out.Pixels[:base*cifarPixels], out.Labels[:base]
			return &FormatError{File: name, Offset: off, Want: fmt.Sprintf("a label byte in [0, 10) for record %d, got %d", i, rec[0])}
		}
		out.Labels[base+i] = int32(rec[0])
		dst := out.Pixels[(base+i)*cifarPixels : (base+i+1)*cifarPixels]
		const plane = cifarSide * cifarSide
		for p := 0; p < plane; p++ {
			dst[3*p] = rec[1+p]
			dst[3*p+1] = rec[1+plane+p]
			dst[3*p+2] = rec[1+2*plane+p]
		}
	}
	out.N += n
	return nil
}

// EncodeCIFAR10 writes images (32×32×3, HWC) as CIFAR-10 binary records. Tests
// use it to make small files in the real format.
func EncodeCIFAR10(w io.Writer, im *Images) error {
	if im.H != cifarSide || im.W != cifarSide || im.C != 3 {
		return fmt.Errorf("formats: EncodeCIFAR10: images are %d×%d×%d, want 32×32×3", im.H, im.W, im.C)
	}
	if err := im.Check(10); err != nil {
		return fmt.Errorf("formats: EncodeCIFAR10: %w", err)
	}
	bw := bufio.NewWriter(w)
	var rec [cifarRecord]byte
	const plane = cifarSide * cifarSide
	for i := 0; i < im.N; i++ {
		rec[0] = byte(im.Labels[i])
		src := im.Image(i)
		for p := 0; p < plane; p++ {
			rec[1+p], rec[1+plane+p], rec[1+2*plane+p] = src[3*p], src[3*p+1], src[3*p+2]
		}
		bw.Write(rec[:])
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("formats: EncodeCIFAR10: %w", err)
	}
	return nil
}
