package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
)

// resumePlan is one train task on the test's queue: its name, model, input and
// params are filled in.
const resumePlan = `
name: %s
tasks:
  - {id: train, kind: train, queue: QUEUE, input: %s, model: %s, params: %s}
`

// kill -9 of an agent in the middle of a train task: the task is delivered
// again after the ack deadline, to another agent, which resumes from the last
// checkpoint (the step is asserted from the task's output and the agent's
// log), trains the remaining steps only, saves exactly one version and
// removes the checkpoint. An uninterrupted run of the same task is the
// reference for the figures logged (time lost, final accuracy).
func TestTrainResumesAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a CNN twice (about half a minute on two shared cores)")
	}
	e := newEnv(t, false)
	testworld.Bands(t, e.db, "resume-train", "rt", 2000, 1)
	testworld.Bands(t, e.db, "resume-test", "rv", 500, 2)
	killMidTraining(t, e, "resume-train",
		`{arch: cnn, epochs: 3, batch: 32, lr: 0.002, seed: 5, checkpoint_every: 30, log_every: 30, validation: resume-test}`,
		60, 3*((2000+31)/32), 0)
}

// BenchmarkResumeFigure measures issue 14's Resume figure on Fashion-MNIST
// (the first TL_RESUME_FIGURE training images, default 10,000, and the first
// 2,000 test images): what a kill -9 mid-training costs.
//
//	go test ./agents/e2e -run '^$' -bench ResumeFigure -benchtime 1x -v
func BenchmarkResumeFigure(b *testing.B) {
	n := 10000
	if v := os.Getenv("TL_RESUME_FIGURE"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
			b.Fatalf("TL_RESUME_FIGURE=%q: want a number of training images", v)
		}
	}
	t := b
	const dir = "/usr/share/datasets/fashion-mnist/"
	e := newEnv(t, false)
	importIDX(t, e, dir+"train-images-idx3-ubyte.gz", dir+"train-labels-idx1-ubyte.gz", "fashion-train", n)
	importIDX(t, e, dir+"t10k-images-idx3-ubyte.gz", dir+"t10k-labels-idx1-ubyte.gz", "fashion-val", 2000)
	steps := 3 * ((n + 63) / 64)
	killMidTraining(t, e, "fashion-train",
		`{arch: cnn, epochs: 3, batch: 64, lr: 0.002, seed: 5, checkpoint_every: 50, validation: fashion-val}`,
		int64(steps/2), steps, 0.9)
}

// importIDX imports the first n samples of an IDX pair as the view name.
func importIDX(t testing.TB, e *env, images, labels, name string, n int) {
	t.Helper()
	ctx := context.Background()
	coll, err := dataset.FromStore(ctx, e.db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := dataset.IDXSamples(ctx, images, labels, nil)
	if err != nil {
		t.Skipf("Fashion-MNIST: %v", err)
	}
	first := func(yield func(dataset.Sample, error) bool) {
		k := 0
		for s, err := range src {
			if k == n || !yield(s, err) {
				return
			}
			k++
		}
	}
	if _, err := dataset.Import(ctx, coll, iter.Seq2[dataset.Sample, error](first), dataset.ImportOptions{Tags: []string{name}, KeyPrefix: name + "-", Quiet: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Define(ctx, name, dataset.Query{Tags: []string{name}}); err != nil {
		t.Fatal(err)
	}
}

// killMidTraining runs a train task with params on an agent, kills the agent
// (SIGKILL) once a checkpoint at killAt steps or more is written (with late >
// 0, late checkpoint intervals after the next one: near the worst case),
// starts another, and checks the task resumes from the last checkpoint and
// ends with steps steps and one version; then runs the same task
// uninterrupted and logs the figures.
func killMidTraining(t testing.TB, e *env, input, params string, killAt int64, steps int, late float64) {
	ctx := context.Background()
	ms, err := models.New(ctx, e.db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.runMaster()
	victim := e.agent("victim")
	e.waitAgents(1)
	id := e.submit(fmt.Sprintf(resumePlan, "resume", input, "resumed", params))
	key := id + "/train"
	if a := e.waitRunning(id, "train"); a != "victim" {
		t.Fatalf("train runs on %q, want victim", a)
	}
	e.eventually(fmt.Sprintf("the victim's checkpoint at step %d", killAt), 10*time.Minute, func() (bool, string) {
		c, err := ms.GetCheckpoint(ctx, key)
		if err != nil {
			return false, err.Error()
		}
		return c.Step >= killAt, fmt.Sprintf("checkpoint at step %d", c.Step)
	})
	var interval time.Duration
	if late > 0 {
		first, err := ms.GetCheckpoint(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var next *models.Checkpoint
		e.eventually("the victim's next checkpoint", 10*time.Minute, func() (bool, string) {
			next, err = ms.GetCheckpoint(ctx, key)
			return err == nil && next.Step > first.Step, fmt.Sprintf("%v", err)
		})
		interval = next.Updated.Sub(first.Updated)
		time.Sleep(time.Until(next.Updated.Add(time.Duration(late * float64(interval)))))
	}
	victim.Kill()
	killed := time.Now()
	// The victim is gone: its last checkpoint is the one the rescuer finds.
	ck, err := ms.GetCheckpoint(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(victim.Out.String(), "msg=trained") {
		t.Fatalf("the victim finished before it was killed:\n%s", victim.Out.String())
	}
	rescuer := e.agent("rescuer")
	p, ts := e.waitPlan(id)
	tr := ts["train"]
	if p.Status != plan.Succeeded || tr.Agent != "rescuer" || tr.Attempt != 2 {
		t.Fatalf("plan %s, task %+v; want succeeded by rescuer on attempt 2", p.Status, tr)
	}
	out := output(t, tr)
	if got, ok := out["resumed_from_step"].(float64); !ok || int64(got) != ck.Step {
		t.Fatalf("output %v: resumed_from_step %v, want %d (the last checkpoint of the victim)", out, out["resumed_from_step"], ck.Step)
	}
	if got := out["steps"]; got != float64(steps) {
		t.Errorf("output steps %v, want %d in all", got, steps)
	}
	want := fmt.Sprintf("resuming from checkpoint at step %d (epoch %d, batch %d)", ck.Step, ck.Epoch+1, ck.Batch)
	if !strings.Contains(rescuer.Out.String(), want) {
		t.Errorf("the rescuer's log does not say %q:\n%s", want, rescuer.Out.String())
	}
	vs, err := ms.List(ctx, "resumed")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Lineage.Task != key {
		t.Fatalf("%d versions of the model (%+v), want exactly one, saved by %s", len(vs), vs, key)
	}
	if out["run"] != ck.Run || vs[0].Lineage.Run != ck.Run {
		t.Errorf("run %v, version's run %s; want the checkpoint's %s (the curve continues)", out["run"], vs[0].Lineage.Run, ck.Run)
	}
	if _, err := ms.GetCheckpoint(ctx, key); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("checkpoint after the version was saved: %v, want none", err)
	}
	var resumedAt time.Time
	for _, c := range tr.History {
		if c.Status == plan.Running && c.Agent == "rescuer" {
			resumedAt = c.Time
		}
	}

	// The reference: the same task, never interrupted.
	ref := e.submit(fmt.Sprintf(resumePlan, "straight", input, "straight", params))
	rp, rts := e.waitPlan(ref)
	if rp.Status != plan.Succeeded {
		t.Fatalf("reference plan %s: %s", ref, e.describe(ref))
	}
	rout := output(t, rts["train"])
	if _, ok := rout["resumed_from_step"]; ok {
		t.Errorf("an uninterrupted task says it resumed: %v", rout)
	}
	same := "differ"
	if a, err := ms.Load(ctx, models.Ref{Name: "resumed"}); err == nil {
		if b, err := ms.Load(ctx, models.Ref{Name: "straight"}); err == nil && bytes.Equal(a.Weights, b.Weights) {
			same = "are bitwise equal"
		}
	}
	// The data order and dropout's masks replay, and both agents run on this
	// machine (the same kernels, the same split over its cores).
	if same != "are bitwise equal" {
		t.Errorf("the resumed run's weights differ from the uninterrupted run's")
	}
	secs := func(m map[string]any) float64 { v, _ := m["seconds"].(float64); return v }
	metric := func(m map[string]any, k string) any { ms, _ := m["metrics"].(map[string]any); return ms[k] }
	perStep := secs(rout) / float64(steps)
	lost := killed.Sub(ck.Updated).Seconds()
	t.Logf("Resume: killed %.1fs after the checkpoint of step %d (interval %.1fs; params %s); redelivered after %.1fs (ack wait %s): "+
		"lost %.1fs of training (%.0f steps at %.0f ms/step) + %.1fs; validation accuracy resumed %v, uninterrupted %v; "+
		"validation loss resumed %v, uninterrupted %v; the weights %s; attempt 2 took %.1fs for %d steps, the uninterrupted run %.1fs for %d",
		lost, ck.Step, interval.Seconds(), params, resumedAt.Sub(killed).Seconds(), ackWait, lost, lost/perStep, 1000*perStep, resumedAt.Sub(killed).Seconds(),
		metric(out, "val_accuracy"), metric(rout, "val_accuracy"), metric(out, "val_loss"), metric(rout, "val_loss"), same,
		secs(out), int64(steps)-ck.Step, secs(rout), steps)
}
