package testworld

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
)

// AgentMain is the body of a test binary started as an agent (see Self): an
// agent of reg's kinds, configured by the environment as tl-agent is, until
// SIGINT or SIGTERM. It returns the exit status.
func AgentMain(prog string, reg *task.Registry) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return agent.Main(ctx, prog, nil, reg, os.Stderr)
}

// MasterMain is the body of a test binary started as a master (see Self):
// a master over the store at TL_MONGO_URL (database TL_MONGO_DB, if set) and
// the NATS servers at TL_NATS_URL, configured by config, until SIGINT or
// SIGTERM. It logs to stderr and returns the exit status.
func MasterMain(config func(ctx context.Context, db *store.DB, natsURL string, log *slog.Logger) (master.Config, error)) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("proc", "master")
	db, err := store.Open(ctx, store.Config{URL: os.Getenv("TL_MONGO_URL"), Database: os.Getenv("TL_MONGO_DB")})
	if err != nil {
		log.Error("store", "err", err)
		return 1
	}
	defer db.Close(context.Background())
	cfg, err := config(ctx, db, os.Getenv("TL_NATS_URL"), log)
	if err == nil {
		var m *master.Master
		if m, err = master.New(ctx, cfg); err == nil {
			err = m.Run(ctx)
		}
	}
	if err != nil {
		log.Error("master", "err", err)
		return 1
	}
	return 0
}

// RunAgent runs an agent of cfg in this process until the test ends; an
// error of its Run fails the test.
func RunAgent(t testing.TB, cfg agent.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	background(t, ctx, cancel, "agent "+a.ID(), a.Run)
}

// RunMaster runs a master of cfg in this process until stop is called or
// the test ends; an error of its Run fails the test.
func RunMaster(t testing.TB, cfg master.Config) (m *master.Master, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := master.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return m, background(t, ctx, cancel, "master", m.Run)
}

// background runs run(ctx) in a goroutine until stop is called or the test
// ends, which cancel ctx and wait for run to return; an error of run fails
// the test, named what.
func background(t testing.TB, ctx context.Context, cancel context.CancelFunc, what string, run func(context.Context) error) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := run(ctx); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// SubmitPlan parses the plan doc, named after the test, and submits it with
// js; it returns the plan's id.
func SubmitPlan(t testing.TB, js jetstream.JetStream, doc string) string {
	t.Helper()
	spec, err := plan.Parse([]byte(doc), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	id, err := master.Submit(context.Background(), js, spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
