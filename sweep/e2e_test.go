package sweep_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/testworld"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/sweep"
)

// The end-to-end tests run real agents with the real train and evaluate
// kinds (in this process, or as child processes for the faults: the test
// binary doubles as the agent and the master, chosen by roleEnv), the
// embedded NATS server and the embedded store. The sweep package imports
// nothing of the engine; its tests do, to have something to train.
const roleEnv = "TL_SWEEP_E2E_ROLE"

const ackWait = 3 * time.Second

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "agent":
		os.Exit(testworld.AgentMain("sweep-e2e-agent", registry()))
	case "master":
		os.Exit(testworld.MasterMain(masterConfig))
	}
	os.Exit(m.Run())
}

func registry() *task.Registry {
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		panic(err)
	}
	if err := mltasks.Register(reg); err != nil {
		panic(err)
	}
	return reg
}

// masterConfig is a master's with the sweep controller, over db.
func masterConfig(ctx context.Context, db *store.DB, natsURL string, log *slog.Logger) (master.Config, error) {
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return master.Config{}, err
	}
	return master.Config{NATSURL: natsURL, Store: st, Tick: 300 * time.Millisecond, Log: log, AckWait: ackWait,
		LeaseTTL:    2 * time.Second, // a killed master's lease lapses soon
		Controllers: []master.Controller{sweep.Master(sweep.ControllerConfig{DB: db, Status: st, NATSURL: natsURL, Log: log, Poll: 200 * time.Millisecond})}}, nil
}

type env struct {
	t       testing.TB
	natsURL string
	db      *store.DB
	status  status.Store
	js      jetstream.JetStream
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := storetest.Context(t)
	s, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	t.Cleanup(s.Shutdown)
	e := &env{t: t, natsURL: s.URL()}
	nc, js, err := queue.Connect(ctx, e.natsURL, "sweep-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := queue.Setup(ctx, js); err != nil {
		t.Fatal(err)
	}
	e.js = js
	e.db = storetest.Backends()[0].Open(t)
	if e.status, err = status.NewMongo(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	return e
}

// runMaster starts a master with the sweep controller in this process.
func (e *env) runMaster() {
	e.t.Helper()
	cfg, err := masterConfig(storetest.Context(e.t), e.db, e.natsURL, testworld.Log())
	if err != nil {
		e.t.Fatal(err)
	}
	testworld.RunMaster(e.t, cfg)
}

// mlAgent runs an agent with the train and evaluate kinds in this process.
func (e *env) mlAgent(slots int) {
	e.t.Helper()
	testworld.RunAgent(e.t, agent.Config{NATSURL: e.natsURL, Queues: []string{plan.DefaultQueue}, Registry: registry(), Services: e.db,
		Log: testworld.Log(), ID: "ml-agent", Slots: slots, Grace: time.Second, RetryDelay: 200 * time.Millisecond})
	e.waitAgents(1)
}

func (e *env) waitAgents(n int) {
	e.eventually("agents to announce themselves", time.Minute, func() (bool, string) {
		as, err := queue.ListAgents(context.Background(), e.js)
		return len(as) >= n, fmt.Sprintf("%d of %d (err %v)", len(as), n, err)
	})
}

func (e *env) eventually(what string, patience time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	testworld.Eventually(e.t, what, 200*time.Millisecond, patience, cond)
}

func (e *env) submit(doc string) *sweep.Sweep {
	e.t.Helper()
	spec, err := sweep.Parse([]byte(doc), e.t.Name())
	if err != nil {
		e.t.Fatal(err)
	}
	sw, _, err := sweep.Submit(context.Background(), e.db, e.js, spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return sw
}

// wait waits until sweep name has ended and returns its record.
func (e *env) wait(name string, patience time.Duration) *sweep.Sweep {
	e.t.Helper()
	var sw *sweep.Sweep
	e.eventually("sweep "+name+" to end", patience, func() (bool, string) {
		var err error
		if sw, err = sweep.Status(context.Background(), e.db, name); err != nil {
			return false, err.Error()
		}
		return sw.State != sweep.Running, fmt.Sprintf("%s, %d trials, %d decisions", sw.State, len(sw.Trials), len(sw.Decisions))
	})
	return sw
}

// accounted checks what every sweep must hold at its end: each trial ended
// once (done, or stopped below the top rung), each decision names a plan of
// its own, acted on, that ran once; the best version carries the alias.
func (e *env) accounted(sw *sweep.Sweep, trials, topRung int) map[string]int {
	e.t.Helper()
	ctx := context.Background()
	if sw.State != sweep.Finished || len(sw.Trials) != trials {
		e.t.Fatalf("sweep %s: %s (%s) with %d trials, want finished with %d; decisions %+v", sw.Name, sw.State, sw.Note, len(sw.Trials), trials, sw.Decisions)
	}
	count := map[string]int{}
	plans := map[string]bool{}
	for _, d := range sw.Decisions {
		count[d.Action]++
		if !d.Acted {
			e.t.Errorf("sweep %s: decision %+v not acted on", sw.Name, d)
		}
		if d.Plan != "" {
			if plans[d.Plan] {
				e.t.Errorf("sweep %s: plan %s decided twice", sw.Name, d.Plan)
			}
			plans[d.Plan] = true
		}
	}
	rungs := 0
	for _, tr := range sw.Trials {
		last := len(tr.Rungs) - 1
		if (last == topRung && tr.State != sweep.Done) || (last < topRung && tr.State != sweep.Stopped) {
			e.t.Errorf("sweep %s: trial %d ended at rung %d as %s", sw.Name, tr.N, last, tr.State)
		}
		for _, r := range tr.Rungs {
			rungs++
			if r.State != sweep.Done || r.Version == 0 || !plans[r.Plan] {
				e.t.Errorf("sweep %s: trial %d rung %+v: want done with a version, from a decided plan", sw.Name, tr.N, r)
			}
			p, err := e.status.Plan(ctx, r.Plan)
			if err != nil || p.Status != plan.Succeeded {
				e.t.Errorf("sweep %s: plan %s: %+v, %v", sw.Name, r.Plan, p, err)
			}
		}
	}
	if count[sweep.ActStart] != trials || count[sweep.ActStart]+count[sweep.ActPromote] != rungs || count[sweep.ActBest] != 1 || count[sweep.ActFinish] != 1 {
		e.t.Errorf("sweep %s: decisions %v for %d trials and %d rungs", sw.Name, count, trials, rungs)
	}
	ms, err := models.New(ctx, e.db, models.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := ms.Get(ctx, models.Ref{Name: sw.Best.Model, Alias: sw.Best.Alias})
	if err != nil || m.Version != sw.Best.Version {
		e.t.Fatalf("sweep %s: alias %s: %+v, %v; want version %d", sw.Name, sw.Best.Alias, m, err, sw.Best.Version)
	}
	return count
}

// Random, grid and ASHA sweeps and a stratified cross-validation, run at
// once by one agent, each end with the right trials, rungs and stops and the
// best version aliased; bad input is refused before anything is written.
func TestSweepsEndToEnd(t *testing.T) {
	e := newEnv(t)
	testworld.Bands(t, e.db, "train", "train", 200, 1)
	testworld.Bands(t, e.db, "val", "val", 60, 2)
	e.runMaster()
	e.mlAgent(2)
	ctx := context.Background()

	// Bad input: nothing is stored, no view defined.
	const base = "base: {input: train, validation: val, model: MODEL, params: {arch: mlp, lr: 0.003, batch: 32, log_every: 5}}\n"
	bad := []struct{ doc, want string }{
		{"name: bad1\n" + strings.Replace(base, "MODEL", "m", 1) + "trials: 2\nmetric: val_accuracy\nspace: {widht: {choice: [1, 2]}}", "unknown parameter name(s) widht"},
		{"name: bad2\n" + strings.Replace(base, "validation: val", "validation: nope", 1) + "trials: 2\nmetric: val_accuracy\nspace: {lr: {uniform: [0.001, 0.01]}}", `"nope" does not exist`},
	}
	for _, c := range bad {
		spec, err := sweep.Parse([]byte(strings.Replace(c.doc, "MODEL", "m", 1)), c.want)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := sweep.Submit(ctx, e.db, e.js, spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("submit %s: err %v, want one containing %q", spec.Name, err, c.want)
		}
		if _, err := sweep.Status(ctx, e.db, spec.Name); err == nil {
			t.Errorf("a refused sweep %s was stored", spec.Name)
		}
	}
	cvBad, err := sweep.ParseCV([]byte("name: cvbad\ndataset: val\nk: 61\nbase: {params: {arch: mlp, epochs: 1}}"), "cv")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sweep.SubmitCV(ctx, e.db, e.js, cvBad); err == nil || !strings.Contains(err.Error(), "larger than the view") {
		t.Errorf("cv with k = 61 over 60 samples: %v", err)
	}

	e.submit("name: rnd\n" + strings.Replace(base, "MODEL", "rnd", 1) +
		"algorithm: random\ntrials: 3\nseed: 5\nparallel: 2\nepochs: 1\nmetric: val_accuracy\nspace: {lr: {loguniform: [0.001, 0.01]}, batch: {choice: [16, 32]}}")
	e.submit("name: grd\n" + strings.Replace(base, "MODEL", "grd", 1) +
		"algorithm: grid\nparallel: 2\nepochs: 1\nmetric: val_loss\nspace: {lr: {choice: [0.001, 0.003]}}")
	e.submit("name: ash\n" + strings.Replace(base, "MODEL", "ash", 1) +
		"algorithm: asha\ntrials: 4\nseed: 3\nparallel: 2\nmin_epochs: 1\neta: 2\nmax_epochs: 2\nmetric: val_accuracy\nspace: {lr: {loguniform: [0.0003, 0.01]}}")
	cv, err := sweep.ParseCV([]byte("name: cvs\ndataset: train\nk: 3\nstratified: true\nbase: {params: {arch: mlp, epochs: 1, batch: 32, lr: 0.003, log_every: 5}}"), "cv")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sweep.SubmitCV(ctx, e.db, e.js, cv); err != nil {
		t.Fatal(err)
	}

	rnd := e.wait("rnd", 5*time.Minute)
	e.accounted(rnd, 3, 0)
	grd := e.wait("grd", 5*time.Minute)
	e.accounted(grd, 2, 0)
	if grd.Trials[0].Params["lr"] != 0.001 || grd.Trials[1].Params["lr"] != 0.003 {
		t.Errorf("grid trials' params %v, %v", grd.Trials[0].Params, grd.Trials[1].Params)
	}
	for _, tr := range grd.Trials { // mode min for a loss: the best is the lowest
		if tr.Rungs[0].Metric < grd.Best.Metric {
			t.Errorf("grid best %+v, but trial %d has val_loss %g", grd.Best, tr.N, tr.Rungs[0].Metric)
		}
	}
	ash := e.wait("ash", 5*time.Minute)
	count := e.accounted(ash, 4, 1)
	promoted := count[sweep.ActPromote]
	if promoted < 2 || promoted > 3 || count[sweep.ActStop] != 4-promoted {
		t.Errorf("ASHA with eta 2 over 4 trials: %d promoted, %d stopped; want 2 or 3 promoted, the rest stopped (%+v)", promoted, count[sweep.ActStop], ash.Decisions)
	}
	if ash.Best.Rung != 1 {
		t.Errorf("ASHA best %+v: want one of the top rung", ash.Best)
	}
	ms, _ := models.New(ctx, e.db, models.Options{})
	// The train kind takes params.init: a promoted trial fine-tunes its
	// rung 0 version for the one epoch more that rung 1 asks.
	if !ash.Init {
		t.Errorf("the train kind announces init, but the sweep trains promoted trials from scratch")
	}
	for _, tr := range ash.Trials {
		if len(tr.Rungs) < 2 {
			continue
		}
		parent, err1 := ms.Get(ctx, models.Ref{Name: "ash", Version: tr.Rungs[0].Version})
		child, err2 := ms.Get(ctx, models.Ref{Name: "ash", Version: tr.Rungs[1].Version})
		if err1 != nil || err2 != nil || tr.Rungs[1].Epochs != 1 || tr.Rungs[1].Total != 2 || child.Lineage.Parent != parent.ID {
			t.Errorf("trial %d rung 1 %+v: want 1 epoch more, fine-tuned from rung 0's version (parent %q, want %q; %v, %v)", tr.N, tr.Rungs[1], child.Lineage.Parent, parent.ID, err1, err2)
		}
	}
	for name, want := range map[string]int{"rnd": 3, "grd": 2, "ash": 4 + promoted} {
		vs, err := ms.List(ctx, name)
		if err != nil || len(vs) != want {
			t.Errorf("model %s has %d versions (%v), want one per rung: %d", name, len(vs), err, want)
		}
	}

	var res *sweep.Sweep
	e.eventually("cross-validation to end", 5*time.Minute, func() (bool, string) {
		var err error
		res, err = sweep.CVStatus(ctx, e.db, e.status, "cvs")
		if err != nil {
			return false, err.Error()
		}
		return res.State != sweep.Running, res.State
	})
	if res.State != sweep.Finished || len(res.CV.Folds) != 3 {
		t.Fatalf("cv: %s (%s), %+v", res.State, res.Note, res.CV)
	}
	var sum float64
	for _, f := range res.CV.Folds {
		if f.State != sweep.Done || f.Metric <= 0 || f.Metric > 1 {
			t.Errorf("cv fold %+v", f)
		}
		sum += f.Metric
	}
	if mean := sum / 3; mean-res.CV.Mean > 1e-9 || res.CV.Mean-mean > 1e-9 || res.CV.Std < 0 {
		t.Errorf("cv mean %g std %g; the folds' mean is %g", res.CV.Mean, res.CV.Std, mean)
	}
	if again, err := sweep.CVStatus(ctx, e.db, e.status, "cvs"); err != nil || again.CV.Mean != res.CV.Mean {
		t.Errorf("the stored result read again: %+v, %v", again, err)
	}
}

func (e *env) start(role, name string) *testworld.Proc {
	e.t.Helper()
	return testworld.Start(e.t, name, testworld.Self(roleEnv+"="+role,
		"TL_NATS_URL="+e.natsURL, "TL_MONGO_URL="+e.db.URL(), "TL_HOME="+e.t.TempDir(), "TL_AGENT_STATE="+e.t.TempDir(),
		"TL_AGENT_ID="+name, "TL_QUEUES="+plan.DefaultQueue, "TL_ACK_WAIT="+ackWait.String(), "TL_RETRY_DELAY=200ms", "TL_GRACE=1s"))
}

// kill -9 of the agent in the middle of a trial and of the master between
// rungs: the sweep finishes with every trial accounted for once, each rung
// one result and one plan.
func TestSweepFaults(t *testing.T) {
	e := newEnv(t)
	testworld.Bands(t, e.db, "train", "train", 400, 1)
	testworld.Bands(t, e.db, "val", "val", 60, 2)
	m1 := e.start("master", "master-1")
	a1 := e.start("agent", "agent-1")
	e.waitAgents(1)
	ctx := context.Background()
	e.submit("name: flt\nbase: {input: train, validation: val, model: flt, params: {arch: mlp, lr: 0.003, batch: 16, log_every: 5}}\n" +
		"algorithm: asha\ntrials: 4\nseed: 9\nparallel: 1\nmin_epochs: 2\neta: 2\nmax_epochs: 4\nmetric: val_accuracy\nspace: {lr: {loguniform: [0.0003, 0.01]}}")

	// The first trial's task runs: kill its agent.
	first := sweep.PlanID("flt", 0, 0)
	e.eventually("the first trial to run", 2*time.Minute, func() (bool, string) {
		ts, err := e.status.Tasks(ctx, first)
		if err != nil || len(ts) == 0 {
			return false, fmt.Sprint(err)
		}
		return ts[0].Status == plan.Running, string(ts[0].Status)
	})
	a1.Kill()
	e.start("agent", "agent-2")

	// Kill the master once a rung has results and before the sweep ends.
	e.eventually("two trials' first rung done", 4*time.Minute, func() (bool, string) {
		sw, err := sweep.Status(ctx, e.db, "flt")
		if err != nil {
			return false, err.Error()
		}
		done := 0
		for _, tr := range sw.Trials {
			if tr.Rungs[0].State == sweep.Done {
				done++
			}
		}
		return done >= 2, fmt.Sprintf("%d done", done)
	})
	m1.Kill()
	e.start("master", "master-2")

	sw := e.wait("flt", 6*time.Minute)
	count := e.accounted(sw, 4, 1)
	if count[sweep.ActPromote] < 2 {
		t.Errorf("decisions %v: want at least 2 promotions of 4 trials at eta 2", count)
	}
	// The task whose agent was killed ran again and counted once.
	ts, err := e.status.Tasks(ctx, first)
	if err != nil || len(ts) != 1 || ts[0].Status != plan.Succeeded || ts[0].Attempt < 2 {
		t.Errorf("the killed trial's task: %+v, %v; want succeeded on a later attempt", ts, err)
	}
}

// tl sweep stop: the controller cancels the running trial, starts no other,
// and the sweep ends stopped with every trial accounted for.
func TestSweepStop(t *testing.T) {
	e := newEnv(t)
	testworld.Bands(t, e.db, "train", "train", 400, 1)
	e.runMaster()
	e.mlAgent(1)
	ctx := context.Background()
	e.submit("name: stp\nbase: {input: train, params: {arch: mlp, lr: 0.003, batch: 8, log_every: 5}}\n" +
		"algorithm: random\ntrials: 6\nparallel: 1\nepochs: 20\nmetric: accuracy\nspace: {lr: {loguniform: [0.001, 0.01]}}")
	e.eventually("the first trial to run", 2*time.Minute, func() (bool, string) {
		ts, err := e.status.Tasks(ctx, sweep.PlanID("stp", 0, 0))
		if err != nil || len(ts) == 0 {
			return false, fmt.Sprint(err)
		}
		return ts[0].Status == plan.Running, string(ts[0].Status)
	})
	if err := sweep.Stop(ctx, e.db, "stp"); err != nil {
		t.Fatal(err)
	}
	sw := e.wait("stp", 2*time.Minute)
	if sw.State != sweep.Stopped || len(sw.Trials) != 1 {
		t.Fatalf("stopped sweep: %s with %d trials (%+v)", sw.State, len(sw.Trials), sw.Decisions)
	}
	p, err := e.status.Plan(ctx, sw.Trials[0].Rungs[0].Plan)
	if err != nil || p.Status != plan.Cancelled || sw.Trials[0].State != sweep.Failed {
		t.Fatalf("the running trial after stop: plan %+v (%v), trial %+v; want cancelled", p, err, sw.Trials[0])
	}
	var actions []string
	for _, d := range sw.Decisions {
		actions = append(actions, d.Action)
	}
	if got := strings.Join(actions, ","); got != "start,halt,finish" {
		t.Fatalf("decisions %s, want start,halt,finish", got)
	}
}
