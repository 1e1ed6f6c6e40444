//go:build unix

package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockFill takes the exclusive lock of cache dir's fills (an flock on a file
// beside it), waiting for it until ctx ends, so that readers of one view on
// one machine (the parallel trials of a sweep) fill its cache once: the
// others wait, then find it filled. The kernel drops the lock of a process
// that dies.
func lockFill(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("dataset: cache lock: %w", err)
	}
	for {
		unlock, ok, err := tryLockFill(dir)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tryLockFill takes the lock of lockFill if no one holds it; ok is false if
// someone does.
func tryLockFill(dir string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("dataset: cache lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("dataset: cache lock %s: %w", dir+".lock", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, true, nil
}
