package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

// rig is one master and its agents on a queue of their own.
type rig struct {
	st    status.Store
	q     string
	js    jetstream.JetStream
	close func()
}

func newRig(ctx context.Context, natsURL string, st status.Store, agents int) (*rig, error) {
	q := randomName("bench")
	m, err := master.New(ctx, master.Config{NATSURL: natsURL, Store: st, Log: quiet, Tick: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	mctx, stopMaster := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { defer close(mdone); _ = m.Run(mctx) }()
	stopAgents, err := startAgents(ctx, natsURL, q, agents, 0, Registry())
	if err != nil {
		stopMaster()
		<-mdone
		return nil, err
	}
	nc, js, err := queue.Connect(ctx, natsURL, "bench", quiet)
	if err != nil {
		stopAgents()
		stopMaster()
		<-mdone
		return nil, err
	}
	return &rig{st: st, q: q, js: js, close: func() { nc.Close(); stopAgents(); stopMaster(); <-mdone }}, nil
}

func (r *rig) noops(name string, n int) *plan.Spec {
	spec := &plan.Spec{Name: name}
	for i := range n {
		spec.Tasks = append(spec.Tasks, plan.TaskSpec{ID: fmt.Sprintf("t%d", i), Kind: "noop", Queue: r.q})
	}
	return spec
}

// wait polls plan id's record until it is finished; it must succeed.
func (r *rig) wait(ctx context.Context, id string, poll time.Duration) error {
	for {
		p, err := r.st.Plan(ctx, id)
		if err == nil && p.Status.Terminal() {
			if p.Status != plan.Succeeded {
				return fmt.Errorf("plan %s: %s: %s", id, p.Status, p.Note)
			}
			return nil
		}
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// poll is how often to read a plan's record: gently on FerretDB (SQLite), where
// reads compete with the master's writes, and a big plan's record (which
// holds the plan) seldom.
func (r *rig) poll(big bool) time.Duration {
	_, mem := r.st.(*status.Memory)
	switch {
	case big:
		return time.Second
	case mem:
		return 10 * time.Millisecond
	}
	return 50 * time.Millisecond
}

// Repeat runs plans plans of n no-op tasks one after the other through one
// master (recording in st) and agents in-process agents, and returns each
// plan's measurement: whether throughput stays flat as history grows.
func Repeat(ctx context.Context, natsURL string, st status.Store, agents, n, plans int) ([]DispatchResult, error) {
	r, err := newRig(ctx, natsURL, st, agents)
	if err != nil {
		return nil, err
	}
	defer r.close()
	var out []DispatchResult
	for i := range plans {
		start := time.Now()
		id, err := master.Submit(ctx, r.js, r.noops("repeat", n))
		if err == nil {
			err = r.wait(ctx, id, r.poll(false))
		}
		if err != nil {
			return out, fmt.Errorf("plan %d of %d: %w", i+1, plans, err)
		}
		out = append(out, DispatchResult{Tasks: n, Agents: agents, Elapsed: time.Since(start)})
	}
	return out, nil
}

// BigResult is a big plan submitted beside a small one.
type BigResult struct {
	BigTasks, SmallTasks int
	// Accept is from the big plan's submission to the master's verdict.
	Accept time.Duration
	// SmallAlone and SmallBeside are the small plan's time from submission to
	// its end, alone and submitted right after the big plan, on the same queue.
	SmallAlone, SmallBeside time.Duration
	// Big is the big plan's time from submission to its end.
	Big time.Duration
}

// BigBeside submits a small plan of small no-op tasks alone, then a plan of
// big no-op tasks and the small plan again right after it, on the same queue
// and agents, and measures the big plan's acceptance and the small plan's time
// both ways.
func BigBeside(ctx context.Context, natsURL string, st status.Store, agents, big, small int) (BigResult, error) {
	res := BigResult{BigTasks: big, SmallTasks: small}
	r, err := newRig(ctx, natsURL, st, agents)
	if err != nil {
		return res, err
	}
	defer r.close()
	start := time.Now()
	id, err := master.Submit(ctx, r.js, r.noops("small", small))
	if err == nil {
		err = r.wait(ctx, id, r.poll(false))
	}
	if err != nil {
		return res, err
	}
	res.SmallAlone = time.Since(start)

	start = time.Now()
	bigID, v, err := master.SubmitChecked(ctx, r.js, r.noops("big", big), 5*time.Minute)
	if err == nil && v == nil {
		err = errors.New("no verdict on the big plan within 5 minutes")
	}
	if err != nil {
		return res, err
	}
	res.Accept = time.Since(start)
	smallStart := time.Now()
	id, err = master.Submit(ctx, r.js, r.noops("small", small))
	if err == nil {
		err = r.wait(ctx, id, r.poll(false))
	}
	if err != nil {
		return res, err
	}
	res.SmallBeside = time.Since(smallStart)
	if err := r.wait(ctx, bigID, r.poll(true)); err != nil {
		return res, err
	}
	res.Big = time.Since(start)
	return res, nil
}
