package endpoints_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
)

func TestWriteReadRemove(t *testing.T) {
	dir := t.TempDir()
	if _, err := endpoints.Read(dir); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "start `tl master`") {
		t.Fatalf("Read of a missing file = %v; want ErrNotExist and a hint", err)
	}
	e := endpoints.Endpoints{NATS: "nats://127.0.0.1:7422", Mongo: "mongodb://127.0.0.1:7427/", PID: 42, Started: time.Now().UTC().Truncate(time.Second)}
	if err := endpoints.Write(dir, e); err != nil {
		t.Fatal(err)
	}
	got, err := endpoints.Read(dir)
	if err != nil || got != e {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, e)
	}
	endpoints.Remove(dir, 7) // another process's file stays
	if _, err := endpoints.Read(dir); err != nil {
		t.Fatal("Remove deleted another master's file")
	}
	endpoints.Remove(dir, 42)
	if _, err := endpoints.Read(dir); err == nil {
		t.Fatal("Remove left the file")
	}
}

func TestHome(t *testing.T) {
	t.Setenv("TL_HOME", "/x/y")
	if h, err := endpoints.Home(); err != nil || h != "/x/y" {
		t.Fatalf("Home = %q, %v", h, err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir() + "/home"
	l, err := endpoints.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = endpoints.Lock(dir)
	if !errors.Is(err, endpoints.ErrLocked) || !strings.Contains(err.Error(), "master.lock") || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second Lock = %v; want ErrLocked naming the lock file and the holder", err)
	}
	l.Release()
	l2, err := endpoints.Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Release: %v", err)
	}
	l2.Release()
}

// The home, the endpoints file and the lock are this user's only, even when
// the home existed with a wider mode (issue 13).
func TestHomePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := endpoints.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := endpoints.Write(dir, endpoints.Endpoints{NATS: "nats://127.0.0.1:4222", PID: 1}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		dir:                                    0o700,
		filepath.Join(dir, endpoints.File):     0o600,
		filepath.Join(dir, endpoints.LockFile): 0o600,
	} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != want {
			t.Errorf("%s: mode %o; want %o", path, perm, want)
		}
	}
}
