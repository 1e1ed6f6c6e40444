package datasets

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
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
// trusting n, which comes from a header that may be corrupt.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	const chunk = 1 << 24
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grow := min(n-int64(len(buf)), max(int64(cap(buf)), chunk))
			buf = append(buf, make([]byte, grow)...)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(int64(cap(buf)), n)])
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

// wrapCtx names the file in a cancellation error.
func wrapCtx(name string, err error) error {
	return fmt.Errorf("datasets: %s: %w", name, err)
}
