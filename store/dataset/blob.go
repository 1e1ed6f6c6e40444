package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store/blob"
)

// Payloads above the blob threshold live in a store/blob bucket: the GridFS
// layout, readable by any GridFS client, with chunks addressed by _id so that
// FerretDB serves a blob by lookups instead of scanning the whole bucket.

func (c *Collection) putBlob(ctx context.Context, filename string, data []byte) (bson.ObjectID, error) {
	info, err := c.blobs.Put(ctx, filename, nil, bytes.NewReader(data))
	if err != nil {
		return bson.ObjectID{}, err
	}
	return info.ID, nil
}

// getBlob reads a blob; want is the size it must have, or -1. The length the
// bucket records is not trusted for an allocation: the bytes are read as they
// come, and must add up to it.
func (c *Collection) getBlob(ctx context.Context, id bson.ObjectID, want int64) ([]byte, error) {
	r, err := c.blobs.Open(ctx, id)
	if err == nil {
		defer r.Close()
		n := r.Info().Length
		if want >= 0 && n != want {
			return nil, fmt.Errorf("%w: the blob has %d bytes, the sample %d", ErrMissingBlob, n, want)
		}
		var out []byte
		if out, err = readAtMost(r, n); err == nil {
			return out, nil
		}
	}
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %w", ErrMissingBlob, err)
	}
	return nil, err
}

// readAtMost reads exactly n bytes from r, growing its buffer as they arrive
// (so that a wrong n costs no more than the bytes that exist), and fails with
// io.ErrUnexpectedEOF when r holds fewer.
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("blob length %d: %w", n, io.ErrUnexpectedEOF)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 1<<20)))
	got, err := io.Copy(&buf, io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("blob of %d bytes holds %d: %w", n, got, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}

func (c *Collection) deleteBlob(ctx context.Context, id bson.ObjectID) error {
	if err := c.blobs.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}
