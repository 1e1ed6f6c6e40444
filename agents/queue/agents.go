package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// AgentsKV opens (creating it if needed) the announcement bucket: the roster
// of agents. It is kept on disk (file storage), so that the roster outlives a
// restart of the server (the embedded one restarts with its master), and every
// master and tl status read the same one; an entry lasts AnnounceTTL unrenewed.
// A bucket created in memory by an older version is used as it is.
func AgentsKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	// Bind first: an agent's credentials allow binding, not creating (the
	// master creates the bucket when it starts).
	if kv, err := js.KeyValue(ctx, AgentsBucket); err == nil {
		return kv, nil
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      AgentsBucket,
		Description: "tl agents roster: one entry per live agent, renewed every AnnounceTTL/3",
		TTL:         AnnounceTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    Replicas(js.Conn()),
	})
	if err != nil {
		// An existing bucket whose storage cannot change: use it.
		if old, oerr := js.KeyValue(ctx, AgentsBucket); oerr == nil {
			return old, nil
		}
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
	keys, err := rosterKeys(ctx, js)
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

// rosterKeys lists the roster's keys from the bucket's stream info: unlike
// KeyValue.Keys it creates no consumer, which a client's credentials do not
// allow (a consumer may deliver to any subject). Deleted keys are listed too;
// Get skips them.
func rosterKeys(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	prefix := "$KV." + AgentsBucket + "."
	s, err := js.Stream(ctx, "KV_"+AgentsBucket)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, err
	}
	if len(info.State.Subjects) == 0 {
		return nil, jetstream.ErrNoKeysFound
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	return keys, nil
}
