package task_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
)

type baseParams struct {
	Seed uint64 `json:"seed"`
}

type trainParams struct {
	baseParams
	Epochs  int             `json:"epochs"`
	LR      float64         `json:"lr,omitempty"`
	Arch    json.RawMessage `json:"architecture"`
	NoTag   string
	Skipped int `json:"-"`
	hidden  int
}

func nop(context.Context, *task.Run) (json.RawMessage, error) { return nil, nil }

func TestParamFields(t *testing.T) {
	got, err := task.ParamFields(&trainParams{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NoTag", "architecture", "epochs", "lr", "seed"}
	if !slices.Equal(got, want) {
		t.Fatalf("ParamFields = %v, want %v", got, want)
	}
	if _, err := task.ParamFields(map[string]any{}); err == nil || !strings.Contains(err.Error(), "not a struct") {
		t.Fatalf("a map: %v, want 'not a struct'", err)
	}
	if _, err := task.ParamFields(nil); err == nil {
		t.Fatal("nil: no error")
	}
}

func TestRegisterWithParamsSpecs(t *testing.T) {
	r := task.NewRegistry()
	if err := r.RegisterWithParams("train", nop, trainParams{}); err != nil {
		t.Fatal(err)
	}
	r.MustRegister("noop", nop)
	if err := r.RegisterWithParams("bad", nop, 3); err == nil || !strings.Contains(err.Error(), `register "bad"`) {
		t.Fatalf("int params type: %v", err)
	}
	if slices.Contains(r.Kinds(), "bad") {
		t.Fatal("a kind whose params type was refused is registered")
	}
	if err := r.RegisterWithParams("train", nop, trainParams{}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate: %v", err)
	}
	specs := r.Specs()
	if len(specs) != 2 || specs[0].Kind != "noop" || specs[0].Typed || specs[1].Kind != "train" || !specs[1].Typed {
		t.Fatalf("Specs = %+v", specs)
	}
	train := specs[1]
	if err := train.CheckParams(map[string]any{"epochs": 3, "seed": 1}); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	err := train.CheckParams(map[string]any{"epoch": 3, "rate": 1, "seed": 2})
	if err == nil {
		t.Fatal("unknown fields accepted")
	}
	for _, want := range []string{`unknown fields "epoch", "rate"`, "kind train", "NoTag, architecture, epochs, lr, seed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := specs[0].CheckParams(map[string]any{"anything": 1}); err != nil {
		t.Fatalf("an untyped kind refused params: %v", err)
	}
}

func TestRunParamsListsFields(t *testing.T) {
	run := &task.Run{Task: &task.Task{Plan: "p", ID: "t", Kind: "train", Params: json.RawMessage(`{"epoch":3}`)}}
	var p trainParams
	err := run.Params(&p)
	if !task.IsPermanent(err) {
		t.Fatalf("unknown field: %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "epoch") || !strings.Contains(err.Error(), "kind train takes NoTag, architecture, epochs, lr, seed") {
		t.Fatalf("error %q does not list the valid fields", err)
	}
}
