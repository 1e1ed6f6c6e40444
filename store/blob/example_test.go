package blob_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
)

func ExampleBucket() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tl-blob-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)

	bk, err := blob.NewBucket(ctx, db, "images", 256)
	if err != nil {
		log.Fatal(err)
	}
	info, err := bk.Put(ctx, "big.txt", nil, strings.NewReader(strings.Repeat("0123456789", 100)))
	if err != nil {
		log.Fatal(err)
	}
	r, err := bk.Open(ctx, info.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Length, "bytes in", (info.Length+info.ChunkSize-1)/info.ChunkSize, "chunks; read back", len(b), "sum matches:", r.Sum() == info.SHA256)
	// Output: 1000 bytes in 4 chunks; read back 1000 sum matches: true
}
