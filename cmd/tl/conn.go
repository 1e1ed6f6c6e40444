package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
)

// connectTimeout is how long one attempt to reach a server may take: after it,
// a command says that nothing answers (unless --connect-wait asks for more).
const connectTimeout = 5 * time.Second

// conn holds the client flags shared by the commands that reach the master's
// servers, and where each URL came from.
type conn struct {
	nats, mongo, project, home string
	connectWait                time.Duration

	credentials string             // --credentials
	creds       *queue.Credentials // found by natsOptions

	natsFrom, mongoFrom string // "--nats", "TL_NATS_URL", or the endpoints file
	local               bool   // the URLs are the local master's (HOME/endpoints.json)
	storeOnly           bool   // no --nats: the command reads the store only
	resolved            bool
}

// flags adds --nats (when withNATS), --mongo, --project, --home and
// --connect-wait. The environment is read when the command runs, so that a
// URL's password never shows in --help.
func (c *conn) flags(fs *pflag.FlagSet, withNATS bool) {
	c.storeOnly = !withNATS
	if withNATS {
		fs.StringVar(&c.nats, "nats", "", "NATS server URL (default: the local master's) [TL_NATS_URL]")
		fs.StringVar(&c.credentials, "credentials", "", "NATS credentials file, from `tl credentials client` on the master's machine (default: the local master's, HOME/credentials/client.json) [TL_CREDENTIALS]")
	}
	fs.StringVar(&c.mongo, "mongo", "", "MongoDB URL of the master's records, mongodb://host[:port][/DATABASE] (default: the local master's) [TL_MONGO_URL]")
	fs.StringVar(&c.project, "project", "", "store project (default: the local master's, else \"default\") [TL_PROJECT]")
	fs.StringVar(&c.home, "home", defaultHome(), "directory of the local master's endpoints.json and embedded servers' files [TL_HOME]")
	fs.DurationVar(&c.connectWait, "connect-wait", envDuration("TL_CONNECT_WAIT", 0),
		"keep trying this long to reach NATS and the store (0: fail when nothing answers within 5s) [TL_CONNECT_WAIT]")
}

// defaultHome is $TL_HOME, else ~/.tl, else "".
func defaultHome() string {
	h, _ := endpoints.Home()
	return h
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// resolve fills the URLs: a flag, else the environment; with neither, the local
// master's endpoints file in --home. An explicit URL is never mixed with the
// local master's: the other one then stays empty. A missing endpoints file is
// not an error here (open falls back to the store in HOME); it leaves both empty.
func (c *conn) resolve() error {
	if c.resolved {
		return nil
	}
	c.resolved = true
	if c.fromEnv() {
		return nil
	}
	if c.home == "" {
		return errors.New("no --home, no TL_HOME and no home directory: pass --home DIR, or --nats and --mongo")
	}
	e, err := endpoints.Read(c.home)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	c.nats, c.mongo, c.local = e.NATS, e.Mongo, true
	c.natsFrom = "the local master, " + filepath.Join(c.home, endpoints.File)
	c.mongoFrom = c.natsFrom
	if c.project == "" {
		c.project = e.Project
	}
	return nil
}

// fromEnv fills empty URLs and the project from the environment and reports
// whether a URL was given (by flag or environment).
func (c *conn) fromEnv() bool {
	fill := func(v *string, from *string, flag, env string) {
		switch {
		case *v != "":
			*from = flag
		case os.Getenv(env) != "":
			*v, *from = os.Getenv(env), env
		}
	}
	if !c.storeOnly {
		fill(&c.nats, &c.natsFrom, "--nats", "TL_NATS_URL")
	}
	fill(&c.mongo, &c.mongoFrom, "--mongo", "TL_MONGO_URL")
	if c.project == "" {
		c.project = os.Getenv("TL_PROJECT")
	}
	return c.nats != "" || c.mongo != ""
}

// js connects to NATS. Without a NATS URL it fails saying what to pass.
func (c *conn) js(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	if err := c.resolve(); err != nil {
		return nil, nil, err
	}
	if c.nats == "" {
		if c.mongo != "" {
			return nil, nil, fmt.Errorf("%s %s given but no NATS URL: pass --nats (or TL_NATS_URL) too; an explicit URL is never paired with the local master's",
				c.mongoFrom, redactURL(c.mongo))
		}
		return nil, nil, fmt.Errorf("no local master: %s does not exist (start `tl master --home %s`, or pass --nats and --mongo)",
			filepath.Join(c.home, endpoints.File), c.home)
	}
	opts, err := c.natsOptions()
	if err != nil {
		return nil, nil, err
	}
	var (
		nc *nats.Conn
		js jetstream.JetStream
	)
	err = c.retry(ctx, func(ctx context.Context) error {
		var err error
		nc, js, err = queue.Connect(ctx, c.nats, "tl cli", slog.New(slog.DiscardHandler), opts...)
		return err
	})
	if err != nil {
		return nil, nil, c.unreachable("NATS", c.nats, c.natsFrom, err)
	}
	return nc, js, nil
}

// natsOptions present the client's credentials: --credentials (or
// TL_CREDENTIALS), else with the local master's NATS (found in, or equal to
// the one in, HOME/endpoints.json) the client credentials it wrote in
// HOME/credentials. None (a server without users) is
// no error.
func (c *conn) natsOptions() ([]nats.Option, error) {
	path := c.credentials
	if path == "" {
		path = os.Getenv("TL_CREDENTIALS")
	}
	var err error
	switch {
	case path != "":
		if c.creds, err = queue.ReadCredentials(path); err != nil {
			return nil, fmt.Errorf("--credentials: %w (make one on the master's machine with: tl credentials client -o FILE)", err)
		}
	case c.local || c.localNATS():
		if c.creds, err = queue.HomeCredentials(c.home, queue.RoleClient); errors.Is(err, os.ErrNotExist) {
			c.creds, err = nil, nil // a master from before credentials
		}
		if err != nil {
			return nil, err
		}
	}
	return c.creds.Options(), nil
}

// localNATS reports whether the NATS URL given is the local master's: its
// credentials are presented to it, never to another server.
func (c *conn) localNATS() bool {
	if c.home == "" || c.nats == "" {
		return false
	}
	e, err := endpoints.Read(c.home)
	return err == nil && e.NATS == c.nats
}

// retry runs f once with connectTimeout, or for --connect-wait.
func (c *conn) retry(ctx context.Context, f func(context.Context) error) error {
	if c.connectWait > 0 {
		return queue.Retry(ctx, c.connectWait, f)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return f(cctx)
}

// unreachable is the error for a server that did not answer.
func (c *conn) unreachable(what, u, from string, err error) error {
	wait := fmt.Sprintf("after %s", connectTimeout)
	if c.connectWait > 0 {
		wait = fmt.Sprintf("for --connect-wait %s", c.connectWait)
	}
	hint := "; pass --connect-wait DURATION to keep trying"
	if c.local {
		hint = fmt.Sprintf("; is `tl master --home %s` still running? (a master that was killed leaves its endpoints file behind)", c.home)
	}
	return fmt.Errorf("nothing answers at %s (%s URL from %s) %s%s: %w", redactURL(u), what, from, wait, hint, redactError(err))
}

// store opens the store and the master's records in it.
func (c *conn) store(ctx context.Context) (*store.DB, status.Store, error) {
	db, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		closeDB(db)
		return nil, nil, err
	}
	return db, st, nil
}

// withStore opens the store, runs f with it and closes it.
func (c *conn) withStore(ctx context.Context, f func(*store.DB) error) error {
	db, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB(db)
	return f(db)
}

// withRecords opens the store and the master's records in it, runs f with
// them and closes the store.
func (c *conn) withRecords(ctx context.Context, f func(*store.DB, status.Store) error) error {
	db, st, err := c.store(ctx)
	if err != nil {
		return err
	}
	defer closeDB(db)
	return f(db, st)
}

// withJS connects to NATS, runs f with the connection's JetStream and closes
// the connection.
func (c *conn) withJS(ctx context.Context, f func(jetstream.JetStream) error) error {
	nc, js, err := c.js(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	return f(js)
}

// open connects to the store: the URL given, else the local master's; with no
// master running, the store in HOME/store, opened in this process (what a
// master or an example with that home stored).
func (c *conn) open(ctx context.Context) (*store.DB, error) {
	if err := c.resolve(); err != nil {
		return nil, fmt.Errorf("find the store: %w", err)
	}
	if c.mongo == "" {
		if c.nats != "" {
			return nil, fmt.Errorf("%s %s given but no MongoDB URL: pass --mongo (or TL_MONGO_URL) too; an explicit URL is never paired with the local master's",
				c.natsFrom, redactURL(c.nats))
		}
		return c.openHome(ctx)
	}
	var db *store.DB
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		db, err = store.Open(ctx, store.Config{URL: c.mongo, Project: c.project})
		return err
	})
	if err != nil {
		return nil, c.unreachable("MongoDB", c.mongo, c.mongoFrom, err)
	}
	return db, nil
}

// openHome opens the embedded store in HOME/store when no master serves it.
func (c *conn) openHome(ctx context.Context) (*store.DB, error) {
	dir := filepath.Join(c.home, "store")
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no local master (%s does not exist) and no store in %s: start `tl master --home %s`, or pass --mongo",
			filepath.Join(c.home, endpoints.File), dir, c.home)
	}
	db, err := store.Open(ctx, store.Config{DataDir: dir, Project: c.project})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("the store in %s is in use by a process that does not serve it to others (an example, or a master that wrote no %s); wait for it to end: %w",
			dir, endpoints.File, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open the store in %s: %w", dir, err)
	}
	return db, nil
}

// closeDB closes a store, reporting a failure on stderr.
func closeDB(db *store.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tl:", err)
	}
}

// redactURL hides a URL's password.
func redactURL(u string) string { return redact.URL(u) }

// redactError hides the passwords in err's message; it still unwraps to err.
func redactError(err error) error { return redact.Error(err) }
