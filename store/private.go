package store

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// ErrNotLoopback is returned when the embedded server is asked to listen off
// loopback. Embedded FerretDB has no users: anyone who reaches the port reads
// and writes every model and sample, so it serves this machine only.
var ErrNotLoopback = errors.New("store: the embedded server has no authentication and listens on loopback only")

// checkLoopback accepts "127.0.0.1:port", "[::1]:port" and "localhost:port".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("store: listen address %q: %w (expected host:port)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q is not a loopback address; for several machines run a store with users "+
		"(FerretDB over PostgreSQL, or MongoDB, with SCRAM and TLS) and pass its mongodb:// URL", ErrNotLoopback, addr)
}

// privateDir creates dir (and its parents) readable by this user only, and
// narrows an existing dir and the files directly in it to the owner: the
// SQLite files hold every model's weights and every sample.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: create data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("store: data directory %s: %w", dir, err)
	}
	return privateFiles(dir)
}

// privateFiles sets the mode of dir's regular files to 0600. FerretDB creates
// a SQLite file per database with the process umask (often 0644).
func privateFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("store: data directory %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.Mode().Perm()&0o077 == 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: data file %s: %w", p, err)
		}
	}
	return nil
}
