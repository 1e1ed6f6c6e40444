package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// Environment of the helper process that TestKilledWriter starts and kills.
const (
	helperURL = "TL_MODELS_HELPER_URL"
	helperDB  = "TL_MODELS_HELPER_DB"
)

func TestMain(m *testing.M) {
	if u := os.Getenv(helperURL); u != "" {
		os.Exit(slowSave(u, os.Getenv(helperDB)))
	}
	os.Exit(m.Run())
}

// slowSave saves a model whose reader gives 10 MB and then hangs, so the
// process is killed with its upload half done.
func slowSave(url, database string) int {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{URL: url, Database: database})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := models.New(ctx, db, models.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, err = s.Save(ctx, models.Spec{Name: "m"}, io.MultiReader(io.LimitReader(&failingReader{n: 11 << 20}, 10<<20), hang{}))
	fmt.Fprintln(os.Stderr, "save returned:", err)
	return 3
}

type hang struct{}

func (hang) Read([]byte) (int, error) { select {} }

func TestKilledWriterLeavesNoModel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		keep := randomBytes(t, 3000)
		save(t, s, models.Spec{Name: "m"}, keep)

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperURL+"="+db.URL(), helperDB+"="+db.Database().Name())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		chunks := db.Collection(models.WeightsBucket + ".chunks")
		deadline := time.Now().Add(3 * time.Minute)
		for {
			n, err := chunks.CountDocuments(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			if n > 1 { // the helper's first 8 MB are on the server
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("helper exited early (%v): %s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("helper wrote no chunks in 3 minutes: %s", stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited

		ms, err := s.List(ctx, "m")
		if err != nil || len(ms) != 1 || ms[0].Version != 1 {
			t.Fatalf("after killing the writer List = %v, %v; want only v1", versions(ms), err)
		}
		if m, err := s.Get(ctx, models.Ref{Name: "m"}); err != nil || m.Version != 1 {
			t.Fatalf("latest after kill = %v, %v; want v1", m, err)
		}
		// GC removes the dead upload's chunks and nothing else.
		removed, err := s.GC(ctx, 0)
		if err != nil || removed != 1 {
			t.Fatalf("GC = %d, %v; want 1 orphan upload removed", removed, err)
		}
		if n, err := chunks.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
			t.Fatalf("chunks after GC = %d, %v; want v1's one", n, err)
		}
		if l, err := s.Load(ctx, models.Ref{Name: "m", Version: 1}); err != nil || !bytes.Equal(l.Weights, keep) {
			t.Fatalf("v1 after kill and GC: %v", err)
		}
		if m := save(t, s, models.Spec{Name: "m"}, keep); m.Version != 2 {
			t.Fatalf("next save got v%d, want v2", m.Version)
		}
	})
}

func TestDamagedRecords(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{ChunkSize: 4096})
		w := randomBytes(t, 5*4096+100)
		for _, name := range []string{"chunkless", "flipped", "corrupt", "fileless", "healthy"} {
			save(t, s, models.Spec{Name: name}, w)
		}
		get := func(name string) *models.Model {
			m, err := s.Get(ctx, models.Ref{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		chunks := db.Collection(models.WeightsBucket + ".chunks")

		// A missing chunk.
		m := get("chunkless")
		if _, err := chunks.DeleteOne(ctx, bson.D{{Key: "files_id", Value: m.Weights.FileID}, {Key: "n", Value: 2}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, models.Ref{Name: "chunkless"}); !errors.Is(err, models.ErrCorrupt) || !strings.Contains(err.Error(), "chunkless v1") {
			t.Errorf("load with a missing chunk = %v, want ErrCorrupt naming chunkless v1", err)
		}

		// Same-size chunk with other bytes: only the checksum can tell.
		m = get("flipped")
		bad := randomBytes(t, 4096)
		if _, err := chunks.UpdateOne(ctx, bson.D{{Key: "files_id", Value: m.Weights.FileID}, {Key: "n", Value: 1}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "data", Value: bson.Binary{Data: bad}}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, models.Ref{Name: "flipped"}); !errors.Is(err, models.ErrChecksum) {
			t.Errorf("load with altered bytes = %v, want ErrChecksum", err)
		}

		// A document with a wrong type and a bad checksum field.
		if _, err := db.Collection(models.ModelsCollection).UpdateOne(ctx, db.Scope(bson.D{{Key: "name", Value: "corrupt"}}),
			bson.D{{Key: "$set", Value: bson.D{{Key: "weights.sha256", Value: "zz"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, models.Ref{Name: "corrupt", Version: 1}); !errors.Is(err, models.ErrCorrupt) || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("get corrupt document = %v, want ErrCorrupt about sha256", err)
		}
		if _, err := db.Collection(models.ModelsCollection).UpdateOne(ctx, db.Scope(bson.D{{Key: "name", Value: "corrupt"}}),
			bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: "one"}}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(ctx, "corrupt"); !errors.Is(err, models.ErrCorrupt) {
			t.Errorf("list with a mistyped document = %v, want ErrCorrupt", err)
		}

		// Weights file gone altogether.
		m = get("fileless")
		if err := db.Collection(models.WeightsBucket+".files").FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: m.Weights.FileID}}).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, models.Ref{Name: "fileless"}); !errors.Is(err, models.ErrCorrupt) {
			t.Errorf("load without its GridFS file = %v, want ErrCorrupt", err)
		}

		// The damage stays where it is: the healthy model loads, the
		// damaged documents are still there to inspect, and can be deleted.
		if l, err := s.Load(ctx, models.Ref{Name: "healthy"}); err != nil || !bytes.Equal(l.Weights, w) {
			t.Fatalf("healthy model: %v", err)
		}
		if n, err := db.Collection(models.ModelsCollection).CountDocuments(ctx, db.Scope(nil)); err != nil || n != 5 {
			t.Fatalf("model documents = %d, %v; want all 5 kept", n, err)
		}
		if err := s.Delete(ctx, "corrupt", 1); err != nil {
			t.Fatalf("delete corrupt document: %v", err)
		}
	})
}

func TestServerGoneMidRead(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		srvCfg := b.ServerConfig(t)
		srv, err := store.Open(ctx, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { srv.Close(context.Background()) }()
		dbName := storetest.TempName("gone_")
		// A short server selection timeout: the reads after the server has
		// gone fail in seconds, not the default 30 s per attempt.
		client, err := store.Open(ctx, store.Config{URL: srv.URL() + "?serverSelectionTimeoutMS=2000", Database: dbName})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close(context.Background())
		// Small chunks: more than one reply batch, so reading needs the server.
		s := newStore(t, client, models.Options{ChunkSize: 4096})
		w := randomBytes(t, 1<<20)
		m := save(t, s, models.Spec{Name: "m"}, w)

		rc, err := s.OpenWeights(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 8192)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, rc); done <- err }()
		select {
		case err := <-done:
			if err == nil || errors.Is(err, models.ErrChecksum) {
				t.Fatalf("read after the server went away = %v, want a read error", err)
			}
			t.Logf("read after the server went away: %v", err)
			if !strings.Contains(err.Error(), "read weights of m v1") {
				t.Errorf("error %q does not say what was being read", err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatal("read hung after the server went away")
		}
		rc.Close()

		// Restart the server on the same storage: nothing was lost.
		srv2, err := store.Open(ctx, srvCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer srv2.Close(context.Background())
		client2, err := store.Open(ctx, store.Config{URL: srv2.URL(), Database: dbName})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if b.Name == "postgresql" {
				_ = client2.Database().Drop(context.Background())
			}
			client2.Close(context.Background())
		}()
		l, err := newStore(t, client2, models.Options{ChunkSize: 4096}).Load(ctx, models.Ref{Name: "m"})
		if err != nil || !bytes.Equal(l.Weights, w) {
			t.Fatalf("load after restart: %v", err)
		}
	})
}

// A save that died after its weights were whole but before its document:
// the blob is unreferenced, and GC removes it and nothing else.
func TestGCRemovesUnreferencedWeights(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		s := newStore(t, db, models.Options{})
		keep := randomBytes(t, 2000)
		save(t, s, models.Spec{Name: "m"}, keep)
		bk, err := blob.NewBucket(ctx, db, models.WeightsBucket, 0)
		if err != nil {
			t.Fatal(err)
		}
		stray, err := bk.Put(ctx, "m", bson.D{{Key: "project", Value: db.Project()}}, bytes.NewReader(randomBytes(t, 3000)))
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.GC(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("GC(1h) = %d, %v; want nothing removed (the stray blob is too young)", n, err)
		}
		if n, err := s.GC(ctx, -time.Minute); err != nil || n != 1 {
			t.Fatalf("GC = %d, %v; want the stray blob removed", n, err)
		}
		if _, err := bk.Stat(ctx, stray.ID); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stray blob after GC: %v, want ErrNotFound", err)
		}
		if l, err := s.Load(ctx, models.Ref{Name: "m"}); err != nil || !bytes.Equal(l.Weights, keep) {
			t.Fatalf("model after GC: %v", err)
		}
	})
}
