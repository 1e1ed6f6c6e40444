package models_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// Model save and load throughput, 16 MiB of weights, without and with the
// local cache.
// "crowded" loads one model out of a bucket holding others too, since
// FerretDB over SQLite scans the whole chunks collection for any filter
// that is not on _id alone.
func BenchmarkModel(b *testing.B) {
	const size = 16 << 20
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) {
		db := be.Open(b)
		ctx := storetest.Context(b)
		s := newStore(b, db, models.Options{})
		w := randomBytes(b, size)
		b.Run("save", func(b *testing.B) {
			b.SetBytes(size)
			defer storetest.CPUTimer(b, size)()
			for b.Loop() {
				if _, err := s.Save(ctx, models.Spec{Name: "bench-save"}, bytes.NewReader(w)); err != nil {
					b.Fatal(err)
				}
			}
		})
		m := save(b, s, models.Spec{Name: "bench-load"}, w)
		load := func(b *testing.B) {
			b.SetBytes(size)
			defer storetest.CPUTimer(b, size)()
			for b.Loop() {
				l, err := s.Load(ctx, models.Ref{Name: m.Name, Version: m.Version})
				if err != nil || len(l.Weights) != size {
					b.Fatal(err)
				}
			}
		}
		// Alone in its bucket apart from the save benchmark's models.
		b.Run("load", load)
		for i := range 8 {
			save(b, s, models.Spec{Name: fmt.Sprintf("filler-%d", i)}, w)
		}
		b.Run("load-crowded", load)
		cached := newStore(b, db, models.Options{CacheDir: b.TempDir()})
		if _, err := cached.Load(ctx, models.Ref{Name: m.Name}); err != nil {
			b.Fatal(err)
		}
		b.Run("load-cached", func(b *testing.B) {
			b.SetBytes(size)
			defer storetest.CPUTimer(b, size)()
			for b.Loop() {
				l, err := cached.Load(ctx, models.Ref{Name: m.Name, Version: m.Version})
				if err != nil || !l.FromCache {
					b.Fatal(err)
				}
			}
		})
	})
}
