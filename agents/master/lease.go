package master

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
)

// LeaderBucket is the key-value bucket that holds the masters' leader lease; its
// MaxAge is the lease's TTL.
const LeaderBucket = "tl_master_leader"

// leaderKey is the one key of LeaderBucket: present while a master leads.
const leaderKey = "leader"

// ErrLeaseLost is the cause of a leadership term's end when the lease was lost:
// another master holds it, or it could not be renewed within its TTL.
var ErrLeaseLost = errors.New("master: leader lease lost")

// LeaderInfo is the value of the lease: who leads, since when.
type LeaderInfo struct {
	ID    string    `json:"id"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// newID returns host-pid-random, unique to this process's master.
func newID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Leader returns who holds the lease, or nil when no master leads.
func Leader(ctx context.Context, js jetstream.JetStream) (*LeaderInfo, error) {
	kv, err := js.KeyValue(ctx, LeaderBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("master: lease bucket %s: %w", LeaderBucket, err)
	}
	return holder(ctx, kv)
}

func holder(ctx context.Context, kv jetstream.KeyValue) (*LeaderInfo, error) {
	e, err := kv.Get(ctx, leaderKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("master: read leader lease: %w", err)
	}
	var li LeaderInfo
	if err := json.Unmarshal(e.Value(), &li); err != nil {
		return nil, fmt.Errorf("master: leader lease value %q: %w", e.Value(), err)
	}
	return &li, nil
}

// leaseKV opens the lease bucket, creating it with MaxAge ttl if absent. An
// existing bucket keeps its TTL: only a master that holds the lease changes it
// (see takeTTL), so a standby started with another TTL cannot shorten the lease
// under the leader.
func leaseKV(ctx context.Context, js jetstream.JetStream, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, LeaderBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, leaseConfig(ttl, queue.Replicas(js.Conn())))
		if errors.Is(err, jetstream.ErrBucketExists) { // another master created it first
			kv, err = js.KeyValue(ctx, LeaderBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("master: lease bucket %s: %w", LeaderBucket, err)
	}
	return kv, nil
}

// leaseConfig is the lease bucket. Its MaxAge expires a lease its holder stopped
// renewing: each Update writes a new revision, which lives ttl from its write.
// (Per-key TTLs would need KV.Update to carry one, which nats.go's does not.)
func leaseConfig(ttl time.Duration, replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Replicas:    replicas,
		Bucket:      LeaderBucket,
		Description: "tl master leader lease",
		TTL:         ttl,
		History:     1,
		Storage:     jetstream.FileStorage,
	}
}

// lease is a held leader lease. Only the goroutine that renews it touches rev.
type lease struct {
	kv    jetstream.KeyValue
	value []byte
	rev   uint64
	// sent is when the last successful write was sent: the server stamped it
	// later, so the lease lasts at least until sent+TTL.
	sent time.Time
}

// campaign waits until this master holds the lease, or ctx ends. It tries to
// create the key every TTL/3, and at once when a watch on the key sees the
// leader delete it.
func (m *Master) campaign(ctx context.Context) (*lease, error) {
	ttl := m.cfg.LeaseTTL
	var (
		kv      jetstream.KeyValue
		watch   jetstream.KeyWatcher
		updates <-chan jetstream.KeyValueEntry
		seen    = "?" // the leader last logged
	)
	defer func() {
		if watch != nil {
			_ = watch.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if kv == nil {
			var err error
			if kv, err = leaseKV(ctx, m.js, ttl); err != nil {
				m.log.Warn("cannot open the lease bucket; retrying", "err", err)
				kv = nil
			} else if watch, err = kv.Watch(ctx, leaderKey, jetstream.UpdatesOnly()); err != nil {
				// Without the watch a standby still polls: takeover waits up to TTL/3 more.
				m.log.Debug("cannot watch the lease; polling it", "err", err)
				watch = nil
			} else {
				updates = watch.Updates()
			}
		}
		if kv != nil && !m.holdLease.Load() {
			l, err := m.tryLead(ctx, kv)
			switch {
			case err == nil:
				return l, nil
			case errors.Is(err, jetstream.ErrKeyExists):
				li, herr := holder(ctx, kv)
				who := ""
				if li != nil {
					who = li.ID
				}
				if herr == nil && who != seen {
					m.log.Info("standing by: another master leads", "id", m.cfg.ID, "leader", who)
					seen = who
				}
			default:
				m.log.Warn("cannot take the leader lease; retrying", "err", err)
				// Reopen the bucket: it may have gone with a server's memory.
				if watch != nil {
					_ = watch.Stop()
				}
				kv, watch, updates = nil, nil, nil
			}
		}
		t := time.NewTimer(ttl / 3)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
				break wait
			case e, ok := <-updates:
				if !ok {
					updates = nil // the watch ended: poll
					continue
				}
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					t.Stop()
					break wait // the leader let go
				}
			}
		}
	}
}

// tryLead creates the key; on success it makes the bucket's TTL this master's and
// renews once, so the lease it returns runs for this master's TTL from l.sent.
func (m *Master) tryLead(ctx context.Context, kv jetstream.KeyValue) (*lease, error) {
	value, err := json.Marshal(LeaderInfo{ID: m.cfg.ID, Host: m.host, PID: os.Getpid(), Since: time.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("master: lease value: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.LeaseTTL)
	defer cancel()
	sent := time.Now()
	rev, err := kv.Create(rctx, leaderKey, value)
	if err != nil {
		return nil, err
	}
	l := &lease{kv: kv, value: value, rev: rev, sent: sent}
	if err := m.takeTTL(rctx, l); err != nil {
		m.release(l)
		return nil, err
	}
	return l, nil
}

// takeTTL sets the bucket's MaxAge to this master's TTL if it differs, then
// renews the lease so that it is written under that TTL.
func (m *Master) takeTTL(ctx context.Context, l *lease) error {
	st, err := l.kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("master: lease bucket status: %w", err)
	}
	if st.TTL() == m.cfg.LeaseTTL {
		return nil
	}
	m.log.Info("setting the lease TTL", "was", st.TTL(), "ttl", m.cfg.LeaseTTL)
	if _, err := m.js.CreateOrUpdateKeyValue(ctx, leaseConfig(m.cfg.LeaseTTL, queue.Replicas(m.js.Conn()))); err != nil {
		return fmt.Errorf("master: set lease TTL: %w", err)
	}
	sent := time.Now()
	rev, err := l.kv.Update(ctx, leaderKey, l.value, l.rev)
	if err != nil {
		return fmt.Errorf("master: renew lease: %w", err)
	}
	l.rev, l.sent = rev, sent
	return nil
}

// keep renews the lease every TTL/3 until ctx ends, and calls lost (and returns)
// when the lease is lost: a renewal finds another revision (the key expired or
// another master holds it), or no renewal has succeeded for a TTL, after which a
// standby may hold the lease.
func (m *Master) keep(ctx context.Context, l *lease, lost context.CancelCauseFunc) {
	ttl := m.cfg.LeaseTTL
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	expire := time.NewTimer(time.Until(l.sent.Add(ttl)))
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expire.C:
			lost(fmt.Errorf("%w: not renewed for %s", ErrLeaseLost, ttl))
			return
		case <-tick.C:
		}
		if m.holdLease.Load() {
			continue // test seam: a leader cut off from the server
		}
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, l.sent.Add(ttl))
		rev, err := l.kv.Update(rctx, leaderKey, l.value, l.rev)
		cancel()
		switch {
		case err == nil:
			l.rev, l.sent = rev, sent
			expire.Reset(time.Until(l.sent.Add(ttl)))
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			lost(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			return
		case ctx.Err() == nil:
			m.log.Warn("lease renewal failed; retrying", "err", err, "expires_in", time.Until(l.sent.Add(ttl)).Round(time.Millisecond))
		}
	}
}

// release deletes the key if this master still holds it, so that a standby takes
// over at once instead of after the TTL. It runs after ctx ended, so it has its own.
func (m *Master) release(l *lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, leaderKey, jetstream.LastRevision(l.rev)); err != nil {
		m.log.Debug("lease not deleted (it expires after its TTL)", "err", err)
		return
	}
	m.log.Info("leader lease released", "id", m.cfg.ID)
}
