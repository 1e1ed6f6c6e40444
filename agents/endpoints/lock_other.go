//go:build !unix

package endpoints

import (
	"errors"
	"os"
	"strconv"
)

// lockFile falls back to an exclusively created file where flock(2) is
// missing; a crash leaves it behind, and the error says to remove it.
func lockFile(path string) (*HomeLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, err
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return &HomeLock{path: path, f: f}, nil
}

// Release gives the lock back by removing the file.
func (l *HomeLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close()
	_ = os.Remove(l.path)
	l.f = nil
}
