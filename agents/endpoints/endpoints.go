// Package endpoints is how a local master tells agents and the CLI where it is.
//
// A master started on the embedded defaults (no URLs) runs nats-server and the store
// inside its process, on loopback ports. It writes their URLs to a small JSON file,
// by default ~/.tl/endpoints.json (or $TL_HOME/endpoints.json); cmd/tl-agent and cmd/tl
// read it when they are given no URL by flag or environment. Explicit URLs always win.
package endpoints

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File is the name of the endpoints file in the home directory.
const File = "endpoints.json"

// Endpoints are the addresses of a master's services.
type Endpoints struct {
	NATS    string    `json:"nats"`
	Mongo   string    `json:"mongo"`
	Project string    `json:"project,omitempty"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
}

// Home is the directory of the master's files: $TL_HOME, else ~/.tl.
func Home() (string, error) {
	if h := os.Getenv("TL_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no TL_HOME and no home directory: %w", err)
	}
	return filepath.Join(u, ".tl"), nil
}

// Write stores e in dir/endpoints.json atomically. The home and the file are
// this user's only (0700, 0600): the home holds the credentials and the data.
func Write(dir string, e Endpoints) error {
	if err := PrivateDir(dir); err != nil {
		return err
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, File+".tmp")
	_ = os.Remove(tmp) // a leftover keeps its mode through WriteFile
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, File)); err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	return nil
}

// Read loads dir/endpoints.json. A missing file is an error wrapping os.ErrNotExist
// that says how to fix it.
func Read(dir string) (Endpoints, error) {
	var e Endpoints
	path := filepath.Join(dir, File)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return e, fmt.Errorf("no local master: %s does not exist (start `tl master`, or pass URLs with --nats/--mongo): %w", path, err)
	}
	if err != nil {
		return e, fmt.Errorf("endpoints: %w", err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("endpoints file %s: %w", path, err)
	}
	return e, nil
}

// Remove deletes dir/endpoints.json if it still names pid.
func Remove(dir string, pid int) {
	if e, err := Read(dir); err == nil && e.PID == pid {
		_ = os.Remove(filepath.Join(dir, File))
	}
}

// PrivateDir creates dir (mode 0700), or narrows an existing one to 0700: a
// master's home holds credentials, the queues and the store.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("endpoints: create home %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("endpoints: home %s: %w", dir, err)
	}
	return nil
}
