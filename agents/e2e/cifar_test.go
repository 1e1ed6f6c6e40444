package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
)

// writeCIFAR writes a CIFAR-10 binary folder (cifar-10-batches-bin) of
// generated, learnable images: data_batch_1.bin with train records and
// test_batch.bin with test records, each record a label byte then 32×32
// red, green and blue planes. Class k brightens the 8×8 cell k of a 4×4
// grid, over noise.
func writeCIFAR(t *testing.T, train, test int) string {
	t.Helper()
	dir := t.TempDir()
	rng := tensor.NewRand(7)
	write := func(name string, n int) {
		b := make([]byte, 0, n*3073)
		for i := range n {
			k := i % 10
			rec := make([]byte, 3073)
			rec[0] = byte(k)
			for j := 1; j < len(rec); j++ {
				rec[j] = byte(rng.IntN(90))
			}
			r0, c0 := 8*(k/4), 8*(k%4)
			for ch := range 3 {
				for r := r0; r < r0+8; r++ {
					for c := c0; c < c0+8; c++ {
						rec[1+ch*1024+r*32+c] = byte(160 + rng.IntN(90))
					}
				}
			}
			b = append(b, rec...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data_batch_1.bin", train)
	write("test_batch.bin", test)
	return dir
}

// buildCmd compiles a command of this module into dir.
func buildCmd(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// startBinary runs a binary of this module as e.start runs this test's:
// the same environment (NATS, store, queue, agent id), output kept for a
// failure.
func (e *env) startBinary(path, name string, args ...string) *testworld.Proc {
	e.t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(),
		"TL_NATS_URL="+e.natsURL,
		"TL_MONGO_URL="+e.db.URL(),
		"TL_AGENT_ID="+name,
		"TL_QUEUES="+e.queue,
		"TL_RETRY_DELAY=200ms",
		"TL_GRACE=1s",
		"TL_HOME="+e.t.TempDir(),
		"XDG_CACHE_HOME="+e.t.TempDir(), // the agent's dataset cache, removed with the test
	)
	return testworld.Start(e.t, name, cmd)
}

// cifarPlan trains the built-in CNN on the imported CIFAR-10 training split,
// streamed from the store, and evaluates it on the test split.
const cifarPlan = `
name: cifar
tasks:
  - {id: train, kind: train, queue: QUEUE, input: cifar10-train, model: cifar-cnn,
     params: {arch: cnn, epochs: 3, batch: 32, lr: 0.002, validation: cifar10-test}}
  - {id: eval, kind: evaluate, queue: QUEUE, deps: [train], input: cifar10-test, model: cifar-cnn}
`

// With real processes: a generated dataset in CIFAR-10's binary format is
// imported with `tl import cifar` (the tl binary), a master (a process of
// this test binary) takes a plan that a tl-agent process runs: the built-in
// CNN trains on the 32×32×3 images streamed from the store and evaluates on
// the test split, well above chance.
func TestPlanTrainsCNNOnImportedCIFAR(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tl and tl-agent and trains a CNN; skipped with -short")
	}
	bin := t.TempDir()
	tl := buildCmd(t, bin, "github.com/tlgo/tl/cmd/tl")
	agentBin := buildCmd(t, bin, "github.com/tlgo/tl/cmd/tl-agent")
	e := newEnv(t, false)
	data := writeCIFAR(t, 400, 100)

	imp := exec.Command(tl, "import", "cifar", data, "--define", "cifar10", "--mongo", e.db.URL(), "--home", t.TempDir())
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("tl import cifar: %v\n%s", err, out)
	}
	e.start("master", "master")
	e.startBinary(agentBin, "tl-agent")
	e.waitAgents(1)

	id := e.submit(cifarPlan)
	p, ts := e.waitPlan(id)
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s; tasks %+v", id, p.Status, ts)
	}
	tr, ev := output(t, ts["train"]), output(t, ts["eval"])
	metrics, _ := tr["metrics"].(map[string]any)
	if tr["examples"] != float64(400) || tr["epochs"] != float64(3) || metrics == nil {
		t.Fatalf("train output %v: want 400 examples, 3 epochs, the metrics", tr)
	}
	if acc, _ := ev["accuracy"].(float64); ev["examples"] != float64(100) || acc < 0.8 {
		t.Fatalf("evaluate output %v: want 100 examples at over 0.8 accuracy (chance is 0.1)", ev)
	}
	ms, err := models.New(context.Background(), e.db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ms.Get(context.Background(), models.Ref{Name: "cifar-cnn"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Lineage.Dataset != "cifar10-train" || m.Metrics["cifar10-test_accuracy"] != ev["accuracy"] || len(m.Architecture) == 0 {
		t.Fatalf("version %d: lineage %+v, metrics %v: want trained on cifar10-train with its test accuracy", m.Version, m.Lineage, m.Metrics)
	}
	t.Logf("train %v, evaluate accuracy %v", tr["metrics"], ev["accuracy"])
}
