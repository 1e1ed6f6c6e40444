package models_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newStore(t testing.TB, db *store.DB, opts models.Options) *models.Store {
	t.Helper()
	s, err := models.New(storetest.Context(t), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func save(t testing.TB, s *models.Store, spec models.Spec, w []byte) *models.Model {
	t.Helper()
	m, err := s.Save(storetest.Context(t), spec, bytes.NewReader(w))
	if err != nil {
		t.Fatalf("Save(%s): %v", spec.Name, err)
	}
	return m
}

func TestSaveFindLoad(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.OpenConfig(t, store.Config{Project: "cifar"})
		cache := t.TempDir()
		s := newStore(t, db, models.Options{CacheDir: cache})

		arch := json.RawMessage(`{"layers":[{"type":"dense","units":10}]}`)
		w1 := randomBytes(t, 600_000) // three chunks
		w2 := randomBytes(t, 1000)
		m1 := save(t, s, models.Spec{Name: "cnn", Architecture: arch,
			Params:  map[string]any{"lr": 0.01, "batch": 128},
			Metrics: map[string]float64{"accuracy": 0.71},
			Lineage: models.Lineage{Dataset: "cifar10-train", Task: "t-1"}}, w1)
		m2 := save(t, s, models.Spec{Name: "cnn", Architecture: arch}, w2)
		if m1.Version != 1 || m2.Version != 2 {
			t.Fatalf("versions = %d, %d; want 1, 2", m1.Version, m2.Version)
		}
		latest, err := s.Get(ctx, models.Ref{Name: "cnn"})
		if err != nil || latest.Version != 2 {
			t.Fatalf("latest = %+v, %v; want v2", latest, err)
		}
		got, err := s.Get(ctx, models.Ref{Name: "cnn", Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got.Params["lr"] != 0.01 || got.Metrics["accuracy"] != 0.71 || got.Lineage.Dataset != "cifar10-train" ||
			got.Weights.Size != int64(len(w1)) || got.Project != "cifar" || got.Created.IsZero() {
			t.Fatalf("v1 read back as %+v", got)
		}
		var a, b2 any
		if json.Unmarshal(got.Architecture, &a) != nil || json.Unmarshal(arch, &b2) != nil || fmt.Sprint(a) != fmt.Sprint(b2) {
			t.Fatalf("architecture = %s, want %s", got.Architecture, arch)
		}

		l, err := s.Load(ctx, models.Ref{Name: "cnn", Version: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l.Weights, w1) || l.FromCache {
			t.Fatalf("first load: %d bytes, FromCache=%v; want the saved %d bytes from the server", len(l.Weights), l.FromCache, len(w1))
		}
		l, err = s.Load(ctx, models.Ref{Name: "cnn", Version: 1})
		if err != nil || !bytes.Equal(l.Weights, w1) || !l.FromCache {
			t.Fatalf("second load: FromCache=%v, err=%v; want the same bytes from the cache", l != nil && l.FromCache, err)
		}
		// A damaged cache file is noticed and replaced from the server.
		cf := filepath.Join(cache, m1.Weights.SHA256+".bin")
		if err := os.WriteFile(cf, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		l, err = s.Load(ctx, models.Ref{Name: "cnn", Version: 1})
		if err != nil || !bytes.Equal(l.Weights, w1) || l.FromCache {
			t.Fatalf("load over damaged cache: FromCache=%v, err=%v; want server bytes", l != nil && l.FromCache, err)
		}

		// Other projects see nothing of this one.
		other := newStore(t, must(db.WithProject("other")), models.Options{})
		if _, err := other.Get(ctx, models.Ref{Name: "cnn"}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("other project Get = %v, want ErrNotFound", err)
		}
		if names, err := s.Names(ctx); err != nil || len(names) != 1 || names[0] != "cnn" {
			t.Fatalf("Names = %v, %v; want [cnn]", names, err)
		}
		if _, err := s.Get(ctx, models.Ref{Name: "cnn", Version: 9}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Get(v9) = %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, models.Ref{Name: "nope"}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("Get(nope) = %v, want ErrNotFound", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSaveRejectsBadInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newStore(t, b.Open(t), models.Options{})
		cases := []struct {
			spec models.Spec
			want string
		}{
			{models.Spec{Name: ""}, "name is empty"},
			{models.Spec{Name: "m", Architecture: json.RawMessage("{bad")}, "not valid JSON"},
			{models.Spec{Name: "m", Metrics: map[string]float64{"a.b": 1}}, "metric name"},
		}
		for _, c := range cases {
			if _, err := s.Save(ctx, c.spec, bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Save(%+v) = %v, want error mentioning %q", c.spec, err, c.want)
			}
		}
		if ms, err := s.List(ctx, "m"); err != nil || len(ms) != 0 {
			t.Fatalf("after rejected saves List = %d models, %v; want none", len(ms), err)
		}
	})
}

func TestAliasesAndDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		w := [][]byte{randomBytes(t, 100), randomBytes(t, 200), randomBytes(t, 300)}
		for _, x := range w {
			save(t, s, models.Spec{Name: "rnn"}, x)
		}
		if err := s.Alias(ctx, "rnn", "production", 2); err != nil {
			t.Fatal(err)
		}
		if err := s.Alias(ctx, "rnn", "best", 3); err != nil {
			t.Fatal(err)
		}
		if err := s.Alias(ctx, "rnn", "best", 7); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("alias to missing v7 = %v, want ErrNotFound", err)
		}
		l, err := s.Load(ctx, models.Ref{Name: "rnn", Alias: "production"})
		if err != nil || l.Version != 2 || !bytes.Equal(l.Weights, w[1]) {
			t.Fatalf("load rnn@production: %v; want v2", err)
		}
		if err := s.Alias(ctx, "rnn", "production", 3); err != nil { // move it
			t.Fatal(err)
		}
		if m, err := s.Get(ctx, models.Ref{Name: "rnn", Alias: "production"}); err != nil || m.Version != 3 {
			t.Fatalf("after move rnn@production = %v, %v; want v3", m, err)
		}
		if al, err := s.Aliases(ctx, "rnn"); err != nil || len(al) != 2 || al["best"] != 3 {
			t.Fatalf("Aliases = %v, %v", al, err)
		}
		if err := s.Delete(ctx, "rnn", 3); !errors.Is(err, models.ErrAliased) {
			t.Fatalf("delete aliased v3 = %v, want ErrAliased", err)
		}
		if err := s.Delete(ctx, "rnn", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, models.Ref{Name: "rnn", Version: 2}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("deleted v2 still found: %v", err)
		}
		if err := s.Delete(ctx, "rnn", 2); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("second delete = %v, want ErrNotFound", err)
		}
		// Versions are never reused, even after deleting the latest.
		if err := s.Unalias(ctx, "rnn", "best"); err != nil {
			t.Fatal(err)
		}
		if err := s.Unalias(ctx, "rnn", "production"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "rnn", 3); err != nil {
			t.Fatal(err)
		}
		if m := save(t, s, models.Spec{Name: "rnn"}, w[0]); m.Version != 4 {
			t.Fatalf("save after deleting v3 got v%d, want v4", m.Version)
		}
		ms, err := s.List(ctx, "rnn")
		if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].Version != 4 {
			t.Fatalf("List = %v, %v; want v1, v4", ms, err)
		}
		// The deleted weights are gone from GridFS: two files remain.
		n, err := db.Collection(models.WeightsBucket+".files").CountDocuments(ctx, bson.D{})
		if err != nil || n != 2 {
			t.Fatalf("weights files = %d, %v; want 2", n, err)
		}
	})
}

func TestTop(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newStore(t, b.Open(t), models.Options{})
		for i, acc := range []float64{0.5, 0.9, 0.7, 0.8} {
			lr := 0.1
			if i%2 == 1 {
				lr = 0.01
			}
			save(t, s, models.Spec{Name: "mlp", Params: map[string]any{"lr": lr},
				Metrics: map[string]float64{"accuracy": acc, "loss": 1 - acc}}, []byte{byte(i)})
		}
		save(t, s, models.Spec{Name: "mlp"}, []byte{9}) // no metrics: never ranked
		save(t, s, models.Spec{Name: "other", Metrics: map[string]float64{"accuracy": 0.99}}, []byte{8})

		top, err := s.Top(ctx, models.TopQuery{Name: "mlp", Metric: "accuracy", K: 2})
		if err != nil || len(top) != 2 || top[0].Version != 2 || top[1].Version != 4 {
			t.Fatalf("top-2 accuracy = %v, %v; want v2, v4", versions(top), err)
		}
		top, err = s.Top(ctx, models.TopQuery{Metric: "accuracy"})
		if err != nil || len(top) != 1 || top[0].Name != "other" {
			t.Fatalf("top accuracy over all names = %v, %v; want other", top, err)
		}
		top, err = s.Top(ctx, models.TopQuery{Name: "mlp", Metric: "loss", Ascending: true, K: 10,
			Filter: bson.D{{Key: "params.lr", Value: 0.1}}})
		if err != nil || len(top) != 2 || top[0].Version != 3 || top[1].Version != 1 {
			t.Fatalf("lowest loss with lr=0.1 = %v, %v; want v3, v1", versions(top), err)
		}
		if err := s.SetMetrics(ctx, "mlp", 1, map[string]float64{"accuracy": 0.95}); err != nil {
			t.Fatal(err)
		}
		top, err = s.Top(ctx, models.TopQuery{Name: "mlp", Metric: "accuracy"})
		if err != nil || len(top) != 1 || top[0].Version != 1 {
			t.Fatalf("after SetMetrics top = %v, %v; want v1", versions(top), err)
		}
		if _, err := s.Top(ctx, models.TopQuery{Metric: "accuracy", Filter: bson.D{{Key: "project", Value: "other"}}}); err == nil {
			t.Fatal("Top with a filter on project: want an error, not another project's models")
		}
		if _, err := s.Top(ctx, models.TopQuery{Metric: "a.b"}); err == nil {
			t.Fatal("Top with metric a.b: want an error")
		}
	})
}

func versions(ms []*models.Model) []int64 {
	var v []int64
	for _, m := range ms {
		v = append(v, m.Version)
	}
	return v
}

func TestConcurrentWritersGetDistinctVersions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		const writers = 8
		var wg sync.WaitGroup
		got := make([]*models.Model, writers)
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each writer has its own Store, as separate processes would.
				s, err := models.New(ctx, db, models.Options{})
				if err != nil {
					errs[i] = err
					return
				}
				got[i], errs[i] = s.Save(ctx, models.Spec{Name: "shared"}, bytes.NewReader([]byte{byte(i)}))
			}()
		}
		wg.Wait()
		seen := map[int64]int{}
		for i := range writers {
			if errs[i] != nil {
				t.Fatalf("writer %d: %v", i, errs[i])
			}
			if j, dup := seen[got[i].Version]; dup {
				t.Fatalf("writers %d and %d both got v%d", i, j, got[i].Version)
			}
			seen[got[i].Version] = i
		}
		s := newStore(t, db, models.Options{})
		ms, err := s.List(ctx, "shared")
		if err != nil || len(ms) != writers {
			t.Fatalf("List = %d models, %v; want %d", len(ms), err, writers)
		}
		for _, m := range ms {
			l, err := s.Load(ctx, models.Ref{Name: "shared", Version: m.Version})
			if err != nil || len(l.Weights) != 1 || got[l.Weights[0]].Version != m.Version {
				t.Fatalf("v%d holds another writer's weights (%v)", m.Version, err)
			}
		}
	})
}

// failingReader yields n random bytes, then fails.
type failingReader struct{ n int }

var errDisk = errors.New("disk on fire")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errDisk
	}
	k := min(len(p), r.n)
	_, _ = rand.Read(p[:k])
	r.n -= k
	return k, nil
}

func TestInterruptedSaveLeavesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		keep := randomBytes(t, 5000)
		save(t, s, models.Spec{Name: "m"}, keep)
		// 10 MB: chunks go out in 8 MB batches, so some reach the server.
		_, err := s.Save(ctx, models.Spec{Name: "m"}, &failingReader{n: 10 << 20})
		if !errors.Is(err, errDisk) {
			t.Fatalf("Save with failing reader = %v, want it to wrap the reader's error", err)
		}
		ms, err := s.List(ctx, "m")
		if err != nil || len(ms) != 1 || ms[0].Version != 1 {
			t.Fatalf("after the failed save List = %v, %v; want only v1", versions(ms), err)
		}
		n, err := db.Collection(models.WeightsBucket+".chunks").CountDocuments(ctx, bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("chunks = %d, %v; want 1 (v1's), the failed upload's removed", n, err)
		}
		if l, err := s.Load(ctx, models.Ref{Name: "m"}); err != nil || !bytes.Equal(l.Weights, keep) {
			t.Fatalf("v1 after failed save: %v", err)
		}
	})
}

func TestCacheBound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		cache := t.TempDir()
		s := newStore(t, b.Open(t), models.Options{CacheDir: cache, CacheMaxBytes: 2500})
		for _, name := range []string{"a", "b", "c"} {
			save(t, s, models.Spec{Name: name}, randomBytes(t, 1000))
		}
		load := func(name string) bool {
			t.Helper()
			l, err := s.Load(ctx, models.Ref{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return l.FromCache
		}
		load("a")
		load("b")
		time.Sleep(20 * time.Millisecond) // distinct modification times
		if !load("a") {                   // a is now the most recently used
			t.Fatal("a not cached")
		}
		time.Sleep(20 * time.Millisecond)
		load("c") // 3000 bytes > 2500: b, the least recently used, goes
		files, _ := filepath.Glob(filepath.Join(cache, "*.bin"))
		if len(files) != 2 {
			t.Fatalf("cache holds %d files, want 2", len(files))
		}
		if !load("a") || !load("c") {
			t.Fatal("a or c evicted instead of b")
		}
		if load("b") {
			t.Fatal("b still cached")
		}
	})
}
