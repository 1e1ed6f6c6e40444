package endpoints

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LockFile is the name of the home's lock file, held by the master that runs
// the embedded servers on the home's files.
const LockFile = "master.lock"

// ErrLocked is returned by Lock when another process holds the home's lock.
var ErrLocked = errors.New("endpoints: the home is locked by another master")

// HomeLock is a held lock on a home directory. A master takes it before any
// embedded server opens a file there (the JetStream directory, the SQLite
// store), so that a second master on the same home stops before touching them.
type HomeLock struct {
	path string
	f    *os.File
}

// Lock takes dir's lock, creating dir if needed. It does not wait: when another
// process holds it, it returns an error wrapping ErrLocked that names the lock
// file and the holder's pid. The lock is released by Release, or by the kernel
// when the process dies (on Unix), so a crash leaves no stale lock.
func Lock(dir string) (*HomeLock, error) {
	if err := PrivateDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	l, err := lockFile(path)
	if errors.Is(err, ErrLocked) {
		holder := "unknown"
		if b, rerr := os.ReadFile(path); rerr == nil && strings.TrimSpace(string(b)) != "" {
			holder = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%w: %s is held by pid %s", ErrLocked, path, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("endpoints: lock %s: %w", path, err)
	}
	return l, nil
}

// Path is the lock file.
func (l *HomeLock) Path() string { return l.path }
