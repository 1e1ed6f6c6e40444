package testworld

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/queue"
)

// Eventually calls cond every interval until it holds, or fails t when
// patience runs out, with what and cond's last description.
func Eventually(t testing.TB, what string, interval, patience time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(patience)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("gave up waiting %v for %s; last: %s", patience, what, last)
}

// Log is a logger for the servers a test runs in its own process: warnings
// and errors, everything when TL_TEST_VERBOSE is set.
func Log() *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("TL_TEST_VERBOSE") != "" {
		lv = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
}

// AuthNATS is an embedded NATS server that requires credentials, with the
// means to make credentials of a role and to connect with them.
type AuthNATS struct {
	Server *queue.Server
	Auth   *queue.Auth
	Home   string // the folder of the server's keys and data; removed with the test
	ctx    context.Context
	t      testing.TB
}

// StartAuthNATS starts the server; it is shut down when the test ends.
func StartAuthNATS(t testing.TB, ctx context.Context) *AuthNATS {
	t.Helper()
	return StartAuthNATSWith(t, ctx, queue.ServerConfig{})
}

// StartAuthNATSWith starts the server with cfg (TLS, say), of which it sets
// Dir and Auth; it is shut down when the test ends.
func StartAuthNATSWith(t testing.TB, ctx context.Context, cfg queue.ServerConfig) *AuthNATS {
	t.Helper()
	home := t.TempDir()
	auth, err := queue.LoadOrCreateAuth(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Auth = filepath.Join(home, "nats"), auth
	srv, err := queue.StartServer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &AuthNATS{Server: srv, Auth: auth, Home: home, ctx: ctx, t: t}
}

// URL is the server's client URL.
func (a *AuthNATS) URL() string { return a.Server.URL() }

// Creds makes credentials of role (an agent's for queues).
func (a *AuthNATS) Creds(role string, queues ...string) *queue.Credentials {
	a.t.Helper()
	c, err := a.Auth.New(role, queues)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// Connect connects with c; the connection is closed when the test ends.
func (a *AuthNATS) Connect(c *queue.Credentials) (*nats.Conn, jetstream.JetStream) {
	a.t.Helper()
	nc, js, err := queue.Connect(a.ctx, a.Server.URL(), "test "+c.Role, nil, c.Options()...)
	if err != nil {
		a.t.Fatalf("connect as %s: %v", c.Role, err)
	}
	a.t.Cleanup(nc.Close)
	return nc, js
}
