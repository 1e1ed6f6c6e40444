package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/storetest"
)

func TestOpenRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.OpenConfig(t, store.Config{Project: "p1"})
		if db.Project() != "p1" {
			t.Fatalf("Project() = %q, want p1", db.Project())
		}
		if !strings.HasPrefix(db.URL(), "mongodb://127.0.0.1:") {
			t.Fatalf("URL() = %q, want a loopback mongodb:// URL", db.URL())
		}
		c := db.Collection("things")
		if _, err := c.InsertMany(ctx, []any{
			bson.D{{Key: "project", Value: "p1"}, {Key: "k", Value: "a"}},
			bson.D{{Key: "project", Value: "p2"}, {Key: "k", Value: "b"}},
		}); err != nil {
			t.Fatal(err)
		}
		n, err := c.CountDocuments(ctx, db.Scope(nil))
		if err != nil || n != 1 {
			t.Fatalf("CountDocuments(project p1) = %d, %v; want 1", n, err)
		}
		// distinct under a context deadline: the driver sends maxTimeMS,
		// which FerretDB rejects; Detach drops the deadline.
		dctx, cancel := store.Detach(ctx)
		defer cancel()
		if _, ok := dctx.Deadline(); ok {
			t.Fatal("Detach kept the deadline")
		}
		res := c.Distinct(dctx, "k", bson.D{})
		var ks []string
		if err := res.Decode(&ks); err != nil || len(ks) != 2 {
			t.Fatalf("Distinct = %v, %v; want 2 keys", ks, err)
		}
		p2, err := db.WithProject("p2")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.CountDocuments(ctx, p2.Scope(bson.D{{Key: "k", Value: "b"}})); err != nil || n != 1 {
			t.Fatalf("CountDocuments(project p2) = %d, %v; want 1", n, err)
		}
		if err := p2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Client().Ping(ctx, nil); err != nil {
			t.Fatalf("closing a project view closed the connection: %v", err)
		}
		// A URL's path names the database (mongodb://host/NAME), as for the
		// MongoDB shell: a second client reaches the same records.
		name := db.Database().Name()
		other, err := store.Open(ctx, store.Config{URL: strings.TrimSuffix(db.URL(), "/") + "/" + name, Project: "p1"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(ctx)
		if got := other.Database().Name(); got != name {
			t.Fatalf("database of %s/%s: %q", db.URL(), name, got)
		}
		if n, err := other.Collection("things").CountDocuments(ctx, other.Scope(nil)); err != nil || n != 1 {
			t.Fatalf("CountDocuments through the URL's database = %d, %v; want 1", n, err)
		}
	})
}

func TestDetachCancels(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	d, stop := store.Detach(parent)
	defer stop()
	cancel()
	select {
	case <-d.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Detach(ctx) not cancelled when ctx was")
	}
}

func TestEmbeddedLockAndReopen(t *testing.T) {
	ctx := storetest.Context(t)
	// A folder and a file others could read, as a umask of 022 leaves them:
	// Open narrows both.
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "project", Value: db.Project()}, {Key: "x", Value: 42}}); err != nil {
		t.Fatal(err)
	}
	// A second server on the same directory would corrupt it.
	if db2, err := store.Open(ctx, store.Config{DataDir: dir}); !errors.Is(err, store.ErrLocked) {
		if db2 != nil {
			db2.Close(ctx)
		}
		t.Fatalf("second Open on %s: err = %v, want ErrLocked", dir, err)
	}
	// Another client reaches the embedded server through URL.
	viaURL, err := store.Open(ctx, store.Config{URL: db.URL()})
	if err != nil {
		t.Fatalf("Open(URL of embedded server): %v", err)
	}
	if viaURL.Embedded() || !db.Embedded() {
		t.Fatalf("Embedded() = %v (url), %v (embedded); want false, true", viaURL.Embedded(), db.Embedded())
	}
	if n, err := viaURL.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count via URL = %d, %v; want 1", n, err)
	}
	viaURL.Close(ctx)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The data stays private to this user: the folder 0700, its files 0600.
	assertPrivate(t, dir)
	// The lock is released and the data is still there (opened this time to
	// flush every commit).
	db, err = store.Open(ctx, store.Config{DataDir: dir, SyncEveryCommit: true})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	defer db.Close(ctx)
	var doc struct{ X int }
	if err := db.Collection("c").FindOne(ctx, bson.D{}).Decode(&doc); err != nil || doc.X != 42 {
		t.Fatalf("after reopen: %+v, %v; want x=42", doc, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := storetest.Context(t)
	cases := []struct {
		name string
		cfg  store.Config
		want string
	}{
		{"no data dir", store.Config{}, "DataDir is required"},
		{"bad scheme", store.Config{URL: "http://127.0.0.1:1"}, "expected a mongodb://"},
		{"off loopback", store.Config{DataDir: t.TempDir(), ListenAddr: "0.0.0.0:0"}, "not a loopback address"},
		{"bad listen", store.Config{DataDir: t.TempDir(), ListenAddr: "nohostport"}, "expected host:port"},
		{"bad project", store.Config{URL: "mongodb://127.0.0.1:1", Project: "$x"}, "project name"},
	}
	for _, c := range cases {
		_, err := store.Open(ctx, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// A password never appears in an error, whatever the failure.
	for _, u := range []string{"postgres://tl:hunter2@127.0.0.1:1/x", "mongodb://tl:hunter2@127.0.0.1:1/?serverSelectionTimeoutMS=500"} {
		_, err := store.Open(ctx, store.Config{URL: u})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s): err = %v; want an error without the password", u, err)
		}
	}
	// Nothing listens on port 1: Open must fail within ctx, saying where.
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := store.Open(short, store.Config{URL: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=2000"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable server: err = %v, want an error naming 127.0.0.1:1", err)
	}
}

// FerretDB logs an error reply at WARN: by default that stays out of the
// caller's logger; with ServerLogLevel it comes through, attributes and all.
func TestServerLogFilter(t *testing.T) {
	ctx := storetest.Context(t)
	run := func(level *slog.Level) string {
		var buf syncBuffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		db, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: logger, ServerLogLevel: level})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Database().RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err(); err == nil {
			t.Fatal("noSuchCommand succeeded")
		}
		db.Close(ctx)
		return buf.String()
	}
	if s := run(nil); strings.Contains(s, "level=WARN") || strings.Contains(s, "level=INFO") {
		t.Fatalf("server records below ERROR reached the logger:\n%s", s)
	}
	debug := slog.LevelDebug
	if s := run(&debug); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "component=ferretdb") {
		t.Fatalf("with ServerLogLevel=DEBUG the error reply was not logged at WARN with its attributes:\n%s", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIndexIDs(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := storetest.Context(t)
		db := b.Open(t)
		if err := db.IndexIDs(ctx, "c1", "c2"); err != nil {
			t.Fatal(err)
		}
		if err := db.IndexIDs(ctx, "c1"); err != nil {
			t.Fatalf("second IndexIDs: %v", err)
		}
		c := db.Collection("c1")
		for i := range 50 {
			if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprint("k", i)}, {Key: "v", Value: i}}); err != nil {
				t.Fatal(err)
			}
		}
		var doc struct{ V int }
		if err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "k42"}}).Decode(&doc); err != nil || doc.V != 42 {
			t.Fatalf("FindOne(k42) = %+v, %v", doc, err)
		}
		if b.Name != "sqlite" {
			return
		}
		// SQLite plans FerretDB's lookup by _id with the index.
		files, _ := filepath.Glob(filepath.Join(db.DataDir(), "*.sqlite"))
		if len(files) != 1 {
			t.Fatalf("SQLite files %v, want one", files)
		}
		sq, err := sql.Open("sqlite", "file:"+files[0]+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer sq.Close()
		var table string
		if err := sq.QueryRow(`SELECT table_name FROM _ferretdb_collections WHERE name = 'c1'`).Scan(&table); err != nil {
			t.Fatal(err)
		}
		var id, parent, unused int
		var plan string
		if err := sq.QueryRow(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM "`+table+`" WHERE _ferretdb_sjson->'$._id' = ?`, `"k42"`).
			Scan(&id, &parent, &unused, &plan); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "USING INDEX") {
			t.Fatalf("query plan %q does not use an index", plan)
		}
	})
}

// assertPrivate fails unless dir is 0700 and every file in it 0600 or narrower.
func assertPrivate(t *testing.T, dir string) {
	t.Helper()
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory %s has mode %o; want 700", dir, perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		files++
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("data file %s has mode %o; want 600", e.Name(), fi.Mode().Perm())
		}
	}
	if files == 0 {
		t.Errorf("no files in %s: the check checked nothing", dir)
	}
}

// A commit survives its process being killed (kill -9) with the default
// synchronous=NORMAL: the child writes, says so, and is killed; the data is
// there when the parent opens the folder.
func TestKilledWriterKeepsCommits(t *testing.T) {
	if dir := os.Getenv("TL_STORE_KILL_DIR"); dir != "" {
		ctx := context.Background()
		db, err := store.Open(ctx, store.Config{DataDir: dir})
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		for i := range 50 {
			if _, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "project", Value: db.Project()}, {Key: "i", Value: i}}); err != nil {
				fmt.Println("insert:", err)
				os.Exit(1)
			}
		}
		fmt.Println("written")
		select {} // until killed
	}
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterKeepsCommits$")
	cmd.Env = append(os.Environ(), "TL_STORE_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "written" {
		_ = cmd.Process.Kill()
		t.Fatalf("the writer said %q (%v)", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	ctx := storetest.Context(t)
	db, err := store.Open(ctx, store.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("reopening after kill -9: %v", err)
	}
	defer db.Close(ctx)
	if n, err := db.Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 50 {
		t.Fatalf("after kill -9: %d documents (%v); want the 50 committed", n, err)
	}
}
