package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// revokedFile lists, in CredentialsDir, the ids of credentials the embedded
// server no longer accepts: one id per line.
const revokedFile = "revoked"

// revocations is the revoked ids of a home, reread when the file changes.
type revocations struct {
	path string

	mu   sync.Mutex
	ids  map[string]bool
	mod  time.Time
	size int64
}

// has reports whether id is revoked. A revoked-ids file that cannot be read
// revokes nothing new but keeps what it had: a transient error must not let
// revoked credentials back in.
func (r *revocations) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refresh()
	return r.ids[id]
}

// snapshot returns the revoked ids.
func (r *revocations) snapshot() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refresh()
	out := make(map[string]bool, len(r.ids))
	for id := range r.ids {
		out[id] = true
	}
	return out
}

func (r *revocations) refresh() {
	fi, err := os.Stat(r.path)
	if errors.Is(err, os.ErrNotExist) {
		r.ids, r.mod, r.size = nil, time.Time{}, 0
		return
	}
	if err != nil || (fi.ModTime().Equal(r.mod) && fi.Size() == r.size && r.ids != nil) {
		return
	}
	data, err := os.ReadFile(r.path)
	if err != nil {
		return
	}
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" && !strings.HasPrefix(id, "#") {
			ids[id] = true
		}
	}
	r.ids, r.mod, r.size = ids, fi.ModTime(), fi.Size()
}

// CredentialsID is the id of credentials given as a user name
// ("agent:1f2e3d4c5b6a7988:cpu") or as the id itself.
func CredentialsID(userOrID string) (string, error) {
	if !strings.Contains(userOrID, ":") {
		userOrID = RoleClient + ":" + userOrID
	}
	_, id, _, err := parseUser(userOrID)
	if err != nil {
		return "", fmt.Errorf("%q: expected a credentials id (16 hex digits) or user name (role:id[:queues])", userOrID)
	}
	return id, nil
}

// Revoke adds ids (see CredentialsID) to the home's revoked credentials. The
// embedded server of a master running on that home refuses them from then on
// and closes their connections within a few seconds; other credentials keep
// working. It returns the ids that were not revoked before.
func Revoke(home string, ids ...string) ([]string, error) {
	dir := filepath.Join(home, CredentialsDir)
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	r := &revocations{path: filepath.Join(dir, revokedFile)}
	have := r.snapshot()
	var added []string
	for _, s := range ids {
		id, err := CredentialsID(s)
		if err != nil {
			return nil, fmt.Errorf("revoke: %w", err)
		}
		if !have[id] && !slices.Contains(added, id) {
			added = append(added, id)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	old, err := os.ReadFile(r.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	if err := writePrivate(r.path, append(old, []byte(strings.Join(added, "\n")+"\n")...)); err != nil {
		return nil, err
	}
	return added, nil
}

// Revoked lists the home's revoked credential ids.
func Revoked(home string) []string {
	r := &revocations{path: filepath.Join(home, CredentialsDir, revokedFile)}
	ids := make([]string, 0)
	for id := range r.snapshot() {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// kickRevoked closes, every interval until ctx ends, the connections whose
// credentials were revoked after they connected; reconnecting, they are
// refused by Auth.Check.
func kickRevoked(ctx context.Context, s *server.Server, r *revocations, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := r.snapshot()
		if len(ids) == 0 {
			continue
		}
		cz, err := s.Connz(&server.ConnzOptions{Username: true, Limit: 1 << 20})
		if err != nil {
			continue
		}
		for _, c := range cz.Conns {
			if _, id, _, err := parseUser(c.AuthorizedUser); err == nil && ids[id] {
				_ = s.DisconnectClientByID(c.Cid)
			}
		}
	}
}
