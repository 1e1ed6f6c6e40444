package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
)

func valid() *task.Task {
	return &task.Task{Plan: "p-1", ID: "cnn", Kind: "train", Queue: "cuda", Input: "images", Model: "cnn", Output: "features", MaxAttempts: 3, Dispatch: 1}
}

func TestRoundTrip(t *testing.T) {
	in := valid()
	in.Params = json.RawMessage(`{"epochs":3}`)
	data, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := task.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if out.Key() != "p-1/cnn" || out.MsgID() != "p-1/cnn/d1" || string(out.Params) != `{"epochs":3}` || out.Output != "features" {
		t.Fatalf("round trip lost data: %+v", out)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []struct {
		name, data, want string
	}{
		{"not json", `garbage`, "invalid character"},
		{"unknown field", `{"v":1,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1,"script":"rm -rf /"}`, `unknown field "script"`},
		{"no kind", `{"v":1,"plan":"p","id":"a","queue":"cpu","max_attempts":1,"dispatch":1}`, "field kind"},
		{"bad id", `{"v":1,"plan":"p","id":"a.b","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1}`, "field id"},
		{"no attempts", `{"v":1,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":0,"dispatch":1}`, "field max_attempts"},
		{"old version", `{"v":7,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1}`, "version 7"},
		{"trailing", `{"v":1,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1} {}`, "trailing data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := task.Decode([]byte(c.data))
			if !errors.Is(err, task.ErrMalformed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode(%s) = %v; want ErrMalformed mentioning %q", c.data, err, c.want)
			}
		})
	}
}

func TestEncodeValidates(t *testing.T) {
	bad := valid()
	bad.Queue = "cu da"
	if _, err := bad.Encode(); err == nil || !strings.Contains(err.Error(), "field queue") {
		t.Fatalf("Encode with a bad queue = %v; want an error about field queue", err)
	}
}

func TestEventRoundTrip(t *testing.T) {
	e := &task.Event{Type: task.Succeeded, Plan: "p", Task: "a", Dispatch: 1, Attempt: 2, Agent: "x", Output: json.RawMessage(`{"n":1}`)}
	data, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := task.DecodeEvent(data)
	if err != nil || got.MsgID() != "p/a/d1/a2/succeeded" || string(got.Output) != `{"n":1}` {
		t.Fatalf("DecodeEvent = %+v, %v", got, err)
	}
	if _, err := task.DecodeEvent([]byte(`{"v":1,"type":"exploded","plan":"p","task":"a"}`)); !errors.Is(err, task.ErrMalformed) {
		t.Fatalf("unknown event type: got %v, want ErrMalformed", err)
	}
}

func TestRegistry(t *testing.T) {
	r := task.NewRegistry()
	f := func(context.Context, *task.Run) (json.RawMessage, error) { return nil, nil }
	if err := r.Register("train", f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("train", f); err == nil {
		t.Fatal("duplicate Register succeeded")
	}
	if err := r.Register("bad kind", f); err == nil {
		t.Fatal("Register with a space in the name succeeded")
	}
	if err := r.Register("nil", nil); err == nil {
		t.Fatal("Register(nil) succeeded")
	}
	_, err := r.Lookup("python")
	if !errors.Is(err, task.ErrUnknownKind) || !task.IsPermanent(err) || !strings.Contains(err.Error(), "[train]") {
		t.Fatalf("Lookup(python) = %v; want a permanent ErrUnknownKind listing [train]", err)
	}
}

func TestRunParams(t *testing.T) {
	run := &task.Run{Task: &task.Task{Plan: "p", ID: "a", Kind: "k", Params: json.RawMessage(`{"epochs":2,"lr":0.1}`)}}
	var p struct{ Epochs int }
	err := run.Params(&p)
	if err == nil || !task.IsPermanent(err) || !strings.Contains(err.Error(), `"lr"`) {
		t.Fatalf("Params with an unexpected field = %v; want a permanent error naming lr", err)
	}
}
