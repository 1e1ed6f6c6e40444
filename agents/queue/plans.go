package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// PlansBucket is the JetStream object store where a submitter leaves a plan too
// big for one message (over the server's max payload, 1 MiB by default); the
// submit command then names the object instead of carrying the plan. Objects
// are stored in chunks, so a plan has no size limit but the stream's, and the
// object survives a master restart until the master has recorded the plan and
// deleted it.
const PlansBucket = "tl_plans"

// PlanObjects opens (creating it if needed) the bucket of big plans.
func PlanObjects(ctx context.Context, js jetstream.JetStream) (jetstream.ObjectStore, error) {
	os, err := js.ObjectStore(ctx, PlansBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		os, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      PlansBucket,
			Description: "tl plans too big for one message, until the master records them",
			Storage:     jetstream.FileStorage,
			Replicas:    Replicas(js.Conn()),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			os, err = js.ObjectStore(ctx, PlansBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("plans object store %s: %w", PlansBucket, err)
	}
	return os, nil
}
