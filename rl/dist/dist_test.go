package dist_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/dist"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// ackWait is short so that a killed agent's task comes back quickly.
const ackWait = 3 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv("TL_RLDIST_ROLE") == "agent" {
		reg := task.NewRegistry()
		if err := dist.Register(reg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(testworld.AgentMain("rldist-agent", reg))
	}
	os.Exit(m.Run())
}

// world is a test's servers: NATS with credentials, a store, a master in
// this process; agents are processes of this test binary.
type world struct {
	t      testing.TB
	nats   *testworld.AuthNATS
	db     *store.DB
	status status.Store
	js     jetstream.JetStream
	creds  string // the agents' credentials file
	qp, qt string // the players' and the trainer's queues
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &world{t: t, qp: "rlp" + storetest.TempName(""), qt: "rlt" + storetest.TempName("")}
	w.nats = testworld.StartAuthNATS(t, ctx)
	w.creds = filepath.Join(w.nats.Home, "agent.json")
	if err := queue.WriteCredentials(w.creds, w.nats.Creds(queue.RoleAgent, queue.AllQueues)); err != nil {
		t.Fatal(err)
	}
	mc := w.nats.Creds(queue.RoleMaster)
	_, w.js = w.nats.Connect(mc)
	w.db = storetest.Backends()[0].Open(t)
	var err error
	if w.status, err = status.NewMongo(ctx, w.db); err != nil {
		t.Fatal(err)
	}
	testworld.RunMaster(t, master.Config{NATSURL: w.nats.URL(), Credentials: mc, Store: w.status, Tick: 300 * time.Millisecond,
		AckWait: ackWait, Log: testworld.Log()})
	for _, q := range []string{w.qp, w.qt} {
		if _, err := queue.EnsureQueue(ctx, w.js, q, ackWait); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// agent starts an agent process serving queue q.
func (w *world) agent(name, q string) *testworld.Proc {
	w.t.Helper()
	return testworld.Start(w.t, name, testworld.Self("TL_RLDIST_ROLE=agent", "TL_NATS_URL="+w.nats.URL(), "TL_MONGO_URL="+w.db.URL(),
		"TL_CREDENTIALS="+w.creds, "TL_AGENT_ID="+name, "TL_QUEUES="+q, "TL_ACK_WAIT="+ackWait.String(),
		"TL_RETRY_DELAY=200ms", "TL_GRACE=1s", "TL_HOME="+w.t.TempDir()))
}

// agentJS connects with the agents' credentials, as a player's process does.
func (w *world) agentJS() jetstream.JetStream {
	w.t.Helper()
	ac, err := queue.ReadCredentials(w.creds)
	if err != nil {
		w.t.Fatal(err)
	}
	_, js := w.nats.Connect(ac)
	return js
}

func (w *world) submit(doc string) string {
	w.t.Helper()
	return testworld.SubmitPlan(w.t, w.js, strings.NewReplacer("QP", w.qp, "QT", w.qt).Replace(doc))
}

func (w *world) eventually(what string, patience time.Duration, cond func() (bool, string)) {
	w.t.Helper()
	testworld.Eventually(w.t, what, 200*time.Millisecond, patience, cond)
}

func (w *world) describe(id string) string {
	ts, err := w.status.Tasks(context.Background(), id)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%s=%s(a%d %s %s) ", t.ID, t.Status, t.Attempt, t.Agent, t.Error)
	}
	return b.String()
}

func (w *world) taskOf(id, tk string) *status.Task {
	ts, err := w.status.Tasks(context.Background(), id)
	if err != nil {
		return nil
	}
	for _, t := range ts {
		if t.ID == tk {
			return t
		}
	}
	return nil
}

// version is the model store's latest version of run (0: none).
func (w *world) version(run string) int64 {
	ms, err := models.New(context.Background(), w.db, models.Options{})
	if err != nil {
		return 0
	}
	m, err := ms.Get(context.Background(), models.Ref{Name: run, Alias: dist.Alias})
	if err != nil {
		return 0
	}
	return m.Version
}

// threshold is the mean return (steps balanced) of the last 100 CartPole
// episodes the test asks for: a random policy lasts about 22 steps.
const threshold = 195

// TestCartPoleDistributed trains CartPole with two player agents and one
// trainer agent, kills -9 a player's agent and later the trainer's, starts
// others in their place, and publishes two bad messages: the run reaches the
// threshold and every trajectory published is trained on exactly once.
func TestCartPoleDistributed(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a minute or two")
	}
	w := newWorld(t)
	const run = "cp"
	id := w.submit(fmt.Sprintf(`
name: rl
tasks:
  - {id: trainer, kind: rl-trainer, queue: QT, params: {run: %[1]s, env: cartpole, unroll: 16, batch: 16, lr: 0.003, save_every: 5, target: %[2]d, duration: 6m, drain: 1m}}
  - {id: p1, kind: rl-player, queue: QP, params: {run: %[1]s, envs: 16, seed: 1}}
  - {id: p2, kind: rl-player, queue: QP, params: {run: %[1]s, envs: 16, seed: 2}}
`, run, threshold))
	trainer := w.agent("trainer-a", w.qt)
	pa := w.agent("player-a", w.qp)
	w.agent("player-b", w.qp)

	w.eventually("a few saved versions", 3*time.Minute, func() (bool, string) {
		v := w.version(run)
		return v >= 10, fmt.Sprintf("version %d; %s", v, w.describe(id))
	})
	// The bad input: garbage, and a well-formed trajectory of a version the
	// trainer never made, both published with an agent's credentials.
	js := w.agentJS()
	ctx := context.Background()
	bad := &nats.Msg{Subject: queue.RLSubject(run, "mallory"), Data: []byte("not a trajectory"), Header: nats.Header{}}
	bad.Header.Set(dist.HeaderPlayer, "mallory")
	bad.Header.Set(dist.HeaderSeq, "0")
	if _, err := js.PublishMsg(ctx, bad); err != nil {
		t.Fatal(err)
	}
	tr := &a2c.Trajectory{Version: 1 << 40, Obs: make([]float32, 17*4), Actions: make([]int32, 16), Rewards: make([]float32, 16),
		Dones: make([]bool, 16), LogProbs: make([]float32, 16)}
	b, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	future := &nats.Msg{Subject: queue.RLSubject(run, "mallory"), Data: b, Header: nats.Header{}}
	future.Header.Set(dist.HeaderPlayer, "mallory")
	future.Header.Set(dist.HeaderSeq, "1")
	if _, err := js.PublishMsg(ctx, future); err != nil {
		t.Fatal(err)
	}

	// A trajectory already trained on, again (what a trainer killed between
	// saving a version and acking sees): p1's number 0 under another message
	// id, so the stream's deduplication lets it through.
	tr.Version = 0
	if b, err = tr.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	again := &nats.Msg{Subject: queue.RLSubject(run, "p1"), Data: b, Header: nats.Header{}}
	again.Header.Set(dist.HeaderPlayer, "p1")
	again.Header.Set(dist.HeaderSeq, "0")
	if _, err := js.PublishMsg(ctx, again, jetstream.WithMsgID("replayed")); err != nil {
		t.Fatal(err)
	}

	// kill -9 a player's agent, start another.
	pa.Kill()
	w.agent("player-c", w.qp)
	v0 := w.version(run)
	w.eventually("training to go on after the player's kill", 3*time.Minute, func() (bool, string) {
		v := w.version(run)
		return v >= v0+10, fmt.Sprintf("version %d; %s", v, w.describe(id))
	})
	trainer.Kill()
	w.agent("trainer-b", w.qt)

	var p *status.Plan
	w.eventually("the plan to finish", 8*time.Minute, func() (bool, string) {
		var err error
		if p, err = w.status.Plan(ctx, id); err != nil {
			return false, err.Error()
		}
		return p.Status.Terminal(), fmt.Sprintf("version %d; %s", w.version(run), w.describe(id))
	})
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s", p.Status, w.describe(id))
	}
	var out dist.TrainerOutput
	tk := w.taskOf(id, "trainer")
	if err := json.Unmarshal([]byte(tk.Output), &out); err != nil {
		t.Fatalf("trainer output %q: %v", tk.Output, err)
	}
	t.Logf("trainer (attempt %d): %s", tk.Attempt, tk.Output)
	if tk.Attempt < 2 {
		t.Errorf("trainer finished in attempt %d: the kill did not interrupt it", tk.Attempt)
	}
	if out.Stopped != "target" || out.Reached < threshold {
		t.Errorf("run stopped by %q at a mean return of %.1f, want the target %d", out.Stopped, out.Reached, threshold)
	}
	if out.Resumed < 2 {
		t.Errorf("the last attempt resumed from version %d, want a saved one after the first", out.Resumed)
	}
	if out.Rejected != 2 {
		t.Errorf("rejected %d, want the 2 bad messages", out.Rejected)
	}
	if out.Repeats < 1 {
		t.Errorf("repeats %d, want at least the one replayed", out.Repeats)
	}
	if out.Gaps != 0 || out.Pending != 0 || out.Undrained {
		t.Errorf("gaps %d, pending %d, undrained %v: want 0, 0, false", out.Gaps, out.Pending, out.Undrained)
	}
	if out.Published == 0 || out.Trained != out.Published {
		t.Errorf("published %d, trained on %d: want equal", out.Published, out.Trained)
	}
	for _, pl := range []string{"p1", "p2"} {
		ptk := w.taskOf(id, pl)
		var po dist.PlayerOutput
		if err := json.Unmarshal([]byte(ptk.Output), &po); err != nil {
			t.Fatalf("%s output %q: %v", pl, ptk.Output, err)
		}
		t.Logf("%s (attempt %d): %s", pl, ptk.Attempt, ptk.Output)
		if po.Published == 0 || out.PerPlayer[pl] != po.Published {
			t.Errorf("%s published %d, the trainer trained on its numbers below %d", pl, po.Published, out.PerPlayer[pl])
		}
	}
	if ptk := w.taskOf(id, "p1"); ptk.Attempt < 2 && w.taskOf(id, "p2").Attempt < 2 {
		t.Errorf("no player was restarted: the kill missed")
	}
}

// TestBadParams: a task with bad params fails at once, permanently, and
// writes nothing.
func TestBadParams(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := context.Background()
	for _, c := range []struct{ kind, params, want string }{
		{"rl-trainer", `{"run":"x","env":"chess","updates":1}`, `env "chess"`},
		{"rl-trainer", `{"run":"x","env":"cartpole"}`, "never end"},
		{"rl-trainer", `{"run":"a b","env":"cartpole","updates":1}`, `params.run "a b"`},
		{"rl-trainer", `{"run":"x","env":"cartpole","updates":1,"batch":-1}`, "batch -1"},
		{"rl-trainer", `{"run":"x","env":"cartpole","updates":1,"bogus":1}`, "unknown field"},
		{"rl-trainer", `{"run":"x","env":"cartpole","updates":1,"device":"tpu"}`, `params.device "tpu"`},
		{"rl-player", `{"run":"x","envs":-1}`, "envs -1"},
		{"rl-player", `{"run":""}`, `params.run ""`},
	} {
		f := dist.Trainer
		if c.kind == "rl-player" {
			f = dist.Player
		}
		_, err := f(ctx, &task.Run{Task: &task.Task{Plan: "p", ID: "t", Kind: c.kind, Params: json.RawMessage(c.params)}, Attempt: 1, Services: db})
		if err == nil || !strings.Contains(err.Error(), c.want) || !task.IsPermanent(err) {
			t.Errorf("%s %s: error %v, want a permanent one with %q", c.kind, c.params, err, c.want)
		}
	}
	for _, coll := range []string{dist.RunsCollection, dist.PlayersCollection, models.ModelsCollection} {
		if n, err := db.Collection(coll).CountDocuments(ctx, map[string]any{}); err != nil || n != 0 {
			t.Errorf("collection %s has %d documents (err %v), want none", coll, n, err)
		}
	}
}

// The example plans of examples/rl name the kinds of this package with
// parameters they take, and every player's envs is a multiple of the batch.
func TestExamplePlans(t *testing.T) {
	r := task.NewRegistry()
	if err := dist.Register(r); err != nil {
		t.Fatal(err)
	}
	testworld.CheckPlans(t, "../../examples/rl/*.yaml", 1, r, func(f string, _ []byte, p *plan.Spec) {
		num := func(v any) int { n, _ := strconv.Atoi(fmt.Sprint(v)); return n }
		batch := 0
		for _, ts := range p.Tasks {
			if ts.Kind == dist.TrainerKind {
				batch = num(ts.Params["batch"])
			}
		}
		for _, ts := range p.Tasks {
			if envs := num(ts.Params["envs"]); ts.Kind == dist.PlayerKind && (batch == 0 || envs%batch != 0) {
				t.Errorf("%s: task %s: envs %v is not a multiple of the trainer's batch %v", f, ts.ID, ts.Params["envs"], batch)
			}
		}
	})
}

// An agent's credentials may publish trajectories and run the trainer's
// consumer, and nothing else of the stream: no purge, no delete, no update
// of the stream, no other stream's consumers.
func TestAgentPermissionsOnTheStream(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	js := w.agentJS()
	m := &nats.Msg{Subject: queue.RLSubject("perm", "p1"), Data: []byte("x")}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("an agent publishing a trajectory: %v", err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, queue.RLStream, jetstream.ConsumerConfig{Durable: queue.RLConsumer("perm"),
		FilterSubject: queue.RLRunSubjects("perm"), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("an agent creating a trainer's consumer: %v", err)
	}
	b, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for msg := range b.Messages() {
		got++
		if err := msg.DoubleAck(ctx); err != nil {
			t.Errorf("an agent acking a trajectory: %v", err)
		}
	}
	if got != 1 {
		t.Fatalf("fetched %d messages, want 1 (%v)", got, b.Error())
	}
	if err := js.DeleteConsumer(ctx, queue.RLStream, queue.RLConsumer("perm")); err != nil {
		t.Errorf("an agent replacing a trainer's consumer: %v", err)
	}
	// A request the server refuses gets no answer: each waits its own
	// short deadline.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}
	s, err := js.Stream(ctx, queue.RLStream)
	if err != nil {
		t.Fatalf("an agent reading the stream's info: %v", err)
	}
	if err := js.DeleteStream(short(), queue.RLStream); err == nil {
		t.Error("an agent deleted the trajectory stream")
	}
	if err := s.Purge(short()); err == nil {
		t.Error("an agent purged the trajectory stream")
	}
	if _, err := js.UpdateStream(short(), jetstream.StreamConfig{Name: queue.RLStream, Subjects: []string{"tl.rl.>", "x.>"}}); err == nil {
		t.Error("an agent changed the trajectory stream's subjects")
	}
	if _, err := js.CreateOrUpdateConsumer(short(), queue.TasksStream, jetstream.ConsumerConfig{Durable: "mine"}); err == nil {
		t.Error("an agent created a consumer on the tasks stream")
	}
	if _, err := js.PublishMsg(short(), &nats.Msg{Subject: "tl.tasks.cpu", Data: []byte("{}")}); err == nil {
		t.Error("an agent published a task")
	}
}

// Pong goes through the same path: 40×40 frames (134 kB a trajectory of 20
// steps), one player, a few updates, every trajectory trained on once.
func TestPongDistributed(t *testing.T) {
	if testing.Short() {
		t.Skip("plays Pong for a few seconds")
	}
	w := newWorld(t)
	id := w.submit(`
name: pong
tasks:
  - {id: trainer, kind: rl-trainer, queue: QT, params: {run: pg, env: pong, unroll: 20, batch: 8, lr: 0.0005, save_every: 2, updates: 6, drain: 1m}}
  - {id: p1, kind: rl-player, queue: QP, params: {run: pg, envs: 8, seed: 1}}
`)
	w.agent("trainer", w.qt)
	w.agent("player", w.qp)
	var p *status.Plan
	w.eventually("the plan to finish", 4*time.Minute, func() (bool, string) {
		var err error
		if p, err = w.status.Plan(context.Background(), id); err != nil {
			return false, err.Error()
		}
		return p.Status.Terminal(), w.describe(id)
	})
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s", p.Status, w.describe(id))
	}
	var out dist.TrainerOutput
	if err := json.Unmarshal([]byte(w.taskOf(id, "trainer").Output), &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("trainer: %s", w.taskOf(id, "trainer").Output)
	if out.Updates < 6 || out.Trained != out.Published || out.Trained < 48 || out.Rejected != 0 || out.Undrained {
		t.Errorf("updates %d, trained %d, published %d, rejected %d, undrained %v: want ≥ 6, equal ≥ 48, 0, false",
			out.Updates, out.Trained, out.Published, out.Rejected, out.Undrained)
	}
}
