package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/internal/testworld"
)

// Revoking one agent's credentials closes its connection and refuses it
// from then on; another agent's credentials keep working.
func TestRevokeOneCredential(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := testworld.StartAuthNATS(t, ctx)
	home := w.Home
	lost := w.Creds(queue.RoleAgent, "cpu")
	kept := w.Creds(queue.RoleAgent, "cpu")
	dial := func(c *queue.Credentials, extra ...nats.Option) (*nats.Conn, error) {
		return nats.Connect(w.URL(), append(c.Options(), extra...)...)
	}
	closed := make(chan struct{})
	lc, err := dial(lost, nats.MaxReconnects(2), nats.ReconnectWait(100*time.Millisecond), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	kc, err := dial(kept)
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	added, err := queue.Revoke(home, lost.User)
	if err != nil || len(added) != 1 {
		t.Fatalf("Revoke: %v, %v", added, err)
	}
	if again, err := queue.Revoke(home, lost.User); err != nil || len(again) != 0 {
		t.Fatalf("revoking twice: %v, %v; want nothing new", again, err)
	}
	if _, err := queue.Revoke(home, "not-an-id"); err == nil {
		t.Fatal("revoking garbage: no error")
	}
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the revoked agent's connection is still %v after 20 s", lc.Status())
	}
	if _, err := dial(lost); err == nil {
		t.Fatal("revoked credentials connected again")
	}
	if err := kc.Publish(queue.EventSubject("started"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := kc.FlushTimeout(5 * time.Second); err != nil || !kc.IsConnected() {
		t.Fatalf("the other agent's connection after a revocation: %v, %v", kc.Status(), err)
	}
	if nc, err := dial(kept); err != nil {
		t.Fatalf("other credentials refused after a revocation: %v", err)
	} else {
		nc.Close()
	}
	if got := queue.Revoked(home); len(got) != 1 {
		t.Fatalf("Revoked: %v", got)
	}
}
