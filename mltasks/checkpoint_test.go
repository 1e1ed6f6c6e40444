package mltasks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
)

// plainArch is an MLP without dropout: its training replays bitwise.
func plainArch(g *graph.Graph, in ArchInput) (*layers.Layer, error) {
	x := layers.Input(g, "image", append([]int{-1}, in.Shape...)...)
	h := layers.Flatten(x, "flatten")
	h = layers.Dense(h, "fc1", 32, layers.ReLU)
	net := layers.Dense(h, "logits", in.Classes)
	return net, net.Err()
}

// resumeParams: 600 samples in batches of 32 are 19 steps an epoch (the last
// one of 24); a checkpoint every 7 steps and at the ends of epochs.
const resumeParams = `{"arch":"plain","epochs":3,"batch":32,"lr":0.003,"seed":3,"checkpoint_every":7,"checkpoint_minutes":0}`

type trainOut struct {
	Model           string
	Version         int64
	Run             string
	Steps           int
	Accuracy        float64
	ResumedFromStep *int `json:"resumed_from_step"`
}

func runTrain(ctx context.Context, t *testing.T, k *Kinds, db *store.DB, id, model, params string, log *bytes.Buffer) (trainOut, error) {
	t.Helper()
	run := &task.Run{Task: &task.Task{Plan: "p", ID: id, Kind: "train", Input: "train", Model: model, Params: json.RawMessage(params)},
		Attempt: 1, Services: db, Log: slog.New(slog.NewTextHandler(log, nil))}
	raw, err := k.train(ctx, run)
	var out trainOut
	if err == nil {
		if jerr := json.Unmarshal(raw, &out); jerr != nil {
			t.Fatalf("output %s: %v", raw, jerr)
		}
	}
	return out, err
}

// trainStore is a store with 600 band images (the dataset train), and its
// model store.
func trainStore(t *testing.T) (context.Context, *store.DB, *models.Store) {
	t.Helper()
	ctx := storetest.Context(t)
	db := storetest.Backends()[0].Open(t)
	testworld.Bands(t, db, "train", "train", 600, 1)
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, db, ms
}

// errKilled is the error of a train task killedAt stopped.
var errKilled = errors.New("killed")

// killedAt is ctx for a train task that stops with errKilled right after its
// first checkpoint at step or later, as a kill -9 there would leave it; saves,
// when not nil, collects the steps of the checkpoints.
func killedAt(ctx context.Context, step int, saves *[]int) context.Context {
	return context.WithValue(ctx, afterCheckpointKey{}, func(s int) error {
		if saves != nil {
			*saves = append(*saves, s)
		}
		if s >= step {
			return errKilled
		}
		return nil
	})
}

func loadWeights(t *testing.T, ms *models.Store, name string) []byte {
	t.Helper()
	l, err := ms.Load(storetest.Context(t), models.Ref{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return l.Weights
}

// A train task killed right after a checkpoint in the middle of an epoch,
// then run again, resumes at that checkpoint's step and ends with the same
// steps in all and bitwise the same weights as a run never interrupted (the
// data order and every variable replayed; the network has no dropout). A
// third run of the task returns the version saved, saving no other.
func TestTrainResumesFromItsCheckpoint(t *testing.T) {
	ctx, db, ms := trainStore(t)
	k := New(Options{CacheDir: t.TempDir(), Archs: map[string]Builder{"plain": plainArch}})
	var log bytes.Buffer
	straight, err := runTrain(ctx, t, k, db, "straight", "straight", resumeParams, &log)
	if err != nil {
		t.Fatal(err)
	}
	if straight.ResumedFromStep != nil || straight.Steps != 57 {
		t.Fatalf("uninterrupted run: %+v; want 57 steps, not resumed", straight)
	}
	if _, err := ms.GetCheckpoint(ctx, "p/straight"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("checkpoint of a finished task: %v, want none", err)
	}

	var saves []int
	kctx := killedAt(ctx, 14, &saves)
	if _, err := runTrain(kctx, t, k, db, "resumed", "resumed", resumeParams, &log); !errors.Is(err, errKilled) {
		t.Fatalf("interrupted run: %v, want it killed after the checkpoint of step 14", err)
	}
	ck, err := ms.GetCheckpoint(ctx, "p/resumed")
	if err != nil || ck.Step != 14 || ck.Epoch != 0 || ck.Batch != 14 || ck.Run == "" || ck.Values["loss"] == 0 {
		t.Fatalf("checkpoint %+v, %v (saves at %v); want step 14 = epoch 0, batch 14, with its run and running loss", ck, err, saves)
	}

	log.Reset()
	resumed, err := runTrain(ctx, t, k, db, "resumed", "resumed", resumeParams, &log)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedFromStep == nil || *resumed.ResumedFromStep != 14 || resumed.Steps != 57 || resumed.Run != ck.Run {
		t.Fatalf("resumed run: %+v; want resumed from step 14, 57 steps in all, run %s", resumed, ck.Run)
	}
	if !strings.Contains(log.String(), "resuming from checkpoint at step 14 (epoch 1, batch 14)") {
		t.Errorf("the log does not say where it resumed:\n%s", log.String())
	}
	if !bytes.Equal(loadWeights(t, ms, "resumed"), loadWeights(t, ms, "straight")) {
		t.Error("the resumed run's weights differ from the uninterrupted run's")
	}
	if resumed.Accuracy != straight.Accuracy {
		t.Errorf("accuracy resumed %v, uninterrupted %v; want equal (the last epoch is whole in both)", resumed.Accuracy, straight.Accuracy)
	}
	if _, err := ms.GetCheckpoint(ctx, "p/resumed"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("checkpoint after the version was saved: %v, want none", err)
	}

	// The attempt that saved died before reporting: the next returns its version.
	again, err := runTrain(ctx, t, k, db, "resumed", "resumed", resumeParams, &log)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != resumed.Version {
		t.Errorf("a repeat of the task returned v%d, want the v%d it saved", again.Version, resumed.Version)
	}
	if vs, err := ms.List(ctx, "resumed"); err != nil || len(vs) != 1 {
		t.Errorf("versions of the model: %d, %v; want exactly one", len(vs), err)
	}
}

// A checkpoint that cannot be used (bytes that are not the network's state,
// or made with other params) is a warning naming the task: the task starts
// over from step 0, succeeds, and removes it.
func TestTrainStartsOverFromAnUnusableCheckpoint(t *testing.T) {
	ctx, db, ms := trainStore(t)
	k := New(Options{CacheDir: t.TempDir(), Archs: map[string]Builder{"plain": plainArch}})
	// The meta of a checkpoint these params would make.
	j, err := k.prepareTrain(ctx, &task.Run{Task: &task.Task{Plan: "p", ID: "x", Kind: "train", Input: "train", Model: "x", Params: json.RawMessage(resumeParams)}, Services: db})
	if err != nil {
		t.Fatal(err)
	}
	fit, err := newCheckpointer(ms, j.run, nil, 0, 0, j.p.Seed, j.p)
	j.close()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, why string
		meta    map[string]string
	}{
		{"garbage", "does not fit the network", fit.meta},
		{"other", "other params", map[string]string{"seed": "99", "params_sha256": "00"}},
	} {
		if _, err := ms.SaveCheckpoint(ctx, models.Checkpoint{Task: "p/" + c.id, Step: 20, Epoch: 1, Batch: 1, Meta: c.meta},
			bytes.NewReader([]byte("not safetensors"))); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		out, err := runTrain(ctx, t, k, db, c.id, "m-"+c.id, resumeParams, &log)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if out.ResumedFromStep != nil || out.Steps != 57 {
			t.Errorf("%s: %+v; want a run from step 0 (57 steps), not resumed", c.id, out)
		}
		if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "p/"+c.id) || !strings.Contains(l, c.why) {
			t.Errorf("%s: the log does not warn, naming the task and %q:\n%s", c.id, c.why, l)
		}
		if _, err := ms.GetCheckpoint(ctx, "p/"+c.id); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("%s: the unusable checkpoint is still there: %v", c.id, err)
		}
	}
}

func TestCheckpointParams(t *testing.T) {
	tk := &task.Task{ID: "t"}
	neg := -1.0
	if _, _, err := checkpointPolicy(tk, -1, nil); err == nil || !task.IsPermanent(err) {
		t.Errorf("checkpoint_every -1: %v, want a permanent error", err)
	}
	if _, _, err := checkpointPolicy(tk, 0, &neg); err == nil {
		t.Error("checkpoint_minutes -1: no error")
	}
	if every, period, err := checkpointPolicy(tk, 0, nil); err != nil || every != 0 || period.Minutes() != DefaultCheckpointMinutes {
		t.Errorf("defaults: every %d, period %v, %v; want 0 and %v minutes", every, period, err, DefaultCheckpointMinutes)
	}
}

// On the GPU queue (the emulator without a GPU) the checkpoint pulls the
// variables from the device in the middle of an epoch, and the resumed task
// pushes the checkpoint's to the device before its first step: the result
// is the uninterrupted device run's.
func TestTrainResumesOnTheGPUQueue(t *testing.T) {
	dev := cudatest.Open(t)
	ctx, db, ms := trainStore(t)
	k := New(Options{CacheDir: t.TempDir(), Archs: map[string]Builder{"plain": plainArch}, OpenDevice: func() (graph.Device, error) { return dev, nil }})
	gpu := func(ctx context.Context, id, model string) (trainOut, error) {
		var log bytes.Buffer
		run := &task.Run{Task: &task.Task{Plan: "p", ID: id, Kind: "train", Queue: GPUQueue, Input: "train", Model: model, Params: json.RawMessage(resumeParams)},
			Attempt: 1, Services: db, Log: slog.New(slog.NewTextHandler(&log, nil))}
		raw, err := k.train(ctx, run)
		var out trainOut
		if err == nil {
			err = json.Unmarshal(raw, &out)
		}
		return out, err
	}
	if _, err := gpu(ctx, "straight", "straight"); err != nil {
		t.Fatal(err)
	}
	kctx := killedAt(ctx, 14, nil)
	if _, err := gpu(kctx, "resumed", "resumed"); !errors.Is(err, errKilled) {
		t.Fatalf("interrupted run: %v", err)
	}
	out, err := gpu(ctx, "resumed", "resumed")
	if err != nil {
		t.Fatal(err)
	}
	if out.ResumedFromStep == nil || *out.ResumedFromStep != 14 || out.Steps != 57 {
		t.Fatalf("resumed run on %s: %+v; want resumed from step 14, 57 steps", dev.Name(), out)
	}
	if !bytes.Equal(loadWeights(t, ms, "resumed"), loadWeights(t, ms, "straight")) {
		t.Errorf("on %s the resumed run's weights differ from the uninterrupted run's", dev.Name())
	}
}

// The built-in mlp has dropout: the loop numbers dropout's masks by the
// global step (graph.Options.Step), so a run resumed mid-epoch draws the masks
// the uninterrupted run drew, and ends with bitwise the same weights.
func TestTrainWithDropoutResumesBitwise(t *testing.T) {
	ctx, db, ms := trainStore(t)
	k := New(Options{CacheDir: t.TempDir()})
	params := strings.Replace(resumeParams, `"plain"`, `"mlp"`, 1)
	var log bytes.Buffer
	if _, err := runTrain(ctx, t, k, db, "straight", "straight", params, &log); err != nil {
		t.Fatal(err)
	}
	kctx := killedAt(ctx, 14, nil)
	if _, err := runTrain(kctx, t, k, db, "resumed", "resumed", params, &log); !errors.Is(err, errKilled) {
		t.Fatalf("interrupted run: %v", err)
	}
	out, err := runTrain(ctx, t, k, db, "resumed", "resumed", params, &log)
	if err != nil {
		t.Fatal(err)
	}
	if out.ResumedFromStep == nil || *out.ResumedFromStep != 14 || out.Steps != 57 {
		t.Fatalf("resumed run: %+v; want resumed from step 14, 57 steps", out)
	}
	if !bytes.Equal(loadWeights(t, ms, "resumed"), loadWeights(t, ms, "straight")) {
		t.Error("with dropout, the resumed run's weights differ from the uninterrupted run's")
	}
}
