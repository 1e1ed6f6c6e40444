//go:build unix

package dataset_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// fashion returns n samples shaped like Fashion-MNIST: 28x28 uint8 images.
func fashion(n, offset int) []dataset.Sample {
	out := make([]dataset.Sample, n)
	for i := range out {
		px := make([]uint8, 28*28)
		for j := range px {
			px[j] = uint8((i + offset) * j)
		}
		out[i] = dataset.Sample{Key: fmt.Sprintf("f%07d", i+offset), Tensor: dataset.Uint8Tensor([]int{28, 28}, px),
			Label: i % 10, Tags: []string{"train"}}
	}
	return out
}

// BenchmarkIngest inserts Fashion-MNIST-shaped samples in batches of 256.
func BenchmarkIngest(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := benchContext(b)
			c := open(b, be, dataset.Options{})
			src := fashion(256, 0)
			b.ResetTimer()
			cpu := cpuTime(b)
			n := 0
			for n < b.N {
				batch := src[:min(256, b.N-n)]
				for i := range batch {
					batch[i].Key = fmt.Sprintf("f%09d", n+i)
				}
				if _, err := c.Insert(ctx, batch...); err != nil {
					b.Fatal(err)
				}
				n += len(batch)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(cpu()/float64(b.N)*1e6, "cpu-µs/sample")
		})
	}
}

// BenchmarkRead reads 10k Fashion-MNIST-shaped samples per iteration, from
// the server (cold) and from the local cache (cached, the second epoch on).
func BenchmarkRead(b *testing.B) {
	const n = 10000
	for _, be := range storetest.Backends() {
		ctx := benchContext(b)
		c := open(b, be, dataset.Options{CacheDir: b.TempDir()})
		for i := 0; i < n; i += 1000 {
			if _, err := c.Insert(ctx, fashion(1000, i)...); err != nil {
				b.Fatal(err)
			}
		}
		train := c.View(dataset.Query{Tags: []string{"train"}})
		for _, mode := range []struct {
			name string
			o    dataset.ReadOptions
		}{
			{"cold", dataset.ReadOptions{BatchSize: 128}},
			{"cached", dataset.ReadOptions{BatchSize: 128, Cache: true}},
			{"cached-shuffled", dataset.ReadOptions{BatchSize: 128, Cache: true, Shuffle: true}},
		} {
			b.Run(be.Name+"/"+mode.name, func(b *testing.B) {
				if mode.o.Cache {
					readAll(b, ctx, train, mode.o, n) // fill the cache
				}
				b.ResetTimer()
				cpu := cpuTime(b)
				for i := range b.N {
					mode.o.Seed = uint64(i)
					readAll(b, ctx, train, mode.o, n)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(cpu()/float64(n*b.N)*1e6, "cpu-µs/sample")
			})
		}
	}
}

func readAll(b *testing.B, ctx context.Context, d *dataset.Dataset, o dataset.ReadOptions, want int) {
	got := 0
	for batch, err := range d.Batches(ctx, o) {
		if err != nil {
			b.Fatal(err)
		}
		got += len(batch)
	}
	if got != want {
		b.Fatalf("read %d samples, want %d", got, want)
	}
}

// BenchmarkReadBlobs reads 16 samples of 1 MiB (256x1024 float32), stored in
// GridFS, from the server and from the cache.
func BenchmarkReadBlobs(b *testing.B) {
	const n = 16
	for _, be := range storetest.Backends() {
		ctx := benchContext(b)
		c := open(b, be, dataset.Options{CacheDir: b.TempDir()})
		vals := make([]float32, 256*1024)
		for i := range vals {
			vals[i] = float32(i)
		}
		for i := range n {
			s := dataset.Sample{Key: fmt.Sprint(i), Tensor: dataset.Float32Tensor([]int{256, 1024}, vals)}
			if _, err := c.Insert(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		for _, mode := range []struct {
			name string
			o    dataset.ReadOptions
		}{
			{"cold", dataset.ReadOptions{BatchSize: 8}},
			{"cached", dataset.ReadOptions{BatchSize: 8, Cache: true}},
		} {
			b.Run(be.Name+"/"+mode.name, func(b *testing.B) {
				if mode.o.Cache {
					readAll(b, ctx, c.All(), mode.o, n)
				}
				b.SetBytes(n << 20)
				b.ResetTimer()
				cpu := cpuTime(b)
				for range b.N {
					readAll(b, ctx, c.All(), mode.o, n)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(cpu()/float64(n*b.N)*1e3, "cpu-ms/sample")
			})
		}
	}
}

// benchContext bounds a benchmark generously: FerretDB is slow on a loaded
// machine, and storetest.Context's 5 minutes are meant for tests.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// cpuTime returns a function giving the process CPU time (user + system,
// all threads, the embedded FerretDB included) in seconds since the call:
// on a shared machine it is steadier than wall time.
func cpuTime(b *testing.B) func() float64 {
	now := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	start := now()
	return func() float64 { return now() - start }
}
