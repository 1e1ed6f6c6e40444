package dataset_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
)

// regressionSamples are n feature vectors whose targets are 2-vectors; every
// third payload is big enough to go to GridFS (with a 2 KiB threshold) while
// its target stays in the document.
func regressionSamples(n int) []dataset.Sample {
	out := make([]dataset.Sample, n)
	for i := range out {
		w := 4
		if i%3 == 0 {
			w = 1000
		}
		x := make([]float32, w)
		for j := range x {
			x[j] = float32(i*j) * 0.25
		}
		y := []float32{float32(i) * 1.5, -float32(i) / 3}
		out[i] = dataset.Sample{Key: fmt.Sprintf("r-%03d", i), Tensor: dataset.Float32Tensor([]int{w}, x),
			Target: dataset.Float32Tensor([]int{2}, y), Label: i % 2, Tags: []string{"reg"}}
	}
	return out
}

// Targets survive insert, Get, a server read, a cache fill and a read from
// the cache, bit for bit, with payloads inline and in GridFS.
func TestTargetsRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		dir := t.TempDir()
		c := open(t, b, dataset.Options{BlobThreshold: 2048, CacheDir: dir, Compress: true, CompressMin: 64})
		in := regressionSamples(12)
		in = append(in, dataset.Sample{Key: "mask", Bytes: []byte("img"), Target: dataset.Uint8Tensor([]int{2, 2}, []uint8{0, 1, 1, 0})},
			dataset.Sample{Key: "ids", Bytes: []byte("txt"), Target: dataset.Int32Tensor([]int{3}, []int32{7, -1, 2})},
			dataset.Sample{Key: "plain", Bytes: []byte("no target"), Label: 4})
		if _, err := c.Insert(ctx, in...); err != nil {
			t.Fatal(err)
		}
		want := map[string]*dataset.Tensor{}
		for _, s := range in {
			want[s.Key] = s.Target
		}
		check := func(how string, s dataset.Sample) {
			t.Helper()
			w := want[s.Key]
			if w == nil {
				if s.Target != nil {
					t.Errorf("%s: sample %q has target %+v, want none", how, s.Key, s.Target)
				}
				return
			}
			if s.Target == nil || s.Target.DType != w.DType || fmt.Sprint(s.Target.Shape) != fmt.Sprint(w.Shape) ||
				fmt.Sprint(s.Target.Float32, s.Target.Int32, s.Target.Uint8) != fmt.Sprint(w.Float32, w.Int32, w.Uint8) {
				t.Errorf("%s: sample %q target %+v, want %+v", how, s.Key, s.Target, w)
			}
		}
		for _, k := range []string{"r-000", "r-001", "mask", "ids", "plain"} {
			s, err := c.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			check("get", s)
		}
		for _, how := range []string{"server", "cache fill", "cache"} {
			got := collect(t, ctx, c.All(), dataset.ReadOptions{Cache: how != "server", BatchSize: 5})
			if len(got) != len(in) {
				t.Fatalf("%s: read %d samples, want %d", how, len(got), len(in))
			}
			for _, s := range got {
				check(how, s)
			}
		}
		if n := dataset.Fills(c); n != 1 {
			t.Fatalf("%d cache fills, want 1 (the third read from the cache)", n)
		}
		// A cache of the format before targets is refilled, not misread.
		idx, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "index.json"))
		if len(idx) != 1 {
			t.Fatalf("cache indexes %v, want one", idx)
		}
		raw, err := os.ReadFile(idx[0])
		if err != nil {
			t.Fatal(err)
		}
		old := strings.Replace(string(raw), `"version":2`, `"version":1`, 1)
		if old == string(raw) {
			t.Fatalf("cache index has no \"version\":2: %.80s", raw)
		}
		if err := os.WriteFile(idx[0], []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, s := range collect(t, ctx, c.All(), dataset.ReadOptions{Cache: true}) {
			check("after a version-1 cache", s)
		}
		if n := dataset.Fills(c); n != 2 {
			t.Fatalf("%d cache fills, want 2: a version-1 cache must be refilled", n)
		}
	})
}

// A bad target is refused before anything is written, naming the sample
// and what was expected.
func TestBadTargetsWriteNothing(t *testing.T) {
	ctx := storetest.Context(t)
	c := open(t, storetest.Backends()[0], dataset.Options{})
	nan := float32(math.NaN())
	for name, tc := range map[string]struct {
		target *dataset.Tensor
		want   string
	}{
		"nan":   {dataset.Float32Tensor([]int{2}, []float32{1, nan}), "element 1 of shape [2] is NaN, expected a finite value"},
		"inf":   {dataset.Float32Tensor([]int{1}, []float32{float32(math.Inf(-1))}), "is -Inf, expected a finite value"},
		"shape": {dataset.Float32Tensor([]int{3}, []float32{1, 2}), "shape [3] holds 3 float32 values, got 2"},
		"big":   {dataset.Float32Tensor([]int{20000}, make([]float32, 20000)), "80000 bytes, expected at most 65536"},
		"dtype": {&dataset.Tensor{DType: "float64", Shape: []int{1}}, `dtype "float64"`},
	} {
		good := dataset.Sample{Key: "good-" + name, Bytes: []byte("x"), Target: dataset.Float32Tensor([]int{1}, []float32{1})}
		bad := dataset.Sample{Key: "bad-" + name, Bytes: []byte("x"), Target: tc.target}
		_, err := c.Insert(ctx, good, bad)
		if !errors.Is(err, dataset.ErrInvalidSample) || !strings.Contains(err.Error(), `"bad-`+name+`"`) ||
			!strings.Contains(err.Error(), "target") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrInvalidSample naming the sample, its target and %q", name, err, tc.want)
		}
	}
	k, err := c.Counter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Mongo().CountDocuments(ctx, map[string]any{}); err != nil || n != 0 || k.Seq != 0 {
		t.Fatalf("%d documents (%v), counter %+v after refused inserts; want nothing written", n, err, k)
	}
}

// TargetCounts says, without reading a payload, which samples of a view
// carry targets of which kind and shape.
func TestTargetCounts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		c := open(t, b, dataset.Options{})
		in := regressionSamples(5)
		in[1].Target = nil
		in[3].Target = dataset.Float32Tensor([]int{}, []float32{2})
		if _, err := c.Insert(ctx, in...); err != nil {
			t.Fatal(err)
		}
		got, err := c.All().TargetCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := "[{Kind: Shape:[] Count:1} {Kind:float32 Shape:[] Count:1} {Kind:float32 Shape:[2] Count:3}]"
		if fmt.Sprintf("%+v", got) != want || got[0].Shape != nil || got[1].Shape == nil {
			t.Fatalf("TargetCounts %+v, want %s (no shape for none, an empty one for a scalar)", got, want)
		}
	})
}
