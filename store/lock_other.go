//go:build !unix

package store

import (
	"errors"
	"fmt"
	"os"
)

// fileLock falls back to an exclusively created file where flock(2) is
// missing; a crash leaves it behind and it must be removed by hand.
type fileLock struct{ path string }

func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w (lock file %s exists; remove it if no process uses the directory)", ErrLocked, path)
		}
		return nil, fmt.Errorf("create lock file: %w", err)
	}
	f.Close()
	return &fileLock{path: path}, nil
}

func (l *fileLock) release() { _ = os.Remove(l.path) }
