package task_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/task"
)

// Decode never panics; what it accepts is valid and encodes to a message that
// decodes to the same task; what it rejects wraps ErrMalformed.
func FuzzDecode(f *testing.F) {
	full := valid()
	full.Params = json.RawMessage(`{"epochs": 3, "layers": [32, 64]}`)
	full.Upstream = map[string]json.RawMessage{"cnn": json.RawMessage(`{"model":"cnn","version":2}`)}
	full.Timeout = task.Duration(90 * time.Second)
	full.AttemptBase = 2
	full.Token = "Zm9yZ2VkLW9yLW5vdA"
	for _, tk := range []*task.Task{valid(), full} {
		b, err := tk.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1,"timeout":"-1s"}`))
	f.Add([]byte(`{"v":1,"plan":"p","id":"a","kind":"k","queue":"cpu","max_attempts":1,"dispatch":1} {}`))
	f.Add([]byte(`{"v":1,"params":null,"upstream":{"a":null}}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := task.Decode(data)
		if err != nil {
			if !errors.Is(err, task.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := tk.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid task: %v", err)
		}
		enc, err := tk.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded task: %v", err)
		}
		again, err := task.Decode(enc)
		if err != nil {
			t.Fatalf("Decode of an encoded task: %v\n%s", err, enc)
		}
		enc2, err := again.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
		// The raw JSON fields are compacted by Encode; the rest is equal.
		a, b := *tk, *again
		a.Params, b.Params, a.Upstream, b.Upstream = nil, nil, nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the task:\n%+v\n%+v", a, b)
		}
		if len(tk.Upstream) != len(again.Upstream) || (len(tk.Params) == 0) != (len(again.Params) == 0) {
			t.Fatalf("round trip changed params or upstream: %s vs %s", data, enc)
		}
	})
}

// DecodeEvent never panics; what it accepts encodes to a message that decodes
// to the same event; what it rejects wraps ErrMalformed.
func FuzzDecodeEvent(f *testing.F) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, e := range []*task.Event{
		{Type: task.Started, Plan: "p", Task: "a", Dispatch: 1, Attempt: 1, Agent: "host-1", Time: when},
		{Type: task.Succeeded, Plan: "p", Task: "a", Dispatch: 1, Attempt: 2, Agent: "host-1", Time: when, Output: json.RawMessage(`{"model":"cnn","version":3}`), Token: "Zm9yZ2VkLW9yLW5vdA"},
		{Type: task.Failed, Plan: "p", Task: "a", Dispatch: 2, Attempt: 3, Agent: "h", Time: when.In(time.FixedZone("x", 3600)), Error: "boom"},
		{Type: task.Rejected, Agent: "h", Time: when, Subject: "tasks.cpu", Seq: 42, Error: "malformed"},
	} {
		b, err := e.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"type":"started","plan":"p","task":"a","agent":"h","time":"2026-01-02T03:04:05+23:59"}`))
	f.Add([]byte(`{"v":1,"type":"nope"}`))
	f.Add([]byte(`{"v":1,"type":"started","plan":"p","task":"a","agent":"h","time":"2026-01-02T03:04:05Z","token":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := task.DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, task.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		_ = e.MsgID()
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		again, err := task.DecodeEvent(enc)
		if err != nil {
			t.Fatalf("DecodeEvent of an encoded event: %v\n%s", err, enc)
		}
		if !again.Time.Equal(e.Time) || again.MsgID() != e.MsgID() {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, again)
		}
		a, b := *e, *again
		a.Output, b.Output, a.Time, b.Time = nil, nil, time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", a, b)
		}
	})
}
