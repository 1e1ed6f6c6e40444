package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/task"
)

// AgentsBucket is the key-value bucket where agents announce themselves.
const AgentsBucket = "tl_agents"

// AnnounceTTL is how long an announcement lasts; agents renew it every third of it.
const AnnounceTTL = 15 * time.Second

// AgentInfo is what an agent announces: who it is, the queues it serves (its
// capabilities), the kinds it can run, and what it is doing now.
type AgentInfo struct {
	ID     string   `json:"id"`
	Host   string   `json:"host"`
	PID    int      `json:"pid"`
	Queues []string `json:"queues"`
	Kinds  []string `json:"kinds"`
	// Specs describe the kinds: for those registered with their params type,
	// the parameter fields they accept (the master checks plans against them).
	// Agents built before specs existed announce none.
	Specs   []task.KindSpec `json:"specs,omitempty"`
	Slots   int             `json:"slots"`
	Running []string        `json:"running"`
	Done    int64           `json:"done"`
	Started time.Time       `json:"started"`
	Seen    time.Time       `json:"seen"`
}

// AgentsKV opens (creating it if needed) the announcement bucket.
func AgentsKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  AgentsBucket,
		TTL:     AnnounceTTL,
		Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("agents bucket %s: %w", AgentsBucket, err)
	}
	return kv, nil
}

// Announce writes info to the bucket.
func Announce(ctx context.Context, kv jetstream.KeyValue, info *AgentInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, info.ID, data); err != nil {
		return fmt.Errorf("announce agent %s: %w", info.ID, err)
	}
	return nil
}

// ListAgents returns the agents that announced themselves within AnnounceTTL, by id.
func ListAgents(ctx context.Context, js jetstream.JetStream) ([]AgentInfo, error) {
	kv, err := js.KeyValue(ctx, AgentsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agents bucket %s: %w", AgentsBucket, err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	var out []AgentInfo
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // expired between Keys and Get
		}
		var a AgentInfo
		if json.Unmarshal(e.Value(), &a) == nil {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b AgentInfo) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}
