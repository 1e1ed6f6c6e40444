package mltasks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/bench"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

// childEnv makes this test binary a train task's process (see
// BenchmarkTrainTaskPeakRSS): it trains on TL_BENCH_VIEW of the store at
// TL_MONGO_URL and exits.
const childEnv = "TL_MLTASKS_BENCH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childTrain())
	}
	os.Exit(m.Run())
}

func childTrain() int {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: os.Getenv("TL_MONGO_URL"), Database: os.Getenv("TL_MONGO_DB")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close(ctx)
	k := New(Options{CacheDir: os.Getenv("TL_BENCH_CACHE")})
	run := &task.Run{Task: &task.Task{Plan: "bench", ID: "rss", Kind: "train", Input: os.Getenv("TL_BENCH_VIEW"), Model: "rss",
		Params: json.RawMessage(`{"arch":"mlp","epochs":2,"batch":128,"log_every":1000000}`)}, Attempt: 1, Services: db}
	out, err := k.train(ctx, run)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The peak of this process's own memory: not rusage's maxrss, which a
	// child started with vfork inherits from its parent across exec.
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Println("peak-rss-kib", strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	fmt.Println(string(out))
	return 0
}

// fashion returns n Fashion-MNIST training images (uint8 28×28, Debian's
// dataset-fashion-mnist) keyed prefix-i, the set repeated when n is larger;
// without the files, generated images of the same shape.
func fashion(tb testing.TB, prefix string, n int) []dataset.Sample {
	tb.Helper()
	dir := "/usr/share/datasets/fashion-mnist"
	im, err := formats.ReadIDXImages(context.Background(), filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	out := make([]dataset.Sample, n)
	if err != nil {
		tb.Logf("Fashion-MNIST not installed (%v): generated 28×28 images", err)
		rng := tensor.NewRand(1)
		for i := range out {
			img := make([]uint8, 28*28)
			for j := range img {
				img[j] = uint8(rng.IntN(256))
			}
			out[i] = dataset.Sample{Key: fmt.Sprintf("%s-%06d", prefix, i), Tensor: dataset.Uint8Tensor([]int{28, 28}, img), Label: i % 10}
		}
		return out
	}
	for i := range out {
		j := i % im.N
		out[i] = dataset.Sample{Key: fmt.Sprintf("%s-%06d", prefix, i), Tensor: dataset.Uint8Tensor([]int{28, 28}, slices.Clone(im.Image(j))), Label: int(im.Labels[j])}
	}
	return out
}

// insertMany is insert in slices of 5000 (the driver's message limit).
func insertMany(tb testing.TB, db *store.DB, tag string, samples []dataset.Sample) {
	tb.Helper()
	ctx := context.Background()
	coll, err := dataset.Open(ctx, db, dataset.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	for lo := 0; lo < len(samples); lo += 5000 {
		part := samples[lo:min(lo+5000, len(samples))]
		for i := range part {
			part[i].Tags = []string{tag}
		}
		if _, err := coll.Insert(ctx, part...); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := coll.Define(ctx, tag, dataset.Query{Tags: []string{tag}}); err != nil {
		tb.Fatal(err)
	}
}

// cnnLoop is the built-in CNN for 28×28 images in 10 classes and its loop.
func cnnLoop(tb testing.TB) (*train.Loop, tensor.Shape) {
	tb.Helper()
	g := graph.New(1)
	net, err := buildCNN(g, ArchInput{Shape: []int{28, 28}, DType: tensor.Float32, Classes: 10})
	if err != nil {
		tb.Fatal(err)
	}
	labels := g.Placeholder("label", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), labels)
	update, err := optim.Minimize(optim.NewAdam(g, "adam", 1e-3, 0.9, 0.999, 1e-8), loss, net.Trainable()...)
	if err != nil {
		tb.Fatal(err)
	}
	x := net.InputLayers()[0].Output()
	loop, err := train.New(train.Config{Inputs: []*graph.Node{x, labels}, Loss: loss, Update: update, Logits: net.Output(), Labels: labels})
	if err != nil {
		tb.Fatal(err)
	}
	return loop, x.Shape()
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The CNN of the train kind on Fashion-MNIST (the first 6,000 training
// images), fed from the store (the dataset module: the first epoch reads the
// server and fills the disk cache, the second reads the cache) and fed from
// memory (feed.Loader over tensors), epochs interleaved so that both see the
// same load. Reported: the store's throughput over memory's, per epoch, by
// wall time and by this process's CPU time (the embedded server's included).
//
//	go test ./mltasks -run '^$' -bench StreamVsMemory -benchtime 1x
func BenchmarkStreamVsMemory(b *testing.B) {
	const n = 6000
	db := storetest.Backends()[0].Open(b)
	ctx := context.Background()
	insertMany(b, db, "fm", fashion(b, "fm", n))
	k := New(Options{CacheDir: b.TempDir()})
	coll, err := k.samples(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	ds, info, err := openView(ctx, db, coll, "fm")
	if err != nil {
		b.Fatal(err)
	}
	// The same samples in memory, as float32 tensors.
	xs := make([]float32, 0, n*784)
	ys := make([]int32, 0, n)
	for s, err := range ds.Samples(ctx, dataset.ReadOptions{}) {
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range s.Tensor.Uint8 {
			xs = append(xs, float32(p)/255)
		}
		ys = append(ys, int32(s.Label))
	}
	x, _ := tensor.FromFloat32(xs, n, 28, 28, 1)
	y, _ := tensor.FromInt32(ys, n)
	src, err := feed.FromTensors(x, y)
	if err != nil {
		b.Fatal(err)
	}
	mem, err := feed.NewLoader(src, 64, feed.Shuffle(1))
	if err != nil {
		b.Fatal(err)
	}
	memLoop, in := cnnLoop(b)
	defer memLoop.Close()
	storeLoop, _ := cnnLoop(b)
	defer storeLoop.Close()
	stream := newViewBatches(ds, info, in, tensor.Float32, viewOptions{Batch: 64, Shuffle: true, Seed: 1, Cache: true, Classes: 10})
	b.ResetTimer()
	for range b.N {
		for e := range 2 {
			var wall, cpu [2]time.Duration
			for i, run := range []func() error{
				func() error { _, err := memLoop.RunFrom(ctx, mem, e, e+1); return err },
				func() error { _, err := storeLoop.RunFrom(ctx, stream, e, e+1); return err },
			} {
				w0, c0 := time.Now(), cpuNow()
				if err := run(); err != nil {
					b.Fatal(err)
				}
				wall[i], cpu[i] = time.Since(w0), cpuNow()-c0
			}
			b.ReportMetric(wall[0].Seconds()/wall[1].Seconds(), fmt.Sprintf("epoch%d-store/mem-wall", e+1))
			b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), fmt.Sprintf("epoch%d-store/mem-cpu", e+1))
			b.Logf("epoch %d: memory %v wall %v CPU, store %v wall %v CPU (%s)", e+1, wall[0].Round(time.Millisecond), cpu[0].Round(time.Millisecond),
				wall[1].Round(time.Millisecond), cpu[1].Round(time.Millisecond), bench.CPUName())
		}
	}
}

// A train task's peak RSS on a view of Fashion-MNIST (6,000 images) and on
// the same images repeated to ten times the view (60,000), each task a
// process of its own (this test binary, see childTrain) against the store
// of this one: the arch mlp, 2 epochs, streamed with the disk cache. Peak
// RSS is the process's VmHWM; each size runs twice, the smaller counts.
//
// On both store backends (PostgreSQL with TL_TEST_POSTGRES_URL).
//
//	go test ./mltasks -run '^$' -bench TrainTaskPeakRSS -benchtime 1x
func BenchmarkTrainTaskPeakRSS(b *testing.B) {
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) { benchPeakRSS(b, be.Open(b)) })
}

func benchPeakRSS(b *testing.B, db *store.DB) {
	const n = 6000
	insertMany(b, db, "small", fashion(b, "s", n))
	insertMany(b, db, "large", fashion(b, "l", 10*n))
	rss := func(view string) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "TL_MONGO_URL="+db.URL(), "TL_MONGO_DB="+db.Database().Name(), "TL_BENCH_VIEW="+view, "TL_BENCH_CACHE="+b.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("train task on %s: %v\n%s", view, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "peak-rss-kib "); ok {
				kib, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					b.Fatal(err)
				}
				return kib
			}
		}
		b.Fatalf("train task on %s: no peak RSS in its output\n%s", view, out)
		return 0
	}
	b.ResetTimer()
	for range b.N {
		// Twice each, alternated; the smaller of the two counts: the first
		// task of a fresh store has peaked some 40 MiB higher (whatever its
		// view), which says nothing of the view's size. Every run is logged.
		small, large := int64(1<<62), int64(1<<62)
		var runs []string
		for range 2 {
			s, l := rss("small"), rss("large")
			small, large = min(small, s), min(large, l)
			runs = append(runs, fmt.Sprintf("%.1f/%.1f", float64(s)/1024, float64(l)/1024))
		}
		b.Logf("runs (MiB, 1x/10x): %v", runs)
		b.ReportMetric(float64(small)/1024, "MiB-peak-rss-1x")
		b.ReportMetric(float64(large)/1024, "MiB-peak-rss-10x")
		b.ReportMetric(float64(large)/float64(small), "ratio-10x/1x")
		b.Logf("peak RSS of a train task: %s MiB on %d samples, %s MiB on %d (%s)",
			strconv.FormatFloat(float64(small)/1024, 'f', 1, 64), n, strconv.FormatFloat(float64(large)/1024, 'f', 1, 64), 10*n, bench.CPUName())
	}
}
