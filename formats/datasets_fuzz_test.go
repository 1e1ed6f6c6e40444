package formats

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func encodedIDX(f *IDX) []byte {
	var buf bytes.Buffer
	if err := EncodeIDX(&buf, f); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// onlyReader hides a reader's size, as a network stream would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// DecodeIDX never panics, plain or gzipped, whether it knows the input's size or
// not; both ways agree; a decoded file is consistent and encodes back to the
// bytes it came from; every error is a *FormatError.
func FuzzDecodeIDX(f *testing.F) {
	small := encodedIDX(&IDX{Type: IDXUint8, Dims: []int{2, 2}, Data: []byte{1, 2, 3, 4}})
	f.Add(small)
	f.Add(gzipped(small))
	f.Add(encodedIDX(&IDX{Type: IDXFloat32, Dims: []int{1}, Data: []byte{0x3f, 0x80, 0, 0}}))
	f.Add(encodedIDX(&IDX{Type: IDXInt16, Dims: []int{0, 7}, Data: nil}))
	f.Add(encodedIDX(&IDX{Type: IDXFloat64, Dims: []int{1, 1, 1}, Data: make([]byte, 8)}))
	f.Add([]byte{0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3})                  // claims 2^31 bytes
	f.Add(gzipped([]byte{0, 0, 8, 1, 0x80, 0, 0, 0, 1, 2, 3}))         // the same, gzipped
	f.Add(gzipped(append(slices.Clone(small), make([]byte, 4096)...))) // expands past the data
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		im, err := DecodeIDX(ctx, bytes.NewReader(b), "fuzz")
		im2, err2 := DecodeIDX(ctx, onlyReader{bytes.NewReader(b)}, "fuzz")
		if (err == nil) != (err2 == nil) {
			t.Fatalf("with the size known: %v; without: %v", err, err2)
		}
		if err != nil {
			for _, e := range []error{err, err2} {
				var fe *FormatError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FormatError", e)
				}
				if fe.Offset < 0 || !strings.Contains(e.Error(), "fuzz") {
					t.Fatalf("error %v: offset %d, or no file name", e, fe.Offset)
				}
			}
			return
		}
		if !slices.Equal(im.Dims, im2.Dims) || !bytes.Equal(im.Data, im2.Data) || im.Type != im2.Type {
			t.Fatalf("two readings differ: %v %v and %v %v", im.Type, im.Dims, im2.Type, im2.Dims)
		}
		if len(im.Data) != im.Len()*im.Type.Size() {
			t.Fatalf("%d bytes for dimensions %v of %v", len(im.Data), im.Dims, im.Type)
		}
		enc := encodedIDX(im)
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			again, err := DecodeIDX(ctx, bytes.NewReader(enc), "again")
			if err != nil || !bytes.Equal(again.Data, im.Data) || !slices.Equal(again.Dims, im.Dims) {
				t.Fatalf("re-decoding the encoded file: %v", err)
			}
		} else if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding gives %x, want %x", enc, b)
		}
	})
}

func cifarRecordBytes(label byte, fill byte) []byte {
	rec := make([]byte, cifarRecord)
	rec[0] = label
	for i := 1; i < len(rec); i++ {
		rec[i] = fill + byte(i)
	}
	return rec
}

// A CIFAR-10 batch decodes to consistent images that encode back to the same
// bytes; every error is a *FormatError, and a failed batch leaves the images
// it was appended to as they were.
func FuzzDecodeCIFAR(f *testing.F) {
	var buf bytes.Buffer
	EncodeCIFAR10(&buf, cifarImages(2))
	f.Add(buf.Bytes(), uint8(0))
	f.Add(cifarRecordBytes(9, 3), uint8(1))
	f.Add(cifarRecordBytes(10, 0), uint8(0))
	f.Add(cifarRecordBytes(1, 0)[:100], uint8(0))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, before uint8) {
		// The fuzzer mutates lengths by a few bytes; build whole records from
		// the prefix so that the decoding loop, not only the size check, runs.
		if len(b) > 0 && len(b) < cifarRecord && before%2 == 1 {
			b = bytes.Repeat(b, cifarRecord/len(b)+1)[:cifarRecord]
		}
		out := &Images{H: cifarSide, W: cifarSide, C: 3}
		if before > 1 {
			prev := cifarImages(1)
			out.N, out.Pixels, out.Labels = 1, slices.Clone(prev.Pixels), slices.Clone(prev.Labels)
		}
		n0 := out.N
		err := decodeCIFAR(context.Background(), bytes.NewReader(b), int64(len(b)), "fuzz.bin", out)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "fuzz.bin") {
				t.Fatalf("error %v is not a *FormatError naming the file", err)
			}
			if out.N != n0 || out.Check(10) != nil {
				t.Fatalf("a failed batch changed the images: %d -> %d, %v", n0, out.N, out.Check(10))
			}
			return
		}
		if err := out.Check(10); err != nil {
			t.Fatalf("decoded images are inconsistent: %v", err)
		}
		if out.N != n0+len(b)/cifarRecord {
			t.Fatalf("%d images from %d bytes", out.N-n0, len(b))
		}
		tail, err := out.Slice(n0, out.N)
		if err != nil {
			t.Fatal(err)
		}
		var enc bytes.Buffer
		if err := EncodeCIFAR10(&enc, tail); err != nil {
			t.Fatalf("EncodeCIFAR10: %v", err)
		}
		if !bytes.Equal(enc.Bytes(), b) {
			t.Fatal("re-encoding gives other bytes")
		}
	})
}

// checkVocab checks what every decoded text must satisfy: ids in range, the
// vocabulary sorted by decreasing count, counts that add up.
func checkVocab(t *testing.T, v *Vocab, ids []int32) {
	t.Helper()
	if len(v.Words) != len(v.Counts) || v.Len() == 0 {
		t.Fatalf("%d words, %d counts", len(v.Words), len(v.Counts))
	}
	for i, w := range v.Words {
		if id, ok := v.ID(w); !ok || int(id) != i {
			t.Fatalf("word %d %q maps to %d, %v", i, w, id, ok)
		}
		if i > 0 && i != int(v.Unk)+1 && int(v.Unk) != i && v.Counts[i] > v.Counts[i-1] {
			t.Fatalf("vocabulary not sorted by count at %d: %v", i, v.Counts)
		}
	}
	for _, id := range ids {
		if id < 0 || int(id) >= v.Len() {
			t.Fatalf("id %d outside a vocabulary of %d", id, v.Len())
		}
	}
}

// text8: a checked text decodes to ids whose words are the text's tokens
// (or UNK), with counts that add up to the number of tokens.
func FuzzDecodeText8(f *testing.F) {
	f.Add([]byte(" anarchism originated as a term of abuse first used against early working class"), 5)
	f.Add([]byte("a a a b b c\n"), 0)
	f.Add([]byte("UNK UNK a"), 2)
	f.Add([]byte("\x00binary"), 3)
	f.Add([]byte("caf\xc3\xa9 \xff"), 3)
	f.Add([]byte("   \t\r\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		if err := checkText("fuzz.txt", b); err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset < 0 || fe.Offset >= int64(len(b)) {
				t.Fatalf("checkText: %v", err)
			}
			return
		}
		if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
			t.Fatal("checkText passed a text with a NUL byte or bad UTF-8")
		}
		c, err := decodeText8(b, "fuzz.txt", size)
		words := tokens(b)
		if err != nil {
			if len(words) != 0 {
				t.Fatalf("decodeText8 of %d words: %v", len(words), err)
			}
			return
		}
		checkVocab(t, c.Vocab, c.IDs)
		if len(c.IDs) != len(words) {
			t.Fatalf("%d ids for %d words", len(c.IDs), len(words))
		}
		if size > 0 && c.Vocab.Len() > max(size, 1) {
			t.Fatalf("vocabulary of %d words, asked for %d", c.Vocab.Len(), size)
		}
		total := 0
		for _, n := range c.Vocab.Counts {
			total += n
		}
		if total != len(words) {
			t.Fatalf("counts add up to %d, the text has %d words", total, len(words))
		}
		for i, id := range c.IDs {
			if w := c.Vocab.Words[id]; w != words[i] && id != c.Vocab.Unk {
				t.Fatalf("word %d is %q, decoded as %q", i, words[i], w)
			}
		}
	})
}

// PTB: every token of the training text is in the vocabulary; the other texts
// decode or name the first word that is not.
func FuzzDecodePTB(f *testing.F) {
	f.Add([]byte(" the cat sat \n on the mat \n"), []byte(" the cat \n"), []byte(" <unk> dog \n"))
	f.Add([]byte("a <unk>\n"), []byte("b\n"), []byte(""))
	f.Add([]byte("\n\n"), []byte("a"), []byte("a"))
	f.Fuzz(func(t *testing.T, train, valid, test []byte) {
		texts := [3][]byte{train, valid, test}
		names := [3]string{"train.txt", "valid.txt", "test.txt"}
		for i := range texts {
			if checkText(names[i], texts[i]) != nil {
				return
			}
		}
		p, err := decodePTB(texts, names)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		checkVocab(t, p.Vocab, p.Train)
		checkVocab(t, p.Vocab, p.Valid)
		checkVocab(t, p.Vocab, p.Test)
		want := len(tokens(train)) + bytes.Count(train, []byte("\n"))
		if len(p.Train) != want {
			t.Fatalf("%d training ids for %d tokens", len(p.Train), want)
		}
		if p.Vocab.Unk >= 0 && p.Vocab.Words[p.Vocab.Unk] != "<unk>" {
			t.Fatalf("unknown-word id %d is %q", p.Vocab.Unk, p.Vocab.Words[p.Vocab.Unk])
		}
	})
}

// tokens splits as the readers do: on spaces, tabs and line breaks only.
func tokens(b []byte) []string {
	return strings.FieldsFunc(string(b), func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}
