package dataset_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// Shuffled readers of one view at once (a sweep's parallel trials on one
// machine) fill its cache once: the others wait for the fill and read it.
// Unshuffled cold readers stream while they fill, so they may fill beside
// another; every reader still reads every sample, as no fill's clean-up
// removes a file another is writing.
func TestConcurrentCacheFill(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		dir := t.TempDir()
		c := open(t, b, dataset.Options{CacheDir: dir})
		if _, err := c.Insert(ctx, mnistLike(300)...); err != nil {
			t.Fatal(err)
		}
		const readers = 4
		read := func(shuffled func(i int) bool) {
			t.Helper()
			var wg sync.WaitGroup
			counts := make([]int, readers)
			errs := make([]error, readers)
			for i := range readers {
				wg.Go(func() {
					for _, err := range c.All().Samples(ctx, dataset.ReadOptions{Cache: true, Shuffle: shuffled(i), Seed: uint64(i)}) {
						if err != nil {
							errs[i] = err
							return
						}
						counts[i]++
					}
				})
			}
			wg.Wait()
			for i := range readers {
				if errs[i] != nil || counts[i] != 300 {
					t.Fatalf("reader %d: %d samples, %v; want 300", i, counts[i], errs[i])
				}
			}
		}
		read(func(int) bool { return true })
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "data-*"))
		if n := dataset.Fills(c); n != 1 || len(files) != 1 {
			t.Fatalf("%d cache fills and data files %v after %d concurrent shuffled reads; want one fill", n, files, readers)
		}
		for range 3 {
			if err := c.All().Invalidate(ctx); err != nil {
				t.Fatal(err)
			}
			read(func(i int) bool { return i%2 == 0 })
		}
	})
}

// A read that has loaded a cache keeps reading it when a later fill's commit
// removes the data files (a concurrent fill once made a reader find its
// freshly filled cache's data file gone): the files are opened with the index.
func TestLoadedCacheOutlivesCleanup(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{CacheDir: t.TempDir()})
		if _, err := c.Insert(ctx, mnistLike(50)...); err != nil {
			t.Fatal(err)
		}
		for _, err := range c.All().Samples(ctx, dataset.ReadOptions{Cache: true, Shuffle: true}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		removed := 0
		n, err := dataset.ReadLoadedCache(ctx, c.All(), func(dir string) {
			files, _ := filepath.Glob(filepath.Join(dir, "data-*.bin"))
			for _, f := range files {
				if os.Remove(f) == nil {
					removed++
				}
			}
		})
		if removed == 0 {
			t.Fatal("no cache data file to remove")
		}
		if err != nil || n != 50 {
			t.Fatalf("read %d samples, %v, after the data files were removed; want 50", n, err)
		}
	})
}
