package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/stream"
)

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago: a
// master restarted on it keeps its URLs, so the agent reconnects.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// streamWorld is a home with a real tl master (killed and restarted by the
// test) and a real tl-agent running the train kind.
type streamWorld struct {
	t               *testing.T
	tl, home        string
	env             []string
	natsAt, mongoAt string
	master          *testworld.Proc
	n               int // samples inserted
}

func (w *streamWorld) startMaster() {
	w.t.Helper()
	w.master = startLogged(w.t, w.env, w.tl, "master", "--nats-listen", w.natsAt, "--mongo-listen", w.mongoAt, "--tick", "500ms",
		"--lease-ttl", "2s", "--stream-poll", "300ms")
	out := w.master.Out
	w.eventually("the master to lead", 60*time.Second, func() (bool, string) {
		return strings.Contains(out.String(), "master running"), out.String()
	})
}

// killMaster kills the master with SIGKILL, its servers with it.
func (w *streamWorld) killMaster() {
	w.t.Helper()
	w.master.Kill()
}

func (w *streamWorld) eventually(what string, patience time.Duration, cond func() (bool, string)) {
	w.t.Helper()
	testworld.Eventually(w.t, what, 200*time.Millisecond, patience, cond)
}

// run runs tl with args and returns its exit code and output.
func (w *streamWorld) run(args ...string) (int, string) {
	w.t.Helper()
	cmd := exec.Command(w.tl, args...)
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		w.t.Fatalf("tl %s: %v", strings.Join(args, " "), err)
	}
	return 0, string(out)
}

// store opens the master's store; the test closes it before killing it.
func (w *streamWorld) store() *store.DB {
	w.t.Helper()
	ep, err := endpoints.Read(w.home)
	if err != nil {
		w.t.Fatal(err)
	}
	db, err := store.Open(context.Background(), store.Config{URL: ep.Mongo, Project: ep.Project})
	if err != nil {
		w.t.Fatal(err)
	}
	return db
}

// insert adds n samples tagged tag: 8 features, labels 0 and 1.
func (w *streamWorld) insert(db *store.DB, n int, tag string) {
	w.t.Helper()
	c := openSamples(w.t, db)
	ss := make([]dataset.Sample, n)
	for i := range ss {
		w.n++
		x := make([]float32, 8)
		for j := range x {
			x[j] = float32((w.n*7+j*3)%11) / 11
		}
		label := w.n % 2
		x[0] += float32(label)
		ss[i] = dataset.Sample{Key: fmt.Sprintf("s%04d", w.n), Tensor: dataset.Float32Tensor([]int{8}, x), Label: label, Tags: []string{tag}}
	}
	if _, err := c.Insert(context.Background(), ss...); err != nil {
		w.t.Fatal(err)
	}
}

// rulePlans returns the plans recorded for rule (named after it), oldest first.
func (w *streamWorld) rulePlans(db *store.DB, rule string) []*status.Plan {
	w.t.Helper()
	st, err := status.NewMongo(context.Background(), db)
	if err != nil {
		w.t.Fatal(err)
	}
	ps, err := st.Plans(context.Background(), false)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*status.Plan
	for _, p := range ps {
		if p.Name == rule {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *status.Plan) int { return a.Submitted.Compare(b.Submitted) })
	return out
}

// waitPlans waits until rule has want plans, all succeeded.
func (w *streamWorld) waitPlans(db *store.DB, rule string, want int) []*status.Plan {
	w.t.Helper()
	var ps []*status.Plan
	w.eventually(fmt.Sprintf("%d succeeded plans of rule %s", want, rule), 120*time.Second, func() (bool, string) {
		ps = w.rulePlans(db, rule)
		var states []string
		done := 0
		for _, p := range ps {
			states = append(states, p.ID+" "+string(p.Status)+" "+p.Note)
			if p.Status == plan.Succeeded {
				done++
			}
		}
		return len(ps) == want && done == want, strings.Join(states, "; ")
	})
	return ps
}

// list returns the only rule of tl stream list --json, and the output.
func (w *streamWorld) list() (ruleLine, string) {
	w.t.Helper()
	code, out := w.run("stream", "list", "--json")
	var ls []ruleLine
	if err := json.Unmarshal([]byte(out), &ls); code != 0 || err != nil || len(ls) != 1 || ls[0].State == nil {
		return ruleLine{Rule: &stream.Rule{}, State: &stream.RuleState{}}, out
	}
	return ls[0], out
}

// input is the input dataset of a plan's single task.
func input(t *testing.T, p *status.Plan) string {
	t.Helper()
	var spec plan.Spec
	if err := json.Unmarshal([]byte(p.SpecJSON), &spec); err != nil || len(spec.Tasks) != 1 {
		t.Fatalf("plan %s: spec %s: %v", p.ID, p.SpecJSON, err)
	}
	return spec.Tasks[0].Input
}

// The stream controller wired to the workflow, with the real binaries: a rule
// "when 10 new samples match stream-new, fine-tune ft" submits a train plan
// once per batch; samples come in three bursts (10, 6, 4) with the master
// (and its controller) killed with SIGKILL and restarted between them; exactly
// two fine-tunes run, each on its own 10 samples, none doubled. Then pause
// holds the next batch back and resume submits it once. Bad rules are
// refused with nothing stored.
func TestStreamRulesEndToEnd(t *testing.T) {
	tl, agentBin := buildBinaries(t)
	w := &streamWorld{t: t, tl: tl, home: t.TempDir(), natsAt: freePort(t), mongoAt: freePort(t)}
	w.env = append(os.Environ(), "TL_HOME="+w.home, "TL_NATS_URL=", "TL_MONGO_URL=", "TL_PROJECT=", "TL_CREDENTIALS=")
	w.startMaster()

	startLogged(t, w.env, agentBin, "--ack-wait", "3s", "--grace", "1s", "--id", "stream-1", "--connect-wait", "60s")

	// The model to fine-tune: a first version trained on 8 samples.
	db := w.store()
	c := openSamples(t, db)
	for name, tag := range map[string]string{"stream-base": "base", "stream-new": "new"} {
		if _, err := c.Define(context.Background(), name, dataset.Query{Tags: []string{tag}}); err != nil {
			t.Fatal(err)
		}
	}
	w.insert(db, 8, "base")
	planFile := filepath.Join(t.TempDir(), "base.yaml")
	os.WriteFile(planFile, []byte("name: base\ntasks:\n  - {id: train, kind: train, input: stream-base, model: ft, params: {arch: mlp, epochs: 1, batch: 4}}\n"), 0o644)
	if code, out := w.run("submit", "--wait", planFile); code != 0 {
		t.Fatalf("tl submit base.yaml: exit %d\n%s", code, out)
	}

	// Bad rules: refused, nothing stored.
	positions := func() int64 {
		n, err := db.Database().Collection("stream_positions").CountDocuments(context.Background(), map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := positions()
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--view", "no-such-view", "--model", "ft", "--min-count", "10"}, `view "no-such-view" is not a dataset of project`},
		{[]string{"--view", "stream-new", "--model", "ft"}, "min_count 0 and no max_wait"},
		{[]string{"--view", "stream-new", "--model", "never-trained", "--min-count", "10"}, `model "never-trained" has no saved version to fine-tune from`},
		{[]string{"--view", "stream-new", "--model", "ft", "--min-count", "10", "--params", "[1]"}, "expected a JSON object"},
	} {
		code, out := w.run(append([]string{"stream", "define", "bad"}, bad.args...)...)
		if code == 0 || !strings.Contains(out, bad.want) {
			t.Errorf("tl stream define bad %s: exit %d, %q; want an error saying %q", strings.Join(bad.args, " "), code, out, bad.want)
		}
	}
	if code, out := w.run("stream", "list"); code != 0 || !strings.Contains(out, "no stream rules") {
		t.Errorf("after refused rules, tl stream list: exit %d\n%s", code, out)
	}
	if n := positions(); n != before {
		t.Errorf("refused rules stored %d positions", n-before)
	}

	code, out := w.run("stream", "define", "ft-rule", "--view", "stream-new", "--model", "ft", "--min-count", "10",
		"--params", `{"epochs":1,"batch":4}`)
	if code != 0 || !strings.Contains(out, "rule ft-rule defined") || !strings.Contains(out, "submits when 10 new samples in stream-new") {
		t.Fatalf("tl stream define: exit %d\n%s", code, out)
	}

	// Burst 1: 10 new samples (after 3 outside the view) make one plan.
	w.insert(db, 3, "other")
	w.insert(db, 10, "new")
	ps := w.waitPlans(db, "ft-rule", 1)
	first := input(t, ps[0])

	// Burst 2, after a kill -9 of the master: 6 samples are not enough.
	db.Close(context.Background())
	w.killMaster()
	w.startMaster()
	db = w.store()
	w.insert(db, 6, "new")
	w.eventually("tl stream list to count 6 pending samples", 60*time.Second, func() (bool, string) {
		l, out := w.list()
		return l.State.Positions["stream-new"] == 21 && l.State.Pending == 6, out
	})
	time.Sleep(3 * time.Second) // several polls of the rule
	if ps := w.rulePlans(db, "ft-rule"); len(ps) != 1 {
		t.Fatalf("after 6 more samples: %d plans, want 1", len(ps))
	}

	// Burst 3, after another kill -9: 4 more make 10, and a second plan.
	db.Close(context.Background())
	w.killMaster()
	w.startMaster()
	db = w.store()
	w.insert(db, 4, "new")
	ps = w.waitPlans(db, "ft-rule", 2)
	second := input(t, ps[1])
	time.Sleep(3 * time.Second)
	if ps := w.rulePlans(db, "ft-rule"); len(ps) != 2 {
		t.Fatalf("after the third burst: %d plans, want 2", len(ps))
	}
	c = openSamples(t, db)
	for _, in := range []string{first, second} {
		d, err := c.Dataset(context.Background(), in)
		if err != nil {
			t.Fatalf("the dataset of a plan: %v", err)
		}
		if n, err := d.Count(context.Background()); err != nil || n != 10 {
			t.Errorf("dataset %s: %d samples (%v), want the batch's 10", in, n, err)
		}
	}
	// The 3 others come first: the controller may move past them alone.
	if first != "stream-new@9-21" && first != "stream-new@12-21" || second != "stream-new@22-31" {
		t.Errorf("the plans' inputs are %s and %s; want stream-new@9-21 (or @12-21: 3 others, 10 new) and stream-new@22-31", first, second)
	}
	ms, err := models.New(context.Background(), db, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ms.List(context.Background(), "ft")
	if err != nil || len(vs) != 3 {
		t.Fatalf("model ft has %d versions (%v); want 3: the base and two fine-tunes", len(vs), err)
	}
	if vs[1].Lineage.Dataset != first || vs[2].Lineage.Dataset != second {
		t.Errorf("versions 2 and 3 trained on %q and %q; want the batches %s and %s", vs[1].Lineage.Dataset, vs[2].Lineage.Dataset, first, second)
	}
	for _, p := range ps {
		var spec plan.Spec
		_ = json.Unmarshal([]byte(p.SpecJSON), &spec)
		if init, _ := spec.Tasks[0].Params["init"].(map[string]any); init["model"] != "ft" {
			t.Errorf("plan %s does not fine-tune ft: params %v", p.ID, spec.Tasks[0].Params)
		}
	}

	// tl status has a line for the rule.
	if code, out := w.run("status"); code != 0 || !strings.Contains(out, "stream rule ft-rule: active, 0 of 10 new samples, last plan "+ps[1].ID) {
		t.Errorf("tl status: exit %d\n%s", code, out)
	}

	// Pause: 12 new samples wait; resume: one plan for all of them.
	if code, out := w.run("stream", "pause", "ft-rule"); code != 0 || !strings.Contains(out, "rule ft-rule paused") {
		t.Fatalf("tl stream pause: exit %d\n%s", code, out)
	}
	w.eventually("the master to stop the paused rule", 30*time.Second, func() (bool, string) {
		return strings.Contains(w.master.Out.String(), "stream: rule paused or deleted; stopped"), ""
	})
	w.insert(db, 12, "new")
	time.Sleep(3 * time.Second)
	if ps := w.rulePlans(db, "ft-rule"); len(ps) != 2 {
		t.Fatalf("a paused rule submitted: %d plans, want 2", len(ps))
	}
	if l, out := w.list(); !l.Paused || l.State.Pending != 12 {
		t.Errorf("tl stream list of the paused rule:\n%s", out)
	}
	if _, out := w.run("stream", "list"); !strings.Contains(out, "paused") || !strings.Contains(out, "stream-new after #31") {
		t.Errorf("tl stream list of the paused rule:\n%s", out)
	}
	if code, out := w.run("stream", "resume", "ft-rule"); code != 0 || !strings.Contains(out, "rule ft-rule resumed") {
		t.Fatalf("tl stream resume: exit %d\n%s", code, out)
	}
	ps = w.waitPlans(db, "ft-rule", 3)
	if in := input(t, ps[2]); in != "stream-new@32-43" {
		t.Errorf("the plan after resume trains on %s; want stream-new@32-43", in)
	}
	time.Sleep(3 * time.Second)
	if ps := w.rulePlans(db, "ft-rule"); len(ps) != 3 {
		t.Fatalf("after resume: %d plans, want 3", len(ps))
	}
	if code, out := w.run("stream", "delete", "ft-rule"); code != 0 || !strings.Contains(out, "rule ft-rule deleted") {
		t.Errorf("tl stream delete: exit %d\n%s", code, out)
	}
	db.Close(context.Background())
}

// Every stream command has --help; a missing subcommand, a missing --view or
// --model are usage errors that need no server.
func TestStreamHelpAndUsage(t *testing.T) {
	for _, sub := range []string{"define", "list", "pause", "resume", "delete"} {
		code, out, _ := runTL("stream", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage:\n  tl stream "+sub) || !strings.Contains(out, "Flags:") {
			t.Errorf("tl stream %s --help: exit %d, %q", sub, code, out)
		}
	}
	if code, _, errOut := runTL("stream", "frobnicate"); code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("tl stream frobnicate: exit %d, %q", code, errOut)
	}
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stream", "define", "r", "--model", "m", "--min-count", "5"}, "no --view"},
		{[]string{"stream", "define", "r", "--view", "v", "--min-count", "5"}, "no --model and no --plan"},
		{[]string{"stream", "define", "r", "--view", "v", "--model", "m", "--plan", "p.yaml"}, "--plan and --model/--params"},
		{[]string{"stream", "define", "r", "--view", "v", "--model", "m", "--params", "{"}, "expected a JSON object"},
	} {
		code, _, errOut := runTL(append(c.args, "--home", home)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("tl %s: exit %d, %q; want a usage error saying %q", strings.Join(c.args, " "), code, errOut, c.want)
		}
	}
}
