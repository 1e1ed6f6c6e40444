package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
)

// The whole workflow in one process: an embedded NATS server, a master over an
// in-memory status store, and one agent that can run the kind "greet".
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)

	dir, _ := os.MkdirTemp("", "tl-example")
	defer os.RemoveAll(dir)
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	records := status.NewMemory()
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Store: records, Log: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	go m.Run(ctx)

	reg := task.NewRegistry()
	reg.MustRegister("greet", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		var p struct{ Name string }
		if err := run.Params(&p); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"greeting": "hello, " + p.Name})
	})
	a, err := agent.New(ctx, agent.Config{NATSURL: srv.URL(), Registry: reg, ID: "example", Log: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	go a.Run(ctx)

	spec, _ := plan.Parse([]byte("name: hello\ntasks: [{id: hi, kind: greet, params: {name: world}}]\n"), "hello.yaml")
	_, js, _ := queue.Connect(ctx, srv.URL(), "example", quiet)
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 600 {
		if p, err := records.Plan(ctx, id); err == nil && p.Status.Terminal() {
			ts, _ := records.Tasks(ctx, id)
			fmt.Println(p.Status, ts[0].ID, ts[0].Output, "by", ts[0].Agent)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("timed out")
	// Output: succeeded hi {"greeting":"hello, world"} by example
}
