//go:build unix

package endpoints

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// lockFile takes an flock(2) lock on path: it belongs to the open file, so a
// second Lock in the same process conflicts too, and the kernel drops it when
// the process dies.
func lockFile(path string) (*HomeLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	_ = f.Chmod(0o600) // a lock file from before kept 0644
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &HomeLock{path: path, f: f}, nil
}

// Release gives the lock back. The file stays (removing it would race with a
// process taking it).
func (l *HomeLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
