package models_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

func saveCheckpoint(t testing.TB, s *models.Store, c models.Checkpoint, state []byte) *models.Checkpoint {
	t.Helper()
	got, err := s.SaveCheckpoint(storetest.Context(t), c, bytes.NewReader(state))
	if err != nil {
		t.Fatalf("SaveCheckpoint(%s, step %d): %v", c.Task, c.Step, err)
	}
	return got
}

// countBlobs counts the weights bucket's files of a task's checkpoints.
func countBlobs(t testing.TB, db *store.DB, task string) int64 {
	t.Helper()
	n, err := db.Collection(models.WeightsBucket+".files").CountDocuments(storetest.Context(t), bson.D{{Key: "metadata.task", Value: task}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCheckpointSaveLoadOverwrite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{ChunkSize: 4096})
		const task = "plan-1/train"
		if _, _, err := s.LoadCheckpoint(ctx, task); !errors.Is(err, models.ErrNotFound) || !strings.Contains(err.Error(), task) {
			t.Fatalf("LoadCheckpoint before any save = %v, want ErrNotFound naming the task", err)
		}
		a := randomBytes(t, 3*4096+17)
		saveCheckpoint(t, s, models.Checkpoint{Task: task, Model: "cnn", Step: 40, Epoch: 1, Batch: 8, Examples: 512,
			Values: map[string]float64{"loss": 0.5, "accuracy": 0.75}, Run: "run-1", Meta: map[string]string{"seed": "7"}}, a)
		c, got, err := s.LoadCheckpoint(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a) || c.Step != 40 || c.Epoch != 1 || c.Batch != 8 || c.Examples != 512 || c.Run != "run-1" ||
			c.Values["accuracy"] != 0.75 || c.Meta["seed"] != "7" || c.Model != "cnn" || c.Project != db.Project() || c.Updated.IsZero() {
			t.Fatalf("checkpoint read back as %+v (%d bytes, equal %v)", c, len(got), bytes.Equal(got, a))
		}

		// Overwrite: the newer one is read, the older state's blob is gone.
		bb := randomBytes(t, 1000)
		saveCheckpoint(t, s, models.Checkpoint{Task: task, Step: 80, Epoch: 2, Batch: 0, Run: "run-1"}, bb)
		c, got, err = s.LoadCheckpoint(ctx, task)
		if err != nil || !bytes.Equal(got, bb) || c.Step != 80 || c.Epoch != 2 {
			t.Fatalf("after overwrite: %+v, %v; want step 80 with the new bytes", c, err)
		}
		if n := countBlobs(t, db, task); n != 1 {
			t.Fatalf("%d state blobs after an overwrite, want 1 (the previous one removed)", n)
		}
		if cs, err := s.Checkpoints(ctx); err != nil || len(cs) != 1 || cs[0].Task != task {
			t.Fatalf("Checkpoints = %v, %v; want the one of %s", cs, err, task)
		}

		// Another project does not see it.
		other, err := db.WithProject("other")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newStore(t, other, models.Options{}).GetCheckpoint(ctx, task); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("checkpoint seen from another project: %v", err)
		}

		if err := s.DeleteCheckpoint(ctx, task); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoadCheckpoint(ctx, task); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("LoadCheckpoint after delete = %v, want ErrNotFound", err)
		}
		if n := countBlobs(t, db, task); n != 0 {
			t.Fatalf("%d state blobs after delete, want 0", n)
		}
		if err := s.DeleteCheckpoint(ctx, task); err != nil {
			t.Fatalf("deleting a checkpoint that is gone: %v, want nil", err)
		}
	})
}

// failing yields n bytes, then an error: a writer that dies mid-state.
type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("writer died")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func TestCheckpointInterruptedSaveKeepsPrevious(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{ChunkSize: 4096})
		const task = "plan-2/train"
		a := randomBytes(t, 5000)
		saveCheckpoint(t, s, models.Checkpoint{Task: task, Step: 10}, a)

		// The state fails half-way: an error, the previous checkpoint intact.
		if _, err := s.SaveCheckpoint(ctx, models.Checkpoint{Task: task, Step: 20}, &failing{n: 3 * 4096}); err == nil {
			t.Fatal("SaveCheckpoint with a failing state: no error")
		}
		// The context ends mid-write.
		cctx, cancel := context.WithCancel(ctx)
		r := io.MultiReader(bytes.NewReader(randomBytes(t, 4096)), readerFunc(func(p []byte) (int, error) { cancel(); return 0, cctx.Err() }))
		if _, err := s.SaveCheckpoint(cctx, models.Checkpoint{Task: task, Step: 30}, r); err == nil {
			t.Fatal("SaveCheckpoint with its context cancelled mid-write: no error")
		}
		// A process killed after the blob, before the document: the blob
		// is whole but nothing points to it.
		bk, err := blob.NewBucket(ctx, db, models.WeightsBucket, 4096)
		if err != nil {
			t.Fatal(err)
		}
		stray, err := bk.Put(ctx, "stray", bson.D{{Key: "project", Value: db.Project()}, {Key: "task", Value: task}}, bytes.NewReader(randomBytes(t, 6000)))
		if err != nil {
			t.Fatal(err)
		}
		c, got, err := s.LoadCheckpoint(ctx, task)
		if err != nil || c.Step != 10 || !bytes.Equal(got, a) {
			t.Fatalf("after interrupted saves: step %v, %v; want the step-10 checkpoint whole", c, err)
		}
		// GC removes the stray blob and keeps the one the checkpoint names.
		if _, err := s.GC(ctx, -time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := bk.Stat(ctx, stray.ID); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stray state blob after GC: %v, want ErrNotFound", err)
		}
		if _, got, err := s.LoadCheckpoint(ctx, task); err != nil || !bytes.Equal(got, a) {
			t.Fatalf("checkpoint after GC: %v; want it whole (GC must not take a checkpoint's state)", err)
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestCheckpointBadInputWritesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		for _, c := range []models.Checkpoint{
			{Task: "", Step: 1},
			{Task: "p/t", Step: -1},
			{Task: "p/t", Values: map[string]float64{"a.b": 1}},
		} {
			if _, err := s.SaveCheckpoint(ctx, c, bytes.NewReader([]byte("x"))); err == nil {
				t.Errorf("SaveCheckpoint(%+v): no error", c)
			}
		}
		if _, err := s.SaveCheckpoint(ctx, models.Checkpoint{Task: "p/t"}, nil); err == nil {
			t.Error("SaveCheckpoint with a nil state: no error")
		}
		if n, err := db.Collection(models.WeightsBucket+".files").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("%d blobs after bad input, %v; want none", n, err)
		}
		if cs, err := s.Checkpoints(ctx); err != nil || len(cs) != 0 {
			t.Fatalf("checkpoints after bad input: %v, %v; want none", cs, err)
		}
	})
}

func TestCheckpointDamaged(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{ChunkSize: 4096})
		w := randomBytes(t, 3*4096)
		docs := db.Collection(models.CheckpointsCollection)
		chunks := db.Collection(models.WeightsBucket + ".chunks")
		for _, task := range []string{"p/doc", "p/chunkless", "p/flipped"} {
			saveCheckpoint(t, s, models.Checkpoint{Task: task, Step: 5}, w)
		}
		if _, err := docs.UpdateOne(ctx, db.Scope(bson.D{{Key: "task", Value: "p/doc"}}),
			bson.D{{Key: "$set", Value: bson.D{{Key: "state.sha256", Value: "zz"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoadCheckpoint(ctx, "p/doc"); !errors.Is(err, models.ErrCorrupt) || !strings.Contains(err.Error(), `"p/doc"`) {
			t.Errorf("damaged document: %v, want ErrCorrupt naming the task", err)
		}
		c, err := s.GetCheckpoint(ctx, "p/chunkless")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chunks.DeleteOne(ctx, bson.D{{Key: "files_id", Value: c.State.FileID}, {Key: "n", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoadCheckpoint(ctx, "p/chunkless"); !errors.Is(err, models.ErrCorrupt) || !strings.Contains(err.Error(), `"p/chunkless"`) {
			t.Errorf("missing chunk: %v, want ErrCorrupt naming the task", err)
		}
		c, err = s.GetCheckpoint(ctx, "p/flipped")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chunks.UpdateOne(ctx, bson.D{{Key: "files_id", Value: c.State.FileID}, {Key: "n", Value: 2}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: bson.Binary{Data: randomBytes(t, 4096)}}}}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoadCheckpoint(ctx, "p/flipped"); !errors.Is(err, models.ErrChecksum) || !strings.Contains(err.Error(), `"p/flipped"`) {
			t.Errorf("altered bytes: %v, want ErrChecksum naming the task", err)
		}
		// Damaged ones can still be replaced and deleted.
		saveCheckpoint(t, s, models.Checkpoint{Task: "p/doc", Step: 6}, w)
		if _, got, err := s.LoadCheckpoint(ctx, "p/doc"); err != nil || !bytes.Equal(got, w) {
			t.Fatalf("replacing a damaged checkpoint: %v", err)
		}
		for _, task := range []string{"p/doc", "p/chunkless", "p/flipped"} {
			if err := s.DeleteCheckpoint(ctx, task); err != nil {
				t.Errorf("delete damaged %s: %v", task, err)
			}
		}
	})
}

func TestGCCheckpoints(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		for _, task := range []string{"p/over", "p/running"} {
			saveCheckpoint(t, s, models.Checkpoint{Task: task, Step: 3}, randomBytes(t, 100))
		}
		var asked []string
		done := func(_ context.Context, task string) (bool, error) {
			asked = append(asked, task)
			return task == "p/over", nil
		}
		if n, err := s.GCCheckpoints(ctx, time.Hour, done); err != nil || n != 0 || len(asked) != 0 {
			t.Fatalf("GCCheckpoints(1h) = %d, %v, asked %v; want nothing removed, nothing asked (all too young)", n, err, asked)
		}
		if n, err := s.GCCheckpoints(ctx, -time.Minute, done); err != nil || n != 1 {
			t.Fatalf("GCCheckpoints = %d, %v; want the finished task's checkpoint removed", n, err)
		}
		if _, err := s.GetCheckpoint(ctx, "p/over"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("checkpoint of the finished task: %v, want ErrNotFound", err)
		}
		if _, _, err := s.LoadCheckpoint(ctx, "p/running"); err != nil {
			t.Errorf("checkpoint of the running task: %v, want it kept", err)
		}
		if n := countBlobs(t, db, "p/over"); n != 0 {
			t.Errorf("%d state blobs of the removed checkpoint, want 0", n)
		}
		boom := errors.New("status store down")
		if _, err := s.GCCheckpoints(ctx, -time.Minute, func(context.Context, string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
			t.Errorf("GCCheckpoints when the workflow cannot say: %v, want its error", err)
		}
	})
}

func TestByTask(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		s := newStore(t, b.Open(t), models.Options{})
		save(t, s, models.Spec{Name: "m", Lineage: models.Lineage{Task: "p/a"}}, []byte("1"))
		save(t, s, models.Spec{Name: "m", Lineage: models.Lineage{Task: "p/b"}}, []byte("2"))
		save(t, s, models.Spec{Name: "other", Lineage: models.Lineage{Task: "p/c"}}, []byte("3"))
		if m, err := s.ByTask(ctx, "m", "p/b"); err != nil || m.Version != 2 {
			t.Fatalf("ByTask(m, p/b) = %v, %v; want v2", m, err)
		}
		if _, err := s.ByTask(ctx, "m", "p/c"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("ByTask(m, p/c) = %v; want ErrNotFound (another model's task)", err)
		}
		if _, err := s.ByTask(ctx, "m", ""); err == nil {
			t.Fatal("ByTask with an empty task: no error")
		}
	})
}

// A checkpoint save of the train kind's CNN on 28×28 images with Adam: its
// 421,642 parameters and their two moments, 5 MB of state, replacing the
// previous checkpoint (the old blob removed).
func BenchmarkSaveCheckpoint(b *testing.B) {
	const size = 3 * 421642 * 4
	storetest.RunBench(b, func(b *testing.B, be storetest.Backend) {
		ctx := storetest.Context(b)
		s := newStore(b, be.Open(b), models.Options{})
		state := randomBytes(b, size)
		b.SetBytes(size)
		defer storetest.CPUTimer(b, size)()
		step := int64(0)
		for b.Loop() {
			step++
			if _, err := s.SaveCheckpoint(ctx, models.Checkpoint{Task: "bench/train", Step: step}, bytes.NewReader(state)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
