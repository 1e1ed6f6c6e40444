package builtin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/task"
)

func TestBuiltins(t *testing.T) {
	r := task.NewRegistry()
	if err := builtin.Register(r); err != nil {
		t.Fatal(err)
	}
	run := func(kind, params string) (json.RawMessage, error) {
		f, err := r.Lookup(kind)
		if err != nil {
			t.Fatal(err)
		}
		return f(context.Background(), &task.Run{Task: &task.Task{Plan: "p", ID: "t", Kind: kind, Params: json.RawMessage(params)}})
	}
	if out, err := run("noop", `{"a":1}`); err != nil || string(out) != `{"a":1}` {
		t.Errorf("noop = %s, %v", out, err)
	}
	start := time.Now()
	if _, err := run("sleep", `{"duration":"50ms"}`); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Errorf("sleep returned after %v, err %v", time.Since(start), err)
	}
	if _, err := run("sleep", `{"duration":5}`); err == nil || !task.IsPermanent(err) {
		t.Errorf("sleep with a number: %v; want a permanent params error", err)
	}
	if _, err := run("fail", `{"message":"boom"}`); err == nil || err.Error() != "boom" {
		t.Errorf("fail = %v; want boom", err)
	}
	if err := builtin.Register(r); err == nil {
		t.Error("registering the built-ins twice succeeded")
	}
	// What agents announce: sleep and fail with their fields, noop untyped.
	got := fmt.Sprint(r.Specs())
	if want := "[{fail true [message]} {noop false []} {sleep true [duration]}]"; got != want {
		t.Errorf("Specs = %s, want %s", got, want)
	}
}
