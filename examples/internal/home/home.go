// Package home gives the examples the home that tl master uses ($TL_HOME, or
// ~/.tl; a --home flag), so that what they import, train and record is what
// tl models, tl datasets, tl runs, tl curve and tl submit see.
//
// A home is run by one process at a time: the one holding its lock
// (endpoints.Lock) runs the embedded servers on its files. Open takes the lock
// when it is free; when a master holds it, Open returns the master's addresses
// (its endpoints.json) instead, and the example works through that master.
package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
)

// Home is an opened home.
type Home struct {
	Dir string
	// Lock is held when this process runs the home's servers; nil when a
	// master does.
	Lock *endpoints.HomeLock
	// Master holds the running master's addresses when it holds the home.
	Master *endpoints.Endpoints
}

// Default is the home tl master uses by default: $TL_HOME, else ~/.tl.
func Default() string {
	h, err := endpoints.Home()
	if err != nil {
		return ".tl"
	}
	return h
}

// Open takes dir's lock, or finds the master that holds it.
func Open(dir string) (*Home, error) {
	if dir == "" {
		return nil, errors.New("home: no directory (pass --home, or set TL_HOME)")
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		dir = abs
	}
	l, err := endpoints.Lock(dir)
	if err == nil {
		return &Home{Dir: dir, Lock: l}, nil
	}
	if !errors.Is(err, endpoints.ErrLocked) {
		return nil, fmt.Errorf("home %s: %w", dir, err)
	}
	// A master that just took the lock writes its endpoints once its servers run.
	e, rerr := endpoints.Read(dir)
	for try := 0; rerr != nil && try < 20; try++ {
		time.Sleep(250 * time.Millisecond)
		e, rerr = endpoints.Read(dir)
	}
	if rerr != nil {
		return nil, fmt.Errorf("home %s is in use (%w) but says nothing of where its servers are (%w); stop the process that holds it, or pass another --home", dir, err, rerr)
	}
	return &Home{Dir: dir, Master: &e}, nil
}

// Close releases the lock, if held.
func (h *Home) Close() { h.Lock.Release() }

// Where says in a line where the data lives.
func (h *Home) Where() string {
	if h.Master != nil {
		return fmt.Sprintf("home %s, run by the master there (pid %d): nats %s, store %s", h.Dir, h.Master.PID, h.Master.NATS, h.Master.Mongo)
	}
	return fmt.Sprintf("home %s: queues in %s, store in %s", h.Dir, filepath.Join(h.Dir, "nats"), filepath.Join(h.Dir, "store"))
}

// OpenStore opens the home's store: the running master's, or the embedded
// store on the home's files (listening on a free loopback port) when this
// process holds the lock.
func (h *Home) OpenStore(ctx context.Context, log *slog.Logger) (*store.DB, error) {
	if h.Master != nil {
		db, err := store.Open(ctx, store.Config{URL: h.Master.Mongo, Project: h.Master.Project, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("the store of the master running on %s (%s): %w", h.Dir, h.Master.Mongo, err)
		}
		return db, nil
	}
	db, err := store.Open(ctx, store.Config{DataDir: filepath.Join(h.Dir, "store"), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("the store in %s: %w", h.Dir, err)
	}
	return db, nil
}

// Publish writes the home's endpoints.json naming this process's servers, so
// that tl commands and agents find them while it runs; the returned function
// removes it.
func (h *Home) Publish(natsURL string, db *store.DB) (func(), error) {
	if h.Lock == nil {
		return func() {}, nil
	}
	pid := os.Getpid()
	if err := endpoints.Write(h.Dir, endpoints.Endpoints{NATS: natsURL, Mongo: db.URL(), Project: db.Project(), PID: pid, Started: time.Now().UTC()}); err != nil {
		return nil, err
	}
	return func() { endpoints.Remove(h.Dir, pid) }, nil
}

// OpenRecordStore opens where an example records its run: mongoURL when given,
// else the store of the master running on home dir, else that home's own store
// (taking the home's lock while the example runs, as tl master would). where
// says which, for people (a URL's password hidden); done closes it all.
func OpenRecordStore(ctx context.Context, dir, mongoURL string, log *slog.Logger) (db *store.DB, where string, done func(), err error) {
	if mongoURL != "" {
		db, err := store.Open(ctx, store.Config{URL: mongoURL, Logger: log})
		if err != nil {
			return nil, "", nil, err
		}
		return db, redact.URL(db.URL()), func() { db.Close(context.Background()) }, nil
	}
	h, err := Open(dir)
	if err != nil {
		return nil, "", nil, err
	}
	db, err = h.OpenStore(ctx, log)
	if err != nil {
		h.Close()
		return nil, "", nil, err
	}
	return db, h.Where(), func() { db.Close(context.Background()); h.Close() }, nil
}
