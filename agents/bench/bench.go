package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

var quiet = slog.New(slog.DiscardHandler)

func randomName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Registry holds the kinds the benchmarks use:
//
//	noop  returns at once
//	hold  on its first attempt waits until cancelled (to be killed); later returns
func Registry() *task.Registry {
	r := task.NewRegistry()
	r.MustRegister("noop", func(context.Context, *task.Run) (json.RawMessage, error) { return nil, nil })
	r.MustRegister("hold", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		if run.Attempt == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, nil
	})
	return r
}

// AgentMain runs this process as a benchmark agent when TL_BENCH_ROLE=agent, and
// returns otherwise. Call it first in main or TestMain.
func AgentMain() {
	if os.Getenv("TL_BENCH_ROLE") != "agent" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(agent.Main(ctx, "bench-agent", nil, Registry(), os.Stderr))
}

// startAgents runs n in-process agents on queue q with reg; stop waits for them.
func startAgents(ctx context.Context, natsURL, q string, n int, ackWait time.Duration, reg *task.Registry) (stop func(), err error) {
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range n {
		a, err := agent.New(ctx, agent.Config{
			NATSURL: natsURL, Queues: []string{q}, AckWait: ackWait, Registry: reg,
			ID: fmt.Sprintf("%s-%d", q, i), Log: quiet, Grace: time.Second,
		})
		if err != nil {
			cancel()
			wg.Wait()
			return nil, err
		}
		wg.Go(func() { _ = a.Run(actx) })
	}
	return func() { cancel(); wg.Wait() }, nil
}

// DispatchResult is one measurement of end-to-end task throughput.
type DispatchResult struct {
	Tasks, Agents int
	Elapsed       time.Duration
}

// PerSecond is tasks completed per second.
func (r DispatchResult) PerSecond() float64 { return float64(r.Tasks) / r.Elapsed.Seconds() }

// Dispatch runs a plan of n independent no-op tasks through a master (recording in
// st) and agents in-process agents, from submission to the plan's end.
func Dispatch(ctx context.Context, natsURL string, st status.Store, agents, n int) (DispatchResult, error) {
	q := randomName("bench")
	m, err := master.New(ctx, master.Config{NATSURL: natsURL, Store: st, Log: quiet, Tick: 200 * time.Millisecond})
	if err != nil {
		return DispatchResult{}, err
	}
	mctx, stopMaster := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { defer close(mdone); _ = m.Run(mctx) }()
	defer func() { stopMaster(); <-mdone }()
	stopAgents, err := startAgents(ctx, natsURL, q, agents, 0, Registry())
	if err != nil {
		return DispatchResult{}, err
	}
	defer stopAgents()

	spec := &plan.Spec{Name: "dispatch"}
	for i := range n {
		spec.Tasks = append(spec.Tasks, plan.TaskSpec{ID: fmt.Sprintf("t%d", i), Kind: "noop", Queue: q})
	}
	_, js, err := queue.Connect(ctx, natsURL, "bench", quiet)
	if err != nil {
		return DispatchResult{}, err
	}
	// Poll the records gently: on FerretDB (SQLite) reads compete with the master's writes.
	poll := 10 * time.Millisecond
	if _, mem := st.(*status.Memory); !mem {
		poll = 100 * time.Millisecond
	}
	start := time.Now()
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		return DispatchResult{}, err
	}
	for {
		p, err := st.Plan(ctx, id)
		if err == nil && p.Status.Terminal() {
			if p.Status != plan.Succeeded {
				return DispatchResult{}, fmt.Errorf("dispatch plan %s: %s: %s", id, p.Status, p.Note)
			}
			return DispatchResult{Tasks: n, Agents: agents, Elapsed: time.Since(start)}, nil
		}
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			return DispatchResult{}, err
		}
		select {
		case <-ctx.Done():
			return DispatchResult{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// FailureDetection measures, trials times, the time from kill -9 of an agent process
// holding a task to the start of that task's next attempt on another agent. The
// executable must call AgentMain. Nothing else may consume the master stream.
func FailureDetection(ctx context.Context, natsURL string, ackWait time.Duration, trials int) ([]time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	_, js, err := queue.Connect(ctx, natsURL, "bench", quiet)
	if err != nil {
		return nil, err
	}
	if err := queue.Setup(ctx, js); err != nil {
		return nil, err
	}
	events, err := js.Consumer(ctx, queue.MasterStream, queue.MasterConsumer)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	planID := randomName("fd") // task and event ids must be new to the streams' de-duplication
	for i := range trials {
		q := randomName("fd")
		victim := exec.Command(exe, "-test.run=^$")
		victim.Env = append(os.Environ(), "TL_BENCH_ROLE=agent", "TL_NATS_URL="+natsURL, "TL_QUEUES="+q,
			"TL_ACK_WAIT="+ackWait.String(), "TL_AGENT_ID=victim", "TL_LOG_LEVEL=error")
		if err := victim.Start(); err != nil {
			return nil, err
		}
		t := &task.Task{Plan: planID, ID: fmt.Sprintf("t%d", i), Kind: "hold", Queue: q, MaxAttempts: 3, Dispatch: 1}
		if _, err := queue.PublishTask(ctx, js, t); err != nil {
			_ = victim.Process.Kill()
			return nil, err
		}
		if _, err := waitStarted(ctx, events, t.ID, 1); err != nil {
			_ = victim.Process.Kill()
			return nil, fmt.Errorf("victim never started the task: %w", err)
		}
		// The rescuer is up and waiting before the kill, as a spare agent would be.
		stop, err := startAgents(ctx, natsURL, q, 1, ackWait, Registry())
		if err != nil {
			_ = victim.Process.Kill()
			return nil, err
		}
		time.Sleep(200 * time.Millisecond)
		killed := time.Now()
		_ = victim.Process.Kill()
		_ = victim.Wait()
		e, err := waitStarted(ctx, events, t.ID, 2)
		stop()
		if err != nil {
			return nil, fmt.Errorf("task not redelivered: %w", err)
		}
		out = append(out, e.Time.Sub(killed))
	}
	return out, nil
}

// waitStarted reads events until task id's attempt starts, acking all.
func waitStarted(ctx context.Context, c jetstream.Consumer, id string, attempt int) (*task.Event, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		msg, err := c.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		_ = msg.Ack()
		e, err := task.DecodeEvent(msg.Data())
		if err == nil && e.Type == task.Started && e.Task == id && e.Attempt == attempt {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no start of %s attempt %d within 2 minutes", id, attempt)
}

// Fig2Config sets the Figure 2 experiment.
type Fig2Config struct {
	PlayTime  time.Duration // one play task: generating one batch of samples
	TrainTime time.Duration // one training step on one batch
	BatchSize int           // samples per batch
	Features  int           // float32 values per sample
	Warmup    time.Duration // not counted
	Window    time.Duration // counted
}

// DefaultFig2 is the configuration used for docs/BENCHMARKS.md.
var DefaultFig2 = Fig2Config{PlayTime: 50 * time.Millisecond, TrainTime: 10 * time.Millisecond, BatchSize: 64, Features: 128, Warmup: time.Second, Window: 5 * time.Second}

// Fig2Point is the trainer's throughput with a number of agents.
type Fig2Point struct {
	Agents         int
	BatchesPerSec  float64
	SamplesPerSec  float64
	TrainerBusyPct float64
}

// Figure2 measures trainer throughput with each number of agents.
func Figure2(ctx context.Context, natsURL string, counts []int, cfg Fig2Config) ([]Fig2Point, error) {
	var out []Fig2Point
	for _, n := range counts {
		p, err := figure2Point(ctx, natsURL, n, cfg)
		if err != nil {
			return out, fmt.Errorf("%d agents: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func figure2Point(ctx context.Context, natsURL string, agents int, cfg Fig2Config) (Fig2Point, error) {
	nc, js, err := queue.Connect(ctx, natsURL, "bench-fig2", quiet)
	if err != nil {
		return Fig2Point{}, err
	}
	defer nc.Close()
	q := randomName("play")
	stream := strings.ToUpper(randomName("SAMPLES_"))
	subject := "tl.samples." + q
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
	}); err != nil {
		return Fig2Point{}, err
	}
	defer js.DeleteStream(context.WithoutCancel(ctx), stream)

	batch := make([]byte, cfg.BatchSize*cfg.Features*4)
	reg := task.NewRegistry()
	reg.MustRegister("play", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		select { // the game: an environment that answers at its own pace
		case <-time.After(cfg.PlayTime):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if _, err := js.Publish(ctx, subject, batch); err != nil {
			return nil, err
		}
		return nil, nil
	})
	stopAgents, err := startAgents(ctx, natsURL, q, agents, 0, reg)
	if err != nil {
		return Fig2Point{}, err
	}
	defer stopAgents()

	// The feeder keeps the play queue ahead of the agents.
	fctx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	go func() {
		for i := 0; fctx.Err() == nil; i++ {
			ci, err := js.Stream(fctx, queue.TasksStream)
			if err == nil {
				if info, err := ci.Info(fctx, jetstream.WithSubjectFilter(queue.TaskSubject(q))); err == nil && info.State.Msgs > uint64(4*agents) {
					time.Sleep(5 * time.Millisecond)
					continue
				}
			}
			t := &task.Task{Plan: q, ID: fmt.Sprintf("play%d", i), Kind: "play", Queue: q, MaxAttempts: 1, Dispatch: 1}
			_, _ = queue.PublishTask(fctx, js, t)
		}
	}()

	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "trainer", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return Fig2Point{}, err
	}
	var trained atomic.Int64
	var busy atomic.Int64
	tctx, stopTrainer := context.WithCancel(ctx)
	tdone := make(chan struct{})
	go func() {
		defer close(tdone)
		for tctx.Err() == nil {
			msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
			if err != nil {
				continue
			}
			t0 := time.Now()
			time.Sleep(cfg.TrainTime) // one step on the batch
			_ = msg.Ack()
			busy.Add(int64(time.Since(t0)))
			trained.Add(1)
		}
	}()
	time.Sleep(cfg.Warmup)
	n0, b0, t0 := trained.Load(), busy.Load(), time.Now()
	time.Sleep(cfg.Window)
	n1, b1, el := trained.Load(), busy.Load(), time.Since(t0)
	stopTrainer()
	<-tdone
	bps := float64(n1-n0) / el.Seconds()
	return Fig2Point{
		Agents: agents, BatchesPerSec: bps, SamplesPerSec: bps * float64(cfg.BatchSize),
		TrainerBusyPct: 100 * float64(b1-b0) / float64(el),
	}, nil
}
