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

func (c *Collection) getBlob(ctx context.Context, id bson.ObjectID) ([]byte, error) {
	r, err := c.blobs.Open(ctx, id)
	if err == nil {
		defer r.Close()
		out := make([]byte, r.Info().Length)
		if _, err = io.ReadFull(r, out); err == nil {
			return out, nil
		}
	}
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %w", ErrMissingBlob, err)
	}
	return nil, err
}

func (c *Collection) deleteBlob(ctx context.Context, id bson.ObjectID) error {
	if err := c.blobs.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return err
	}
	return nil
}
