package queue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlgo/tl/agents/queue"
)

// The embedded server has no users: it refuses any address off loopback, and
// keeps its JetStream files to this user.
func TestStartServerPrivate(t *testing.T) {
	ctx := context.Background()
	for _, host := range []string{"0.0.0.0", "::", "10.1.2.3"} {
		s, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir(), Host: host})
		if !errors.Is(err, queue.ErrNotLoopback) {
			if s != nil {
				s.Shutdown()
			}
			t.Errorf("StartServer on %s: err = %v; want ErrNotLoopback", host, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "js")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := queue.StartServer(ctx, queue.ServerConfig{Dir: dir, Host: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("JetStream directory mode %o; want 700", perm)
	}
}
