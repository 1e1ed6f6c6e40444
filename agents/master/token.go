package master

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
)

// KeyBucket is the key-value bucket that holds the masters' token key. Only
// the master role may read it (see queue.Permissions); every master on the
// server shares the key, so a standby that takes over verifies the tokens of
// the tasks its predecessor queued.
const KeyBucket = "tl_master_key"

const tokenKey = "token"

// loadKey reads the token key, creating it (32 random bytes) on the first start.
func loadKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	kv, err := js.KeyValue(ctx, KeyBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: KeyBucket, Description: "tl master: the key of the per-delivery tokens", History: 1, Storage: jetstream.FileStorage,
			Replicas: queue.Replicas(js.Conn()),
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another master created it first
			kv, err = js.KeyValue(ctx, KeyBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("master: token key bucket %s: %w", KeyBucket, err)
	}
	for range 3 {
		e, err := kv.Get(ctx, tokenKey)
		if err == nil {
			if len(e.Value()) < 16 {
				return nil, fmt.Errorf("master: token key in bucket %s: %d bytes, expected at least 16", KeyBucket, len(e.Value()))
			}
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("master: read the token key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("master: new token key: %w", err)
		}
		if _, err := kv.Create(ctx, tokenKey, key); err == nil {
			return key, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("master: store the token key: %w", err)
		}
		// another master stored one first: read it
	}
	return nil, errors.New("master: the token key keeps changing under this master")
}

// TokenKey returns the masters' token key on the server of js, creating it if
// no master has yet: for tools and tests that stand in for an agent. Only the
// master role may read it on a server with credentials.
func TokenKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	return loadKey(ctx, js)
}

// Token is the proof that a task message comes from a master: HMAC-SHA256
// under key of the plan, the task and the dispatch number, base64url.
func Token(key []byte, plan, taskID string, dispatch int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tl task token\x00" + plan + "\x00" + taskID + "\x00" + strconv.Itoa(dispatch)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify reports whether e carries the token of its delivery.
func (m *Master) verify(e *task.Event) bool {
	want := Token(m.key, e.Plan, e.Task, e.Dispatch)
	return hmac.Equal([]byte(want), []byte(e.Token))
}
