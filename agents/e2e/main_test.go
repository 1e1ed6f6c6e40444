package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/storetest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// NATSEnv names a separately started nats-server (with JetStream) for the
// "external" variants of the tests.
const NATSEnv = "TL_TEST_NATS_URL"

// ackWait is short so that redelivery tests are quick; heartbeats keep long tasks.
const ackWait = 3 * time.Second

func TestMain(m *testing.M) {
	switch os.Getenv("TL_E2E_ROLE") {
	case "agent":
		os.Exit(testworld.AgentMain("e2e-agent", registry()))
	case "master":
		os.Exit(testworld.MasterMain(masterConfig))
	case "natsnode":
		os.Exit(natsNodeMain())
	}
	os.Exit(m.Run())
}

// masterConfig is the master process's: a killed master's lease lapses
// soon, so that the next one leads.
func masterConfig(ctx context.Context, db *store.DB, natsURL string, log *slog.Logger) (master.Config, error) {
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return master.Config{}, err
	}
	return master.Config{NATSURL: natsURL, Store: st, Tick: 500 * time.Millisecond, Log: log, AckWait: ackWait, LeaseTTL: 2 * time.Second}, nil
}

// env is one test's world: a NATS server, a database, a store of plan records.
type env struct {
	t       testing.TB
	nats    *queue.Server // nil when external
	natsURL string
	db      *store.DB
	status  status.Store
	queue   string // a queue name of this test's own
	js      jetstream.JetStream
}

// variants runs body on the embedded server and on the external one (skipped, with
// the reason, when NATSEnv is not set; failed under CI=true).
func variants(t *testing.T, body func(t *testing.T, e *env)) {
	t.Run("embedded", func(t *testing.T) { body(t, newEnv(t, false)) })
	t.Run("external", func(t *testing.T) {
		testenv.RequireEnv(t, "a separately started nats-server", NATSEnv, "nats://127.0.0.1:4222")
		body(t, newEnv(t, true))
	})
}

func newEnv(t testing.TB, external bool) *env {
	t.Helper()
	e := &env{t: t, queue: "q" + strings.ReplaceAll(storetest.TempName(""), "-", "")}
	ctx := storetest.Context(t)
	if external {
		e.natsURL = os.Getenv(NATSEnv)
	} else {
		s, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("embedded nats: %v", err)
		}
		t.Cleanup(func() {
			if e.nats != nil {
				e.nats.Shutdown()
			}
		})
		e.nats, e.natsURL = s, s.URL()
	}
	nc, js, err := queue.Connect(ctx, e.natsURL, "e2e-test", nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if external {
		// The external server outlives the test: start from empty streams there.
		for _, s := range []string{queue.TasksStream, queue.MasterStream} {
			if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatalf("reset stream %s on %s: %v", s, e.natsURL, err)
			}
		}
	}
	if err := queue.Setup(ctx, js); err != nil {
		t.Fatal(err)
	}
	// The queue's delivery settings are the master's; set here too, for the
	// agents that start before it.
	if _, err := queue.EnsureQueue(ctx, js, e.queue, ackWait); err != nil {
		t.Fatal(err)
	}
	e.js = js
	e.openStore(ctx)
	return e
}

// openStore opens the test's database and its store of plan records.
func (e *env) openStore(ctx context.Context) {
	e.t.Helper()
	e.db = storetest.Backends()[0].Open(e.t)
	st, err := status.NewMongo(ctx, e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	e.status = st
}

// start runs this test binary in role with extra environment, the test's
// NATS, store and queue named in it.
func (e *env) start(role, name string, extra ...string) *testworld.Proc {
	e.t.Helper()
	return e.startRaw(name, role, append([]string{
		"TL_NATS_URL=" + e.natsURL,
		"TL_MONGO_URL=" + e.db.URL(),
		"TL_MONGO_DB=" + e.db.Database().Name(),
		"TL_AGENT_ID=" + name,
		"TL_QUEUES=" + e.queue,
		"TL_ACK_WAIT=" + ackWait.String(),
		"TL_RETRY_DELAY=200ms",
		"TL_GRACE=1s",
	}, extra...)...)
}

func (e *env) agent(name string, extra ...string) *testworld.Proc {
	return e.start("agent", name, extra...)
}

// waitAgents waits until n agents of this test's queue have announced themselves.
func (e *env) waitAgents(n int) {
	e.t.Helper()
	e.eventually("agents to announce themselves", 60*time.Second, func() (bool, string) {
		as, err := queue.ListAgents(context.Background(), e.js)
		k := 0
		for _, a := range as {
			if slices.Contains(a.Queues, e.queue) {
				k++
			}
		}
		return k >= n, fmt.Sprintf("%d of %d agents (err %v)", k, n, err)
	})
}

// runMaster starts an in-process master and returns it with its stop function.
func (e *env) runMaster() (*master.Master, func()) {
	e.t.Helper()
	return testworld.RunMaster(e.t, master.Config{NATSURL: e.natsURL, Store: e.status, Tick: 500 * time.Millisecond, Log: testworld.Log(), AckWait: ackWait})
}

// submit parses doc (with QUEUE replaced by the test's queue) and submits it.
func (e *env) submit(doc string) string {
	e.t.Helper()
	return testworld.SubmitPlan(e.t, e.js, strings.ReplaceAll(doc, "QUEUE", e.queue))
}

// eventually polls cond until it holds or patience runs out (then fails the test
// with cond's last description). Patience is generous: the machine is shared.
func (e *env) eventually(what string, patience time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	testworld.Eventually(e.t, what, 100*time.Millisecond, patience, cond)
}

// waitPlan waits until plan id is finished and returns its records.
func (e *env) waitPlan(id string) (*status.Plan, map[string]*status.Task) {
	e.t.Helper()
	var p *status.Plan
	e.eventually("plan "+id+" to finish", 120*time.Second, func() (bool, string) {
		var err error
		p, err = e.status.Plan(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Terminal(), e.describe(id)
	})
	return p, e.tasks(id)
}

func (e *env) tasks(id string) map[string]*status.Task {
	e.t.Helper()
	ts, err := e.status.Tasks(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]*status.Task{}
	for _, t := range ts {
		m[t.ID] = t
	}
	return m
}

func (e *env) describe(id string) string {
	ts, err := e.status.Tasks(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s=%s(a%d %s) ", t.ID, t.Status, t.Attempt, t.Agent)
	}
	return b.String()
}

// count returns how many documents of collection c have field key == value.
func (e *env) count(c, key string, value any) int64 {
	e.t.Helper()
	n, err := e.db.Collection(c).CountDocuments(context.Background(), bson.D{{Key: key, Value: value}})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func output(t testing.TB, tk *status.Task) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(tk.Output), &m); err != nil {
		t.Fatalf("task %s output %q: %v", tk.Key, tk.Output, err)
	}
	return m
}

var _ = mongo.ErrNoDocuments

func retryPlan(e *env, id string) error {
	return master.Retry(context.Background(), e.js, id, nil)
}
