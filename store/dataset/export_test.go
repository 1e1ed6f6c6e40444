package dataset

import (
	"context"
	"fmt"
)

// Fills is the number of cache fills c has begun.
func Fills(c *Collection) int64 { return c.fills.Load() }

// ReadLoadedCache loads the cache of d's whole view as a read does, calls
// between (another fill's clean-up, say), and then reads the loaded cache.
func ReadLoadedCache(ctx context.Context, d *Dataset, between func(dir string)) (int, error) {
	dir := d.cacheDir(0, 1)
	idx := d.c.loadCache(dir)
	if idx == nil {
		return 0, fmt.Errorf("no cache in %s", dir)
	}
	defer idx.close()
	between(dir)
	n := 0
	err := d.fromCache(ctx, ReadOptions{}, dir, idx, func(Sample) error { n++; return nil })
	return n, err
}
