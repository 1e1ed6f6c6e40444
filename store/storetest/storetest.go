// Package storetest gives tests a fresh store.DB on every backend the
// machine has: embedded FerretDB over SQLite always, and FerretDB over
// PostgreSQL when the environment variable TL_TEST_POSTGRES_URL names a
// reachable PostgreSQL database (.ci/run sets it).
//
// A suite runs the same test body on each backend:
//
//	func TestSave(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, b storetest.Backend) {
//			db := b.Open(t)
//			...
//		})
//	}
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/store"
)

// PostgresEnv names the environment variable holding a PostgreSQL URL
// ("postgres://user@127.0.0.1:5432/db") for the PostgreSQL backend.
const PostgresEnv = "TL_TEST_POSTGRES_URL"

// Backend opens fresh databases on one kind of server.
type Backend struct {
	// Name is "sqlite" or "postgresql".
	Name string
	// Open returns a DB on an empty database, closed (and dropped) when
	// the test ends. Extra configs fields (Project, Logger) may be set in cfg.
	open func(t testing.TB, cfg store.Config) *store.DB
}

// Open returns an empty DB on this backend, cleaned up when t ends.
func (b Backend) Open(t testing.TB) *store.DB { return b.open(t, store.Config{}) }

// OpenConfig is Open with some Config fields (Project, Logger) chosen by the
// test; URL, DataDir and Database are chosen by the backend.
func (b Backend) OpenConfig(t testing.TB, cfg store.Config) *store.DB { return b.open(t, cfg) }

// ServerConfig returns a Config that starts an embedded server on this
// backend, with storage of its own (a temporary SQLite directory, or the
// PostgreSQL database of PostgresEnv). Opening it twice in turn restarts the
// same server over the same data, for tests of a server that goes away.
// Clients should use a database of their own (TempName) on PostgreSQL.
func (b Backend) ServerConfig(t testing.TB) store.Config {
	cfg := store.Config{Logger: testLogger(t, nil)}
	if b.Name == "postgresql" {
		cfg.PostgreSQLURL = os.Getenv(PostgresEnv)
	} else {
		cfg.DataDir = t.TempDir()
	}
	return cfg
}

// Backends lists the backends available here. The PostgreSQL backend is
// listed only when PostgresEnv is set; Run skips it with a reason otherwise
// (and fails it under CI=true, see internal/testenv).
func Backends() []Backend {
	bs := []Backend{{Name: "sqlite", open: openSQLite}}
	if os.Getenv(PostgresEnv) != "" {
		bs = append(bs, Backend{Name: "postgresql", open: openPostgres})
	}
	return bs
}

// Run runs body once per backend as a subtest named after it. Without
// PostgresEnv the "postgresql" subtest skips, saying why; under CI=true it
// fails instead (.ci/run starts PostgreSQL and sets PostgresEnv).
func Run(t *testing.T, body func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { body(t, Backend{Name: "sqlite", open: openSQLite}) })
	t.Run("postgresql", func(t *testing.T) {
		testenv.RequireEnv(t, "PostgreSQL", PostgresEnv, "postgres://user@127.0.0.1:5432/db")
		body(t, Backend{Name: "postgresql", open: openPostgres})
	})
}

// RunBench is Run for benchmarks.
func RunBench(b *testing.B, body func(b *testing.B, be Backend)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { body(b, Backend{Name: "sqlite", open: openSQLite}) })
	b.Run("postgresql", func(b *testing.B) {
		testenv.RequireEnv(b, "PostgreSQL", PostgresEnv, "postgres://user@127.0.0.1:5432/db")
		body(b, Backend{Name: "postgresql", open: openPostgres})
	})
}

// CPUTimer reports, for a benchmark, the CPU time this process spends per
// op and per MB (metrics "cpu-ms/op" and "cpu-ms/MB"), which a busy shared
// machine distorts less than wall time. The embedded server runs in this
// process, so its work counts; a separate server's (PostgreSQL) does not.
// Call the returned function after the benchmark loop.
func CPUTimer(b *testing.B, bytesPerOp int64) func() {
	start := cpuTime()
	return func() {
		per := float64((cpuTime() - start).Milliseconds()) / float64(b.N)
		b.ReportMetric(per, "cpu-ms/op")
		if bytesPerOp > 0 {
			b.ReportMetric(per/(float64(bytesPerOp)/1e6), "cpu-ms/MB")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Context returns a context that ends with the test, bounded generously so
// a hung server fails the test instead of the whole binary.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func openSQLite(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()
	cfg.URL = ""
	cfg.PostgreSQLURL = ""
	cfg.DataDir = t.TempDir()
	cfg.Logger = testLogger(t, cfg.Logger)
	db, err := store.Open(Context(t), cfg)
	if err != nil {
		t.Fatalf("open embedded FerretDB (SQLite): %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// openPostgres starts an embedded FerretDB over PostgreSQL and connects to
// it by URL, as a client of a remote server would. Each test gets its own
// database (a PostgreSQL schema), dropped at the end.
func openPostgres(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()
	pg := os.Getenv(PostgresEnv)
	ctx := Context(t)
	srv, err := store.Open(ctx, store.Config{PostgreSQLURL: pg, Logger: testLogger(t, nil)})
	if err != nil {
		t.Fatalf("start FerretDB over PostgreSQL %s (from %s): %v", pg, PostgresEnv, err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	cfg.URL = srv.URL()
	cfg.PostgreSQLURL = ""
	cfg.DataDir = ""
	cfg.Database = "t_" + randomHex(6)
	cfg.Logger = testLogger(t, cfg.Logger)
	db, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to FerretDB over PostgreSQL at %s: %v", srv.URL(), err)
	}
	t.Cleanup(func() {
		_ = db.Database().Drop(context.Background())
		if err := db.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

// TempName returns a name unique to this run, for databases and files.
func TempName(prefix string) string { return prefix + randomHex(6) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testLogger sends WARN and above to stderr unless the test gave a logger.
// (Not t.Log: server goroutines may log after the test has returned.)
func testLogger(_ testing.TB, l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
