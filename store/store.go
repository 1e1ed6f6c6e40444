package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/tlgo/tl/internal/redact"
)

// DefaultDatabase is the database name used when Config.Database is empty.
const DefaultDatabase = "tl"

// DefaultProject is the project name used when Config.Project is empty.
const DefaultProject = "default"

// ErrLocked is returned by Open when another DB (in this process or another)
// already serves the same data directory.
var ErrLocked = errors.New("store: data directory is locked by another process")

// Config says which server to use and how.
type Config struct {
	// URL of a MongoDB wire-protocol server ("mongodb://host:port/").
	// Empty starts an embedded FerretDB inside this process.
	URL string

	// DataDir holds the embedded server's SQLite files and its lock file.
	// Required when URL and PostgreSQLURL are empty.
	DataDir string

	// PostgreSQLURL, when set and URL is empty, makes the embedded FerretDB
	// keep its data in that PostgreSQL database instead of SQLite files
	// ("postgres://user@127.0.0.1:5432/db").
	PostgreSQLURL string

	// ListenAddr is the embedded server's TCP address; default "127.0.0.1:0"
	// (a free loopback port). Other processes reach it through DB.URL.
	ListenAddr string

	// Database is the database name; default the URL's
	// (mongodb://host/NAME), else DefaultDatabase.
	Database string

	// Project tags every record, so several projects share a database;
	// default DefaultProject.
	Project string

	// Logger receives this package's logs; nil discards them.
	Logger *slog.Logger

	// ServerLogLevel is the lowest level of the embedded server's records
	// passed to Logger. The zero value means slog.LevelError: FerretDB logs
	// every error reply it sends at WARN, which is noise for a library.
	ServerLogLevel *slog.Level

	// SyncEveryCommit makes the embedded SQLite store flush every commit to
	// disk (SQLite's synchronous=FULL). By default (synchronous=NORMAL, in
	// WAL mode) a commit survives the process being killed, but the last
	// commits before a power loss or an OS crash may be rolled back, the
	// database staying consistent: the same bargain as the embedded NATS
	// server's JetStream, which syncs its files every two minutes. It costs
	// the master about 1.6 times its task rate (BENCHMARKS.md).
	SyncEveryCommit bool
}

// DB is an open connection to a wire-protocol server, scoped to one
// database and one project. It is safe for concurrent use.
type DB struct {
	client   *mongo.Client
	db       *mongo.Database
	project  string
	url      string
	logger   *slog.Logger
	embedded *embedded // nil when connected by URL

	closeOnce sync.Once
	closeErr  error
}

// embedded is a FerretDB running inside this process.
type embedded struct {
	cancel  context.CancelFunc
	done    chan struct{}
	lock    *fileLock // nil for the PostgreSQL handler
	dataDir string    // SQLite files; "" for the PostgreSQL handler

	sqlMu  sync.Mutex         // guards sqlDBs
	sqlDBs map[string]*sql.DB // direct SQLite access, see DB.IndexIDs
}

// ferretMu serialises ferretdb.New, which writes a package-level variable of
// FerretDB (its version info) and would race with a concurrent Open.
var ferretMu sync.Mutex

// Open connects to cfg.URL, or starts an embedded FerretDB when cfg.URL is
// empty, and checks that the server answers. Close releases everything.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	project := cfg.Project
	if project == "" {
		project = DefaultProject
	}
	if err := ValidateName("project", project); err != nil {
		return nil, err
	}
	dbName := cfg.Database
	if dbName == "" && strings.HasPrefix(cfg.URL, "mongodb") {
		cs, err := connstring.Parse(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("store: URL %s: %w", redact.URL(cfg.URL), redact.Error(err))
		}
		dbName = cs.Database
	}
	if dbName == "" {
		dbName = DefaultDatabase
	}
	if err := ValidateName("database", dbName); err != nil {
		return nil, err
	}

	d := &DB{project: project, logger: logger, url: cfg.URL}
	if cfg.URL == "" {
		emb, u, err := startEmbedded(cfg, logger)
		if err != nil {
			return nil, err
		}
		d.embedded, d.url = emb, u
	} else if !strings.HasPrefix(cfg.URL, "mongodb://") && !strings.HasPrefix(cfg.URL, "mongodb+srv://") {
		return nil, fmt.Errorf("store: URL %q: expected a mongodb:// or mongodb+srv:// URL", redact.URL(cfg.URL))
	}

	// No client-wide Timeout: it makes the driver send maxTimeMS, which
	// FerretDB v1's distinct rejects. Callers bound operations with ctx.
	opts := options.Client().ApplyURI(d.url).SetAppName("tl")
	client, err := mongo.Connect(opts)
	if err != nil {
		d.stopEmbedded()
		return nil, fmt.Errorf("store: connect to %s: %w", redact.URL(d.url), redact.Error(err))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ping(pingCtx, client); err != nil {
		_ = client.Disconnect(context.Background())
		d.stopEmbedded()
		return nil, fmt.Errorf("store: server %s does not answer: %w", redact.URL(d.url), redact.Error(err))
	}
	d.client = client
	d.db = client.Database(dbName)
	logger.Debug("store opened", "url", redact.URL(d.url), "database", dbName, "project", project, "embedded", d.embedded != nil)
	return d, nil
}

// ping checks that the server answers. FerretDB v1 over PostgreSQL reads every
// database's metadata on its first request, and fails it ("relation ... does
// not exist", SQLSTATE 42P01) when another client drops a database meanwhile:
// that answer is tried again, a few times.
func ping(ctx context.Context, client *mongo.Client) error {
	for attempt := 1; ; attempt++ {
		err := client.Ping(ctx, nil)
		if err == nil || attempt == 10 || !strings.Contains(err.Error(), "SQLSTATE 42P01") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}

func startEmbedded(cfg Config, logger *slog.Logger) (*embedded, string, error) {
	level := slog.LevelError
	if cfg.ServerLogLevel != nil {
		level = *cfg.ServerLogLevel
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if err := checkLoopback(listen); err != nil {
		return nil, "", err
	}
	fcfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: listen},
		Logger:   slog.New(levelHandler{min: level, h: logger.Handler()}).With("component", "ferretdb"),
	}
	emb := &embedded{done: make(chan struct{})}
	if cfg.PostgreSQLURL != "" {
		fcfg.Handler = "postgresql"
		fcfg.PostgreSQLURL = cfg.PostgreSQLURL
	} else {
		if cfg.DataDir == "" {
			return nil, "", errors.New("store: Config.DataDir is required for the embedded server (or set Config.URL)")
		}
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return nil, "", fmt.Errorf("store: data directory %q: %w", cfg.DataDir, err)
		}
		if err := privateDir(dir); err != nil {
			return nil, "", err
		}
		lock, err := lockFile(filepath.Join(dir, "tl-store.lock"))
		if err != nil {
			return nil, "", fmt.Errorf("store: data directory %s: %w", dir, err)
		}
		emb.lock = lock
		emb.dataDir = dir
		fcfg.Handler = "sqlite"
		sync := "synchronous(normal)"
		if cfg.SyncEveryCommit {
			sync = "synchronous(full)"
		}
		fcfg.SQLiteURL = (&url.URL{Scheme: "file", Path: dir + "/", OmitHost: true, RawQuery: url.Values{"_pragma": {sync}}.Encode()}).String()
	}

	ferretMu.Lock()
	f, err := ferretdb.New(fcfg)
	ferretMu.Unlock()
	if err != nil {
		emb.unlock()
		return nil, "", fmt.Errorf("store: start embedded FerretDB (%s): %w", fcfg.Handler, redact.Error(err))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	emb.cancel = cancel
	go func() {
		defer close(emb.done)
		_ = f.Run(runCtx)
	}()
	// MongoDBURI waits until the listener is bound.
	return emb, f.MongoDBURI(), nil
}

func (e *embedded) unlock() {
	if e.lock != nil {
		e.lock.release()
		e.lock = nil
	}
}

func (d *DB) stopEmbedded() {
	if d.embedded == nil {
		return
	}
	d.embedded.sqlMu.Lock()
	for _, db := range d.embedded.sqlDBs {
		_ = db.Close()
	}
	d.embedded.sqlDBs = nil
	d.embedded.sqlMu.Unlock()
	d.embedded.cancel()
	<-d.embedded.done
	if d.embedded.dataDir != "" {
		// The files FerretDB created since Open (a database's first write).
		if err := privateFiles(d.embedded.dataDir); err != nil {
			d.logger.Warn("store: data files left readable by others", "err", err)
		}
	}
	d.embedded.unlock()
}

// Close disconnects and, for an embedded server, stops it and releases the
// data directory. Later calls return the first call's result.
func (d *DB) Close(ctx context.Context) error {
	d.closeOnce.Do(func() {
		if err := d.client.Disconnect(ctx); err != nil {
			d.closeErr = fmt.Errorf("store: disconnect: %w", err)
		}
		d.stopEmbedded()
	})
	return d.closeErr
}

// Database is the database every record of this DB lives in.
func (d *DB) Database() *mongo.Database { return d.db }

// Client is the underlying driver client.
func (d *DB) Client() *mongo.Client { return d.client }

// Project is the project name this DB tags records with.
func (d *DB) Project() string { return d.project }

// URL is the address of the server; for an embedded server it is a loopback
// mongodb:// URL that other processes on this machine can connect to.
func (d *DB) URL() string { return d.url }

// Embedded reports whether the server runs inside this process.
func (d *DB) Embedded() bool { return d.embedded != nil }

// DataDir is the embedded SQLite server's data directory, or "".
func (d *DB) DataDir() string {
	if d.embedded == nil {
		return ""
	}
	return d.embedded.dataDir
}

// Logger is the logger given in Config (or one that discards).
func (d *DB) Logger() *slog.Logger { return d.logger }

// Collection returns a collection of this DB's database.
func (d *DB) Collection(name string) *mongo.Collection { return d.db.Collection(name) }

// Scope returns filter with this DB's project added, so a query never sees
// another project's records. filter is left alone.
func (d *DB) Scope(filter bson.D) bson.D {
	out := make(bson.D, 0, len(filter)+1)
	out = append(out, bson.E{Key: "project", Value: d.project})
	return append(out, filter...)
}

// WithProject returns a DB sharing this one's connection but tagging records
// with another project. Closing it is a no-op; close the original.
func (d *DB) WithProject(project string) (*DB, error) {
	if err := ValidateName("project", project); err != nil {
		return nil, err
	}
	v := &DB{client: d.client, db: d.db, project: project, url: d.url, logger: d.logger, embedded: d.embedded}
	v.closeOnce.Do(func() {}) // a view owns nothing
	return v, nil
}

// ValidateName checks a project, database, model or run name: non-empty, at
// most 128 bytes, no NUL, '$' or '.' at the start.
func ValidateName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("store: %s name is empty", what)
	case len(name) > 128:
		return fmt.Errorf("store: %s name %.20q... is %d bytes, expected at most 128", what, name, len(name))
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("store: %s name %q contains a NUL byte", what, name)
	case strings.HasPrefix(name, "$") || strings.HasPrefix(name, "."):
		return fmt.Errorf("store: %s name %q starts with %q, expected a letter or digit", what, name, name[:1])
	}
	return nil
}

// levelHandler drops records below min. It applies WithAttrs and WithGroup
// lazily, when a record passes: FerretDB derives loggers with large
// attributes on every query, and a text or JSON handler formats them
// eagerly, which cost a quarter of the CPU of a model save.
type levelHandler struct {
	min slog.Level
	h   slog.Handler
	ops []handlerOp // WithAttrs/WithGroup calls not yet applied to h
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

func (l levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	h := l.h
	for _, op := range l.ops {
		if op.attrs != nil {
			h = h.WithAttrs(op.attrs)
		} else {
			h = h.WithGroup(op.group)
		}
	}
	return h.Handle(ctx, r)
}

func (l levelHandler) with(op handlerOp) slog.Handler {
	ops := make([]handlerOp, len(l.ops), len(l.ops)+1)
	copy(ops, l.ops)
	return levelHandler{min: l.min, h: l.h, ops: append(ops, op)}
}

func (l levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	if len(a) == 0 {
		return l
	}
	return l.with(handlerOp{attrs: a})
}

func (l levelHandler) WithGroup(g string) slog.Handler {
	if g == "" {
		return l
	}
	return l.with(handlerOp{group: g})
}

// Detach returns a context that carries ctx's values and is cancelled when
// ctx is done, but has no deadline. The driver turns a context deadline into
// maxTimeMS, which FerretDB v1 rejects on distinct (and a few other
// commands); run those under Detach(ctx) so they still stop with ctx.
func Detach(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); !ok {
		return context.WithCancel(ctx)
	}
	out, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	return out, func() { stop(); cancel(context.Canceled) }
}
