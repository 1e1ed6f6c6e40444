package master_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

// A controller runs while the master leads, is restarted after an error, is
// stopped with the master, and a plan it submits twice under one id runs once.
func TestControllersRunWhileLeading(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	var runs, stopped atomic.Int32
	st := status.NewMemory()
	submitted := make(chan string, 1)
	ctrl := master.Controller{Name: "test", Run: func(ctx context.Context) error {
		if runs.Add(1) == 1 {
			return errors.New("first run fails") // restarted after a pause
		}
		nc, js, err := queue.Connect(ctx, srv.URL(), "ctrl", nil)
		if err != nil {
			return err
		}
		defer nc.Close()
		spec := &plan.Spec{Name: "ctl", Tasks: []plan.TaskSpec{{ID: "a", Kind: "noop"}}}
		for range 2 { // a repeat after a crash: same id
			id, err := master.SubmitAs(ctx, js, "ctl-decision-1", spec)
			if err != nil {
				return err
			}
			select {
			case submitted <- id:
			default:
			}
		}
		<-ctx.Done()
		stopped.Add(1)
		return ctx.Err()
	}}
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Store: st, Tick: 100 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler), Controllers: []master.Controller{ctrl}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	select {
	case id := <-submitted:
		if id != "ctl-decision-1" {
			t.Fatalf("SubmitAs returned id %q", id)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the controller did not run again after its error (runs %d)", runs.Load())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		plans, err := st.Plans(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(plans) == 1 && plans[0].ID == "ctl-decision-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plans after two submits of one id: %+v", plans)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the repeat has reached the master by now
	if plans, _ := st.Plans(ctx, false); len(plans) != 1 {
		t.Fatalf("a repeated id made %d plans", len(plans))
	}
	cancel()
	<-done
	if stopped.Load() != 1 {
		t.Fatalf("the controller was not stopped with the master (stopped %d)", stopped.Load())
	}
}
