package formats

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ctxReader stops reading once its context is done, so a long read can be
// cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type gzReadCloser struct {
	*gzip.Reader
	closed bool
}

// Close reports a bad gzip trailer only once.
func (g *gzReadCloser) Close() error {
	if g.closed {
		return nil
	}
	g.closed = true
	return g.Reader.Close()
}

// openMaybeGzip returns a reader of r's content, gunzipped when r starts with the
// gzip magic bytes.
func openMaybeGzip(ctx context.Context, r io.Reader, name string) (io.ReadCloser, bool, error) {
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 1<<16)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, &FormatError{File: name, Offset: 0, Want: "a gzip header", Err: err}
		}
		zr.Multistream(true)
		return &gzReadCloser{Reader: zr}, true, nil
	}
	return io.NopCloser(br), false, nil
}

// readUpTo reads up to n bytes, growing its buffer as data arrives rather than
// trusting n, which comes from a header that may be corrupt: a stream that
// claims gigabytes and holds a few bytes costs a few kilobytes. The buffer
// doubles, so the peak is at most twice the bytes read (and never more than n
// plus what was read).
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	const first = 64 << 10
	buf := make([]byte, 0, min(n, first))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
	return buf, nil
}

// input is what a reader says about itself before it is read: how many bytes
// it has left, and the last four (a gzip stream's trailer: the size of its
// content modulo 2^32).
type input struct {
	size       int64 // bytes left, or -1 when unknown
	trailer    uint32
	hasTrailer bool
}

// inspect looks at r without moving it: regular files and in-memory readers
// (*bytes.Reader, *strings.Reader) know their size.
func inspect(r io.Reader) input {
	in := input{size: -1}
	var at io.ReaderAt
	var base int64
	switch x := r.(type) {
	case *os.File:
		st, err := x.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return in
		}
		cur, err := x.Seek(0, io.SeekCurrent)
		if err != nil || cur > st.Size() {
			return in
		}
		in.size, at, base = st.Size()-cur, x, cur
	case interface {
		io.ReaderAt
		Len() int
		Size() int64
	}:
		in.size, at = int64(x.Len()), x
		base = x.Size() - in.size
	default:
		return in
	}
	if in.size >= 4 {
		var t [4]byte
		if _, err := at.ReadAt(t[:], base+in.size-4); err == nil {
			in.trailer, in.hasTrailer = binary.LittleEndian.Uint32(t[:]), true
		}
	}
	return in
}

// wrapCtx names the file in a cancellation error.
func wrapCtx(name string, err error) error {
	return fmt.Errorf("formats: %s: %w", name, err)
}
