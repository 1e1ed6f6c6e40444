package task_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tlgo/tl/agents/task"
)

// An agent binary registers the functions it can run; nothing else can run.
func ExampleRegistry() {
	reg := task.NewRegistry()
	reg.MustRegister("evaluate", func(ctx context.Context, run *task.Run) (json.RawMessage, error) {
		var p struct {
			Split string `json:"split"`
		}
		if err := run.Params(&p); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"model": run.Task.Model, "split": p.Split, "accuracy": 0.91})
	})

	t := &task.Task{Plan: "demo", ID: "eval", Kind: "evaluate", Model: "cnn", Params: json.RawMessage(`{"split":"test"}`)}
	f, _ := reg.Lookup(t.Kind)
	out, _ := f(context.Background(), &task.Run{Task: t, Attempt: 1})
	fmt.Println(string(out))

	_, err := reg.Lookup("exec_python")
	fmt.Println(err)
	// Output:
	// {"accuracy":0.91,"model":"cnn","split":"test"}
	// unknown task kind "exec_python": this agent has [evaluate]
}
