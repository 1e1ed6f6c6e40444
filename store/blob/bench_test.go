package blob_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/tlgo/tl/store/blob"
	"github.com/tlgo/tl/store/storetest"
)

// Put and read throughput of a 16 MiB blob by chunk size.
func BenchmarkBlob(b *testing.B) {
	const size = 16 << 20
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) {
		db := be.Open(b)
		ctx := storetest.Context(b)
		data := randomBytes(b, size)
		for _, cs := range []int{256 << 10, 1 << 20, 4 << 20} {
			bk, err := blob.NewBucket(ctx, db, fmt.Sprintf("b%d", cs), cs)
			if err != nil {
				b.Fatal(err)
			}
			info, err := bk.Put(ctx, "f", nil, bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("put/chunk=%dK", cs>>10), func(b *testing.B) {
				b.SetBytes(size)
				defer storetest.CPUTimer(b, size)()
				for b.Loop() {
					if _, err := bk.Put(ctx, "f", nil, bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("read/chunk=%dK", cs>>10), func(b *testing.B) {
				b.SetBytes(size)
				defer storetest.CPUTimer(b, size)()
				for b.Loop() {
					r, err := bk.Open(ctx, info.ID)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != size {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
		}
	})
}
