package dataset_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// Store samples, define a dataset as a query on tags, and read it in
// shuffled batches through the local cache.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir}) // embedded FerretDB
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close(ctx)

	samples, err := dataset.Open(ctx, db, dataset.Options{CacheDir: dir + "/cache"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 10 {
		tag := "train"
		if i >= 8 {
			tag = "test"
		}
		_, err := samples.Insert(ctx, dataset.Sample{
			Key:    fmt.Sprintf("x%02d", i),
			Tensor: dataset.Float32Tensor([]int{2}, []float32{float32(i), float32(-i)}),
			Label:  i % 2,
			Tags:   []string{tag},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	train, err := samples.Define(ctx, "train", dataset.Query{Tags: []string{"train"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for epoch := range 2 {
		n := 0
		for batch, err := range train.Batches(ctx, dataset.ReadOptions{BatchSize: 3, Shuffle: true, Seed: uint64(epoch), Cache: true}) {
			if err != nil {
				fmt.Println(err)
				return
			}
			n += len(batch)
		}
		fmt.Printf("epoch %d: %d samples\n", epoch, n)
	}
	names, _ := samples.Datasets(ctx)
	fmt.Println("datasets:", names)
	// Output:
	// epoch 0: 8 samples
	// epoch 1: 8 samples
	// datasets: [train]
}

// Split a dataset between workers without coordination: each reads its shard.
func ExampleDataset_Samples_shards() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close(ctx)
	samples, _ := dataset.Open(ctx, db, dataset.Options{})
	for i := range 100 {
		samples.Insert(ctx, dataset.Sample{Key: fmt.Sprint(i), Bytes: []byte{byte(i)}})
	}
	total := 0
	for worker := range 4 {
		for _, err := range samples.All().Samples(ctx, dataset.ReadOptions{Shard: worker, Shards: 4}) {
			if err != nil {
				fmt.Println(err)
				return
			}
			total++
		}
	}
	fmt.Println("samples read by 4 workers:", total)
	// Output: samples read by 4 workers: 100
}

// Import any Go iterator of samples; the progress bar goes to stderr when it
// is a terminal (Quiet turns it off).
func ExampleImport() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close(ctx)
	samples, _ := dataset.Open(ctx, db, dataset.Options{})

	readings := func(yield func(dataset.Sample, error) bool) {
		for i := range 1000 {
			v := []float32{float32(i), float32(i * i)}
			if !yield(dataset.Sample{Key: fmt.Sprintf("r%04d", i), Tensor: dataset.Float32Tensor([]int{2}, v)}, nil) {
				return
			}
		}
	}
	st, err := dataset.Import(ctx, samples, readings, dataset.ImportOptions{Tags: []string{"sensor"}, Total: 1000, Quiet: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := samples.View(dataset.Query{Tags: []string{"sensor"}}).Count(ctx)
	fmt.Println("inserted", st.Inserted, "counted", n)
	// Output: inserted 1000 counted 1000
}
