package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
)

// authWorld is an embedded server with credentials, set up by a master
// connection: streams, and the consumers of queues cpu and cuda.
type authWorld struct {
	*testworld.AuthNATS
	js jetstream.JetStream // the master's
}

func startAuth(t *testing.T) *authWorld {
	t.Helper()
	// With a deadline queue.Connect waits for a dial up to it, not nats's
	// 2-second default: the machine may be loaded.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	w := &authWorld{AuthNATS: testworld.StartAuthNATS(t, ctx)}
	mc, err := queue.HomeCredentials(w.Home, queue.RoleMaster)
	if err != nil {
		t.Fatal(err)
	}
	_, w.js = w.Connect(mc)
	if err := queue.Setup(ctx, w.js); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"cpu", "cuda"} {
		if _, err := queue.EnsureQueue(ctx, w.js, q, 0); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *authWorld) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := w.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// settle lets the server process what nc sent (a violation is answered
// asynchronously) and returns the connection's last error.
func settle(t *testing.T, nc *nats.Conn) error {
	t.Helper()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	return nc.LastError()
}

func fakeTask(q string) []byte {
	b, _ := (&task.Task{Plan: "p", ID: "evil", Kind: "train", Queue: q, MaxAttempts: 1, Dispatch: 1, Token: "made-up"}).Encode()
	return b
}

// (d) No credentials, a wrong password, or credentials whose queues were
// edited cannot connect; the master's can.
func TestAuthRefusesStrangers(t *testing.T) {
	w := startAuth(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	agent := w.Creds(queue.RoleAgent, "cpu")
	wrong := *agent
	wrong.Password = strings.Repeat("A", len(agent.Password))
	edited := *agent
	edited.User = strings.TrimSuffix(agent.User, "cpu") + "cpu,cuda"
	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": wrong.Options(),
		"edited queues":  edited.Options(),
		"user only":      {nats.UserInfo(agent.User, "")},
	} {
		nc, _, err := queue.Connect(ctx, w.URL(), "stranger", nil, opts...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected; want an authorization error", name)
		} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization") {
			t.Errorf("%s: err = %v; want an authorization error", name, err)
		}
	}
	w.Connect(agent)
	other, err := queue.LoadOrCreateAuth(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.New(queue.RoleMaster, nil)
	if nc, _, err := queue.Connect(ctx, w.URL(), "foreign", nil, foreign.Options()...); err == nil {
		nc.Close()
		t.Error("a master's credentials from another home connected")
	}
}

// (a) Neither an agent nor a client may publish a task: the server refuses
// it and the task queue stays empty. Nor may a client publish an event.
func TestAuthOnlyMasterPublishesTasks(t *testing.T) {
	w := startAuth(t)
	for _, c := range []*queue.Credentials{w.Creds(queue.RoleAgent, "cpu"), w.Creds(queue.RoleClient)} {
		nc, js := w.Connect(c)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, queue.TaskSubject("cpu"), fakeTask("cpu"))
		cancel()
		if err == nil {
			t.Errorf("%s: a task published through JetStream was acknowledged", c.Role)
		}
		if err := nc.Publish(queue.TaskSubject("cpu"), fakeTask("cpu")); err != nil {
			t.Fatal(err)
		}
		if err := settle(t, nc); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("%s: publishing a task: last error %v; want a permissions violation", c.Role, err)
		}
	}
	client, _ := w.Connect(w.Creds(queue.RoleClient))
	ev, _ := (&task.Event{Type: task.Succeeded, Plan: "p", Task: "a", Dispatch: 1, Agent: "x", Time: time.Now()}).Encode()
	if err := client.Publish(queue.EventSubject(task.Succeeded), ev); err != nil {
		t.Fatal(err)
	}
	if err := settle(t, client); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("client publishing an event: last error %v; want a permissions violation", err)
	}
	if n := w.msgs(t, queue.TasksStream); n != 0 {
		t.Errorf("%s holds %d messages; want 0 (every forged task refused)", queue.TasksStream, n)
	}
	if n := w.msgs(t, queue.MasterStream); n != 0 {
		t.Errorf("%s holds %d messages; want 0 (the client's event refused)", queue.MasterStream, n)
	}
	// The master may.
	ctx := context.Background()
	if _, err := w.js.Publish(ctx, queue.TaskSubject("cpu"), fakeTask("cpu")); err != nil {
		t.Fatalf("the master cannot publish a task: %v", err)
	}
}

// (c) An agent whose credentials name queue cpu pulls from cpu, and cannot
// bind to, pull from or ack on cuda; nor can it listen to everything.
func TestAuthAgentPullsItsQueuesOnly(t *testing.T) {
	w := startAuth(t)
	ctx := context.Background()
	for _, q := range []string{"cpu", "cuda"} {
		if _, err := w.js.Publish(ctx, queue.TaskSubject(q), fakeTask(q)); err != nil {
			t.Fatal(err)
		}
	}
	nc, js := w.Connect(w.Creds(queue.RoleAgent, "cpu"))
	cpu, err := js.Consumer(ctx, queue.TasksStream, queue.ConsumerName("cpu"))
	if err != nil {
		t.Fatalf("agent binding to its queue: %v", err)
	}
	msg, err := cpu.Next(jetstream.FetchMaxWait(3 * time.Second))
	if err != nil {
		t.Fatalf("agent pulling from its queue: %v", err)
	}
	if err := msg.InProgress(); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithTimeout(ctx, 3*time.Second)
	err = msg.DoubleAck(actx) // waits for the server: a refused ack times out
	acancel()
	if err != nil {
		t.Fatalf("agent acknowledging its delivery: %v", err)
	}
	bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = js.Consumer(bctx, queue.TasksStream, queue.ConsumerName("cuda"))
	cancel()
	if err == nil {
		t.Error("an agent for cpu bound to the consumer of cuda")
	}
	// A raw pull request on cuda's consumer: refused, nothing delivered.
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT."+queue.TasksStream+"."+queue.ConsumerName("cuda"), inbox, []byte(`{"batch":1,"expires":1000000000}`)); err != nil {
		t.Fatal(err)
	}
	if err := settle(t, nc); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("pull from cuda: last error %v; want a permissions violation", err)
	}
	if m, err := sub.NextMsg(1500 * time.Millisecond); err == nil {
		t.Errorf("an agent for cpu received %q from cuda", m.Data)
	}
	// Listening to everything, or to other users' inboxes: refused.
	for _, subj := range []string{">", "_INBOX.>", queue.TaskSubject("cuda"), "$JS.API.>"} {
		s, err := nc.SubscribeSync(subj)
		if err == nil {
			err = settle(t, nc)
			_ = s.Unsubscribe()
		}
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("agent subscribing to %s: %v; want a permissions violation", subj, err)
		}
	}
	cuda, err := w.js.Consumer(ctx, queue.TasksStream, queue.ConsumerName("cuda"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cuda.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 1 || info.NumAckPending != 0 {
		t.Errorf("cuda's task: %d pending, %d delivered; want it untouched (1, 0)", info.NumPending, info.NumAckPending)
	}
}

// A client reads the roster and the leader lease and sends commands; an
// agent announces itself; neither can create a stream or a consumer.
func TestAuthClientAndAgentDoTheirJobs(t *testing.T) {
	w := startAuth(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := queue.AgentsKV(ctx, w.js); err != nil {
		t.Fatal(err)
	}
	_, ajs := w.Connect(w.Creds(queue.RoleAgent, "cpu"))
	kv, err := queue.AgentsKV(ctx, ajs)
	if err != nil {
		t.Fatalf("agent opening the roster: %v", err)
	}
	if err := queue.Announce(ctx, kv, &queue.AgentInfo{ID: "a1", Queues: []string{"cpu"}}); err != nil {
		t.Fatalf("agent announcing itself: %v", err)
	}
	_, cjs := w.Connect(w.Creds(queue.RoleClient))
	as, err := queue.ListAgents(ctx, cjs)
	if err != nil || len(as) != 1 || as[0].ID != "a1" {
		t.Fatalf("client listing agents: %v, %v; want [a1]", as, err)
	}
	if err := queue.PublishControl(ctx, cjs, "cancel", "c1", []byte(`{"plan":"p"}`)); err != nil {
		t.Fatalf("client sending a command: %v", err)
	}
	// The masters' token key (master.KeyBucket) is theirs only.
	mkv, err := w.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "tl_master_key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mkv.Put(ctx, "token", []byte("0123456789abcdef0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	for role, js := range map[string]jetstream.JetStream{"agent": ajs, "client": cjs} {
		kctx, kcancel := context.WithTimeout(ctx, 2*time.Second)
		if kv, err := js.KeyValue(kctx, "tl_master_key"); err == nil {
			if e, err := kv.Get(kctx, "token"); err == nil {
				t.Errorf("%s read the masters' token key: %q", role, e.Value())
			}
		}
		kcancel()
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateStream(sctx, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"tl.tasks.evil"}})
		scancel()
		if err == nil {
			t.Errorf("%s created a stream", role)
		}
		sctx, scancel = context.WithTimeout(ctx, 2*time.Second)
		_, err = js.CreateOrUpdateConsumer(sctx, queue.TasksStream, jetstream.ConsumerConfig{Durable: queue.ConsumerName("cpu"), AckWait: time.Second})
		scancel()
		if err == nil {
			t.Errorf("%s changed the consumer of queue cpu", role)
		}
	}
}

// The credentials files and their folder are this user's only; the role
// files survive a restart (same passwords).
func TestAuthFilesPrivate(t *testing.T) {
	home := t.TempDir()
	if _, err := queue.LoadOrCreateAuth(home); err != nil {
		t.Fatal(err)
	}
	before, err := queue.HomeCredentials(home, queue.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(home, queue.CredentialsDir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.LoadOrCreateAuth(home); err != nil {
		t.Fatal(err)
	}
	after, err := queue.HomeCredentials(home, queue.RoleAgent)
	if err != nil {
		t.Fatal(err)
	}
	if before.Password != after.Password || before.User != after.User {
		t.Error("restart replaced the agent's credentials")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "creds", after, "value", *after)
	for _, s := range []string{after.String(), fmt.Sprintf("%v %+v %s", after, *after, after), logged.String()} {
		if strings.Contains(s, after.Password) || !strings.Contains(s, after.User) {
			t.Errorf("printed credentials show the password, or not the user: %s", s)
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("%s: mode %o; want 700", dir, perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("%s holds %d files; want 4 (the key, three roles)", dir, len(entries))
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %o; want 600", e.Name(), perm)
		}
	}
}

// With credentials the embedded server may listen off loopback.
func TestAuthAllowsOffLoopback(t *testing.T) {
	auth, err := queue.LoadOrCreateAuth(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := queue.StartServer(context.Background(), queue.ServerConfig{Dir: t.TempDir(), Host: "0.0.0.0", Auth: auth})
	if err != nil {
		t.Fatalf("with credentials, 0.0.0.0: %v", err)
	}
	s.Shutdown()
}

// With TLS, credentials that carry the server's certificate connect (the
// certificate is pinned, the host name not checked); credentials without it,
// or pinning another certificate, do not.
func TestAuthTLS(t *testing.T) {
	certFile, keyFile := testworld.SelfSignedCert(t, t.TempDir())
	w := testworld.StartAuthNATSWith(t, context.Background(), queue.ServerConfig{TLSCert: certFile, TLSKey: keyFile})
	home := w.Home
	if err := queue.HomeCA(home, certFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := queue.HomeCredentials(home, queue.RoleClient)
	if err != nil {
		t.Fatal(err)
	}
	if client.CA == "" {
		t.Fatal("HomeCA did not put the certificate in the client's credentials")
	}
	nc, _, err := queue.Connect(ctx, w.URL(), "tls", nil, client.Options()...)
	if err != nil {
		t.Fatalf("with the certificate pinned: %v", err)
	}
	if !nc.TLSRequired() {
		t.Error("the connection is not TLS")
	}
	nc.Close()
	// Credentials made afterwards (tl credentials) carry the certificate too.
	again, err := queue.LoadOrCreateAuth(home)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := again.New(queue.RoleAgent, []string{"cpu"}); c.CA != client.CA {
		t.Error("new credentials do not carry the server's certificate")
	}
	otherCert, _ := testworld.SelfSignedCert(t, t.TempDir())
	other, _ := os.ReadFile(otherCert)
	for name, c := range map[string]queue.Credentials{
		"no certificate":      {Role: client.Role, User: client.User, Password: client.Password},
		"another certificate": {Role: client.Role, User: client.User, Password: client.Password, CA: string(other)},
	} {
		if nc, _, err := queue.Connect(ctx, w.URL(), "tls", nil, c.Options()...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
}
