package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// open returns an empty collection on backend b.
func open(t testing.TB, b storetest.Backend, opts dataset.Options) *dataset.Collection {
	t.Helper()
	db := b.Open(t)
	c, err := dataset.Open(storetest.Context(t), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mnistLike returns n small uint8 image samples with labels i%10 and a
// "train"/"test" tag.
func mnistLike(n int) []dataset.Sample {
	out := make([]dataset.Sample, n)
	for i := range out {
		px := make([]uint8, 16)
		for j := range px {
			px[j] = uint8(i + j)
		}
		tag := "train"
		if i%4 == 0 {
			tag = "test"
		}
		out[i] = dataset.Sample{Key: fmt.Sprintf("img-%04d", i), Tensor: dataset.Uint8Tensor([]int{4, 4}, px),
			Label: i % 10, Tags: []string{tag}}
	}
	return out
}

func collect(t *testing.T, ctx context.Context, d *dataset.Dataset, o dataset.ReadOptions) []dataset.Sample {
	t.Helper()
	var out []dataset.Sample
	for s, err := range d.Samples(ctx, o) {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, s)
	}
	return out
}

func keys(ss []dataset.Sample) []string {
	k := make([]string, len(ss))
	for i, s := range ss {
		k[i] = s.Key
	}
	return k
}

func TestInsertGetRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		// A small blob threshold sends the big samples to GridFS.
		c := open(t, b, dataset.Options{BlobThreshold: 2048, Compress: true, CompressMin: 512})
		big := make([]float32, 1000) // 4000 bytes: GridFS
		for i := range big {
			big[i] = float32(i) * 0.5
		}
		zeros := make([]byte, 10000) // compresses well: inline after zstd
		in := []dataset.Sample{
			{Key: "bytes", Bytes: []byte("hello"), Label: 3, LabelName: "three", Tags: []string{"a", "b"}, Fields: map[string]any{"split": "train"}},
			{Key: "f32", Tensor: dataset.Float32Tensor([]int{2, 3}, []float32{1, 2, 3, 4, 5, -6.5})},
			{Key: "i32", Tensor: dataset.Int32Tensor([]int{3}, []int32{-1, 0, 1 << 30})},
			{Key: "u8", Tensor: dataset.Uint8Tensor([]int{2, 2}, []uint8{0, 1, 254, 255})},
			{Key: "big", Tensor: dataset.Float32Tensor([]int{10, 100}, big), Tags: []string{"big"}},
			{Key: "zeros", Bytes: zeros},
			{Key: "empty", Bytes: []byte{}},
		}
		seqs, err := c.Insert(ctx, in...)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("seqs %v: want consecutive", seqs)
			}
		}
		more, err := c.Insert(ctx, dataset.Sample{Key: "later", Bytes: []byte("x")})
		if err != nil || more[0] <= seqs[len(seqs)-1] {
			t.Fatalf("second insert seq %v, %v; want > %d", more, err, seqs[len(seqs)-1])
		}
		for i, want := range in {
			got, err := c.Get(ctx, want.Key)
			if err != nil {
				t.Fatalf("Get(%q): %v", want.Key, err)
			}
			if got.Seq != seqs[i] || got.Project != "default" {
				t.Errorf("%q: seq %d project %q; want %d default", want.Key, got.Seq, got.Project, seqs[i])
			}
			if !bytes.Equal(got.Bytes, want.Bytes) || (want.Bytes != nil) != (got.Bytes != nil) {
				t.Errorf("%q: bytes %q, want %q", want.Key, got.Bytes, want.Bytes)
			}
			if !reflect.DeepEqual(got.Tensor, want.Tensor) {
				t.Errorf("%q: tensor %+v, want %+v", want.Key, got.Tensor, want.Tensor)
			}
			if got.Label != want.Label || got.LabelName != want.LabelName {
				t.Errorf("%q: label %d %q, want %d %q", want.Key, got.Label, got.LabelName, want.Label, want.LabelName)
			}
			if len(want.Tags) > 0 && !slices.Equal(got.Tags, want.Tags) {
				t.Errorf("%q: tags %v, want %v", want.Key, got.Tags, want.Tags)
			}
		}
		got, _ := c.Get(ctx, "bytes")
		if got.Fields["split"] != "train" {
			t.Errorf("fields = %v, want split=train", got.Fields)
		}
		// The big sample's document points at GridFS; the zeros are inline, compressed.
		var doc bson.M
		if err := c.Mongo().FindOne(ctx, bson.D{{Key: "key", Value: "big"}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if _, ok := doc["blob"]; !ok || doc["data"] != nil {
			t.Errorf("big sample stored inline (%v); want a GridFS blob", slices.Collect(mapsKeys(doc)))
		}
		if err := c.Mongo().FindOne(ctx, bson.D{{Key: "key", Value: "zeros"}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["enc"] != "zstd" {
			t.Errorf("zeros enc = %v, want zstd", doc["enc"])
		}
		if _, err := c.Get(ctx, "nope"); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("Get(nope) = %v, want ErrNotFound", err)
		}
	})
}

func mapsKeys(m bson.M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestInsertRejectsBadInputAndDuplicates(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		_, err := c.Insert(ctx, dataset.Sample{Key: "t", Tensor: dataset.Float32Tensor([]int{2, 2}, []float32{1, 2, 3})})
		if !errors.Is(err, dataset.ErrInvalidSample) || !strings.Contains(err.Error(), `"t"`) || !strings.Contains(err.Error(), "holds 4") {
			t.Fatalf("bad shape: %v; want ErrInvalidSample naming the key and sizes", err)
		}
		if _, err := c.Insert(ctx, dataset.Sample{Key: ""}); !errors.Is(err, dataset.ErrInvalidSample) {
			t.Fatalf("empty key: %v", err)
		}
		if _, err := c.Insert(ctx, dataset.Sample{Key: "a", Bytes: []byte("original")}); err != nil {
			t.Fatal(err)
		}
		seqs, err := c.Insert(ctx, dataset.Sample{Key: "b", Bytes: []byte("b")}, dataset.Sample{Key: "a", Bytes: []byte("other")}, dataset.Sample{Key: "c", Bytes: []byte("c")})
		var ie *dataset.InsertError
		if !errors.As(err, &ie) || !errors.Is(err, dataset.ErrDuplicateKey) || !slices.Equal(ie.Keys, []string{"a"}) {
			t.Fatalf("duplicate insert: %v; want an InsertError for key a", err)
		}
		if seqs[0] == 0 || seqs[1] != 0 || seqs[2] == 0 {
			t.Fatalf("seqs %v: want b and c stored, a not", seqs)
		}
		a, err := c.Get(ctx, "a")
		if err != nil || string(a.Bytes) != "original" {
			t.Fatalf("a = %q, %v; the duplicate overwrote it", a.Bytes, err)
		}
		if n, _ := c.All().Count(ctx); n != 3 {
			t.Fatalf("count = %d, want 3", n)
		}
		k, err := c.Counter(ctx)
		if err != nil || !k.Settled() {
			t.Fatalf("counter %+v, %v: want settled after inserts", k, err)
		}
	})
}

func TestViews(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		in := []dataset.Sample{
			{Key: "cat/1", Bytes: []byte{1}, Label: 0, Tags: []string{"train", "cat"}, Fields: map[string]any{"src": "web"}},
			{Key: "cat/2", Bytes: []byte{2}, Label: 0, Tags: []string{"test", "cat"}},
			{Key: "dog/1", Bytes: []byte{3}, Label: 1, Tags: []string{"train", "dog"}, Fields: map[string]any{"src": "web"}},
			{Key: "dog/2", Bytes: []byte{4}, Label: 1, Tags: []string{"train", "dog", "noisy"}},
			{Key: "eel/1", Bytes: []byte{5}, Label: 2, Tags: []string{"train"}},
		}
		if _, err := c.Insert(ctx, in...); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			q    dataset.Query
			want []string
		}{
			{"train", dataset.Query{Tags: []string{"train"}}, []string{"cat/1", "dog/1", "dog/2", "eel/1"}},
			{"train-dogs", dataset.Query{Tags: []string{"train", "dog"}}, []string{"dog/1", "dog/2"}},
			{"clean-train", dataset.Query{Tags: []string{"train"}, NotTags: []string{"noisy"}}, []string{"cat/1", "dog/1", "eel/1"}},
			{"pets", dataset.Query{AnyTags: []string{"cat", "dog"}, NotTags: []string{"test"}}, []string{"cat/1", "dog/1", "dog/2"}},
			{"label1", dataset.Query{Labels: []int{1, 2}}, []string{"dog/1", "dog/2", "eel/1"}},
			{"cats", dataset.Query{KeyPrefix: "cat/"}, []string{"cat/1", "cat/2"}},
			{"web", dataset.Query{Fields: map[string]any{"src": "web"}}, []string{"cat/1", "dog/1"}},
		}
		for _, tc := range cases {
			d, err := c.Define(ctx, tc.name, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			got := keys(collect(t, ctx, d, dataset.ReadOptions{}))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
			if n, err := d.Count(ctx); err != nil || n != int64(len(tc.want)) {
				t.Errorf("%s: Count = %d, %v; want %d", tc.name, n, err, len(tc.want))
			}
		}
		specs, err := c.Mongo().Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var indexed []string
		for _, sp := range specs {
			indexed = append(indexed, sp.Name)
		}
		for _, want := range []string{"project_1_seq_1", "project_1_tags_1", "project_1_label_1", "project_1_fields.src_1"} {
			if !slices.Contains(indexed, want) {
				t.Errorf("indexes %v lack %s", indexed, want)
			}
		}
		names, err := c.Datasets(ctx)
		if err != nil || len(names) != len(cases) {
			t.Fatalf("Datasets = %v, %v", names, err)
		}
		// A view is reopened from its stored query and sees new samples: no copy.
		if _, err := c.Insert(ctx, dataset.Sample{Key: "dog/3", Bytes: []byte{6}, Tags: []string{"train", "dog"}}); err != nil {
			t.Fatal(err)
		}
		d, err := c.Dataset(ctx, "train-dogs")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := d.Count(ctx); n != 3 {
			t.Errorf("reopened train-dogs counts %d, want 3", n)
		}
		if _, err := c.Dataset(ctx, "nope"); !errors.Is(err, dataset.ErrNotFound) {
			t.Errorf("Dataset(nope) = %v, want ErrNotFound", err)
		}
	})
}

func TestReadBatchesShardsShuffleSample(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		in := mnistLike(300)
		if _, err := c.Insert(ctx, in...); err != nil {
			t.Fatal(err)
		}
		all := c.All()
		// Batches: sizes and completeness, with a tiny driver batch.
		var sizes []int
		var got []string
		for batch, err := range all.Batches(ctx, dataset.ReadOptions{BatchSize: 64, DriverBatch: 7}) {
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(batch))
			got = append(got, keys(batch)...)
		}
		if !slices.Equal(sizes, []int{64, 64, 64, 64, 44}) {
			t.Errorf("batch sizes %v", sizes)
		}
		slices.Sort(got)
		if !slices.Equal(got, keys(in)) {
			t.Fatalf("read %d samples, want all %d", len(got), len(in))
		}
		// Shards: disjoint, and together everything.
		var union []string
		for i := range 3 {
			part := keys(collect(t, ctx, all, dataset.ReadOptions{Shard: i, Shards: 3}))
			if len(part) == 0 || len(part) == len(in) {
				t.Errorf("shard %d has %d of %d samples", i, len(part), len(in))
			}
			for _, k := range part {
				if dataset.KeyHash(k)%3 != int64(i) {
					t.Errorf("shard %d got %q", i, k)
				}
			}
			union = append(union, part...)
		}
		slices.Sort(union)
		if !slices.Equal(union, keys(in)) {
			t.Errorf("shards together hold %d samples, want %d distinct", len(union), len(in))
		}
		if _, err := first(all.Samples(ctx, dataset.ReadOptions{Shard: 3, Shards: 3})); err == nil {
			t.Error("shard 3 of 3 accepted")
		}
		// Shuffle: a permutation, the same for the same seed, another for another.
		s1 := keys(collect(t, ctx, all, dataset.ReadOptions{Shuffle: true, Seed: 1, ShuffleBuffer: 50}))
		s1b := keys(collect(t, ctx, all, dataset.ReadOptions{Shuffle: true, Seed: 1, ShuffleBuffer: 50}))
		s2 := keys(collect(t, ctx, all, dataset.ReadOptions{Shuffle: true, Seed: 2, ShuffleBuffer: 50}))
		if !slices.Equal(s1, s1b) || slices.Equal(s1, s2) {
			t.Error("shuffle is not deterministic per seed")
		}
		sorted := slices.Sorted(slices.Values(s1))
		if !slices.Equal(sorted, keys(in)) || slices.Equal(s1, keys(in)) {
			t.Error("shuffle is not a permutation, or not shuffled")
		}
		// Sampling: deterministic, about the fraction asked.
		f1 := keys(collect(t, ctx, all, dataset.ReadOptions{Fraction: 0.3, Seed: 9}))
		f2 := keys(collect(t, ctx, all, dataset.ReadOptions{Fraction: 0.3, Seed: 9}))
		if !slices.Equal(f1, f2) || len(f1) < 50 || len(f1) > 130 {
			t.Errorf("fraction 0.3 of 300 gave %d (and %d) samples", len(f1), len(f2))
		}
		if n := len(collect(t, ctx, all, dataset.ReadOptions{Limit: 70, BatchSize: 32})); n != 70 {
			t.Errorf("limit 70 read %d", n)
		}
		// Breaking out early stops the prefetching goroutine (the race
		// detector and the test's end would notice a leak writing on).
		for _, err := range all.Batches(ctx, dataset.ReadOptions{BatchSize: 10, Prefetch: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	})
}

func first[T any](seq func(func(T, error) bool)) (T, error) {
	var zero T
	for v, err := range seq {
		return v, err
	}
	return zero, nil
}

func TestCacheServesSecondEpoch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		dir := t.TempDir()
		c := open(t, b, dataset.Options{CacheDir: dir, Compress: true, CompressMin: 1})
		if _, err := c.Insert(ctx, mnistLike(50)...); err != nil {
			t.Fatal(err)
		}
		train, err := c.Define(ctx, "train", dataset.Query{Tags: []string{"train"}})
		if err != nil {
			t.Fatal(err)
		}
		o := dataset.ReadOptions{Cache: true, BatchSize: 8}
		epoch1 := collect(t, ctx, train, o)
		if len(epoch1) != 37 {
			t.Fatalf("epoch 1 read %d, want 37", len(epoch1))
		}
		// Change the stored pixels behind the library's back, without touching
		// the counter: a read that went to the server would see it.
		if _, err := c.Mongo().UpdateMany(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "label", Value: int64(99)}}}}); err != nil {
			t.Fatal(err)
		}
		epoch2 := collect(t, ctx, train, o)
		if !reflect.DeepEqual(epoch1, epoch2) {
			t.Fatal("second epoch differs from the first: not served from the cache")
		}
		// An exact shuffle from the cache: a permutation of the same samples.
		sh := collect(t, ctx, train, dataset.ReadOptions{Cache: true, Shuffle: true, Seed: 4})
		if slices.Equal(keys(sh), keys(epoch1)) || !slices.Equal(slices.Sorted(slices.Values(keys(sh))), slices.Sorted(slices.Values(keys(epoch1)))) {
			t.Error("cached shuffle is not a shuffled permutation")
		}
		// A new sample extends the cache: only the new sequence range is
		// fetched, the rest still comes from disk.
		if _, err := c.Insert(ctx, dataset.Sample{Key: "new", Bytes: []byte("n"), Label: 99, Tags: []string{"train"}}); err != nil {
			t.Fatal(err)
		}
		epoch3 := collect(t, ctx, train, o)
		if len(epoch3) != 38 || !reflect.DeepEqual(epoch3[:37], epoch1) || epoch3[37].Key != "new" {
			t.Fatalf("after an insert: %d samples; want the 37 cached ones, then the new one", len(epoch3))
		}
		// A deletion makes the next read refill from the server.
		if err := c.Delete(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		epoch4 := collect(t, ctx, train, o)
		if len(epoch4) != 37 || epoch4[0].Label != 99 {
			t.Fatalf("after a delete: %d samples, label %d; want 37 fresh ones with label 99", len(epoch4), epoch4[0].Label)
		}
		// A torn cache index costs a refill, not an error.
		idx, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "index.json"))
		if len(idx) == 0 {
			t.Fatal("no cache index written")
		}
		for _, p := range idx {
			os.WriteFile(p, []byte("{torn"), 0o644)
		}
		if n := len(collect(t, ctx, train, o)); n != 37 {
			t.Fatalf("after a torn index: %d samples, want 37", n)
		}
	})
}

func TestBadOptionsAreRefused(t *testing.T) {
	ctx := storetest.Context(t)
	c := open(t, storetest.Backends()[0], dataset.Options{})
	for name, o := range map[string]dataset.ReadOptions{
		"fraction": {Fraction: 1.5},
		"limit":    {Limit: -1},
		"shard":    {Shard: -1, Shards: 2},
	} {
		if _, err := first(c.All().Samples(ctx, o)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v; want an error naming it", name, err)
		}
	}
	if _, err := c.Define(ctx, "x", dataset.Query{Fields: map[string]any{"a.b": 1}}); err == nil {
		t.Error("a dotted field name was accepted")
	}
}
