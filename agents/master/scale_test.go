package master_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store/blob"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// startWith is start with a store and settings of the test's choosing.
func startWith(t *testing.T, st status.Store, set func(*master.Config)) (*world, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := master.Config{NATSURL: srv.URL(), Store: st, Tick: 200 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
	set(&cfg)
	m, err := master.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	nc, js, err := queue.Connect(ctx, srv.URL(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; nc.Close(); srv.Shutdown() })
	mem, _ := st.(*status.Memory)
	return &world{js: js, st: mem, ctx: ctx}, srv.URL()
}

// queuedOn counts the messages waiting on queue q.
func (w *world) queuedOn(t *testing.T, q string) uint64 {
	t.Helper()
	s, err := w.js.Stream(w.ctx, queue.TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(w.ctx, jetstream.WithSubjectFilter(queue.TaskSubject(q)))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[queue.TaskSubject(q)]
}

// A plan far over the 1 MiB max payload (10,000 tasks, 1.4 MB) is accepted
// (through the object store), recorded whole, and queued a window at a time; a
// small plan submitted after it on another queue finishes at once, not after
// the big plan's tasks.
func TestBigPlanBesideSmallPlan(t *testing.T) {
	st := status.NewMemory()
	w, url := startWith(t, st, func(c *master.Config) { c.Window = 100 })
	big := &plan.Spec{Name: "big"}
	note := strings.Repeat("x", 100)
	for i := range 10000 {
		big.Tasks = append(big.Tasks, plan.TaskSpec{ID: fmt.Sprintf("t%d", i), Kind: "noop", Queue: "bigq", Params: map[string]any{"note": note}})
	}
	data, _ := json.Marshal(big)
	if len(data) <= 1<<20 {
		t.Fatalf("the big plan is %d bytes; the test needs one over 1 MiB", len(data))
	}
	start := time.Now()
	bigID, v, err := master.SubmitChecked(w.ctx, w.js, big, 60*time.Second)
	if err != nil || v == nil || !v.Accepted {
		t.Fatalf("SubmitChecked(%d-byte plan) = %v, %v", len(data), v, err)
	}
	t.Logf("a %d-task, %d-byte plan accepted in %v", len(big.Tasks), len(data), time.Since(start))
	ts, err := st.Tasks(w.ctx, bigID)
	if err != nil || len(ts) != len(big.Tasks) {
		t.Fatalf("the big plan's records: %d tasks, %v; want %d", len(ts), err, len(big.Tasks))
	}

	reg := task.NewRegistry()
	var ran atomic.Int64
	reg.MustRegister("noop", func(context.Context, *task.Run) (json.RawMessage, error) { ran.Add(1); return nil, nil })
	a, err := agent.New(w.ctx, agent.Config{NATSURL: url, Queues: []string{"smallq"}, Registry: reg, ID: "small-agent", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(w.ctx)
	small := parse(t, "name: small\ntasks: [{id: a, kind: noop, queue: smallq}, {id: b, kind: noop, queue: smallq, deps: [a]}]\n")
	smallStart := time.Now()
	smallID, err := master.Submit(w.ctx, w.js, small)
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the small plan to finish", func() bool {
		p, err := st.Plan(w.ctx, smallID)
		return err == nil && p.Status == plan.Succeeded
	})
	if d := time.Since(smallStart); d > 15*time.Second {
		t.Errorf("the small plan took %v beside the big one", d)
	}
	if n := w.queuedOn(t, "bigq"); n == 0 || n > 100 {
		t.Errorf("%d of the big plan's tasks on its queue; want at most the window, 100", n)
	}
	if ran.Load() != 2 {
		t.Errorf("the small plan's agent ran %d tasks, want 2", ran.Load())
	}
}

// A task waiting on a queue no agent serves fails after the plan's
// unserved_timeout, saying so, and leaves the queue.
func TestUnservedTimeout(t *testing.T) {
	st := status.NewMemory()
	w, _ := startWith(t, st, func(*master.Config) {})
	spec := parse(t, "name: lonely\nunserved_timeout: 1s\ntasks: [{id: a, kind: noop, queue: nobody}, {id: b, kind: noop, queue: nobody, deps: [a]}]\n")
	id, err := master.Submit(w.ctx, w.js, spec)
	if err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the plan to fail", func() bool {
		p, err := st.Plan(w.ctx, id)
		return err == nil && p.Status == plan.Failed
	})
	ts, _ := st.Tasks(w.ctx, id)
	if !strings.Contains(ts[0].Error, "which no agent served") || !strings.Contains(ts[0].Error, "unserved_timeout is 1s") {
		t.Errorf("task a failed with %q; want it to say no agent served its queue and name the timeout", ts[0].Error)
	}
	if ts[1].Status != plan.Blocked {
		t.Errorf("task b is %s, want blocked", ts[1].Status)
	}
	if n := w.queuedOn(t, "nobody"); n != 0 {
		t.Errorf("%d messages left on the queue, want 0", n)
	}
}

// The master runs the store's garbage collection: chunks of a killed upload
// (no file document) are gone after the grace period.
func TestMasterCollectsOrphanedChunks(t *testing.T) {
	db := storetest.Backends()[0].Open(t)
	ctx := storetest.Context(t)
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bk, err := blob.NewBucket(ctx, db, models.WeightsBucket, 1024)
	if err != nil {
		t.Fatal(err)
	}
	info, err := bk.Put(ctx, "killed", bson.D{{Key: "project", Value: db.Project()}}, bytes.NewReader(make([]byte, 10_000)))
	if err != nil {
		t.Fatal(err)
	}
	// The upload was killed before its file document was written.
	if _, err := bk.Files().DeleteOne(ctx, bson.D{{Key: "_id", Value: info.ID}}); err != nil {
		t.Fatal(err)
	}
	chunks := func() int64 {
		n, err := bk.Chunks().CountDocuments(ctx, bson.D{{Key: "files_id", Value: info.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if chunks() == 0 {
		t.Fatal("no orphaned chunks to collect")
	}
	time.Sleep(1100 * time.Millisecond) // older than the grace below (ids count seconds)
	var runs atomic.Int64
	w, _ := startWith(t, status.NewMemory(), func(c *master.Config) {
		c.GC = func(ctx context.Context, grace time.Duration) (int, error) { runs.Add(1); return ms.GC(ctx, grace) }
		c.GCEvery, c.GCGrace = 100*time.Millisecond, time.Second
	})
	w.wait(t, "the orphaned chunks to be collected", func() bool { return chunks() == 0 })
	if runs.Load() == 0 {
		t.Error("the master never ran GC")
	}
}
