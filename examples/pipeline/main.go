// Command pipeline runs the TensorLayer paper's whole workflow on one machine with
// nothing installed: the dataset, model and workflow modules on embedded servers,
// and the layers and engine underneath.
//
//  1. It opens the home that tl master uses ($TL_HOME, else ~/.tl; --home): it
//     starts NATS JetStream and the store (embedded FerretDB over SQLite) on the
//     home's files, in this process, with a master, and writes the home's
//     endpoints.json so that tl commands and tl-agent find them while it runs.
//     When a master already runs on that home, it works through that master
//     instead. Either way it prints where the data lives.
//  2. It imports Fashion-MNIST's IDX files into the dataset module: samples are
//     documents tagged "train" or "test", and the datasets fashion-train and
//     fashion-test (the names the README's plan uses) are tag queries.
//  3. It submits a training plan — train a network on fashion-train, then
//     evaluate it on fashion-test — which the master queues and an agent in this
//     process runs; the agent's progress inside an epoch goes to stderr.
//  4. It prints the plan's progress, the model versions the plan saved, and the
//     best version by test accuracy (the paper's find_top_model). The training
//     curves are in the store: tl runs fashion-mlp, tl curve fashion-mlp.
//
// Run it again and it reuses the imported data and adds a model version. A run
// that was interrupted left its plan unfinished: the next run says so and
// resumes that plan instead of submitting another (--fresh cancels it and
// starts anew). Ctrl-C says what it waits for (the running task is handed back
// within --grace); a second Ctrl-C stops at once, keeping what was committed.
// With --mongo and --nats it uses a real cluster instead of the home.
//
//	go run ./examples/pipeline
//	go run ./examples/pipeline --arch cnn --epochs 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/examples/internal/home"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
)

// ackWait is the agent's ack deadline: a task whose agent died comes back
// after it.
const ackWait = time.Minute

type options struct {
	Home, Data, Mongo, NATS, Arch string
	Epochs, Limit, Batch          int
	LR                            float64
	// Fresh cancels an unfinished plan of an earlier run instead of resuming it.
	Fresh bool
	// Grace is how long a running task may go on after an interrupt before the
	// agent hands it back; default 3s.
	Grace time.Duration
	Out   io.Writer
	// Log receives warnings and errors, and the agent's training progress.
	Log *slog.Logger
	// Stage, if set, is kept saying what the run does, for the interrupt message.
	Stage *stage
}

// stage is what the run is doing now, as the words after "waiting for".
type stage struct {
	mu sync.Mutex
	s  string
	// notify, if set, is called with each new stage (tests interrupt at one).
	notify func(string)
}

func (s *stage) set(format string, args ...any) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.s = fmt.Sprintf(format, args...)
	now := s.s
	s.mu.Unlock()
	if s.notify != nil {
		s.notify(now)
	}
}

func (s *stage) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == "" {
		return "the servers to stop"
	}
	return s.s
}

func main() {
	var o options
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	fs.StringVar(&o.Home, "home", home.Default(), "the home of tl master: its embedded servers' files and endpoints.json [TL_HOME]")
	fs.StringVar(&o.Data, "data", formats.FashionMNISTDir, "directory of Fashion-MNIST's IDX files (apt-get install dataset-fashion-mnist)")
	fs.StringVar(&o.Mongo, "mongo", os.Getenv("TL_MONGO_URL"), "MongoDB URL; empty: the home's store [TL_MONGO_URL]")
	fs.StringVar(&o.NATS, "nats", os.Getenv("TL_NATS_URL"), "NATS URL; empty: the home's server [TL_NATS_URL]")
	fs.StringVar(&o.Arch, "arch", "mlp", "network to train: mlp or cnn")
	fs.IntVar(&o.Epochs, "epochs", 2, "training epochs")
	fs.IntVar(&o.Limit, "limit", 0, "train on at most this many samples (0: all 60,000)")
	fs.IntVar(&o.Batch, "batch", 64, "batch size")
	fs.Float64Var(&o.LR, "lr", 1e-3, "Adam learning rate")
	fs.BoolVar(&o.Fresh, "fresh", false, "cancel an unfinished plan of an earlier run instead of resuming it")
	fs.DurationVar(&o.Grace, "grace", 3*time.Second, "after Ctrl-C, how long a running task may finish before it is handed back")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pipeline [flags]\n\nRuns the paper's workflow on embedded servers in tl master's home: imports\nFashion-MNIST into the dataset module, submits a train-then-evaluate plan, and\nshows the models it saved.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	o.Out = os.Stdout
	o.Log = slog.New(progressOnly{slog.NewTextHandler(os.Stderr, nil)})
	o.Stage = &stage{}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintf(os.Stderr, "\npipeline: interrupted; waiting for %s. Ctrl-C again stops at once (what is committed is kept).\n", o.Stage.get())
		cancel()
		<-sigs
		endpoints.Remove(o.Home, os.Getpid()) // else tl would look for servers that are gone
		fmt.Fprintln(os.Stderr, "pipeline: stopped at once; the next run resumes from what was committed")
		os.Exit(130)
	}()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

// progressOnly passes warnings and errors, and the training progress lines of
// the agent's train task (Info), and drops the rest of the Info lines.
type progressOnly struct{ slog.Handler }

func (h progressOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && h.Handler.Enabled(ctx, l)
}

func (h progressOnly) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelWarn, r.Message == "reading dataset", r.Message == "training started", r.Message == "training", r.Message == "epoch done", r.Message == "trained":
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h progressOnly) WithAttrs(as []slog.Attr) slog.Handler {
	return progressOnly{h.Handler.WithAttrs(as)}
}

func (h progressOnly) WithGroup(name string) slog.Handler {
	return progressOnly{h.Handler.WithGroup(name)}
}

func run(ctx context.Context, o options) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Arch != "mlp" && o.Arch != "cnn" {
		return fmt.Errorf("--arch %q: want mlp or cnn", o.Arch)
	}
	if o.Grace <= 0 {
		o.Grace = 3 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	name := "fashion-" + o.Arch

	// 1. The home, its servers, the master, the agent.
	var h *home.Home
	if o.NATS == "" || o.Mongo == "" {
		if h, err = home.Open(o.Home); err != nil {
			return err
		}
		defer h.Close()
		fmt.Fprintf(o.Out, "data: %s\n", h.Where())
		if old := filepath.Join(h.Dir, "pipeline"); h.Dir == home.Default() {
			if _, err := os.Stat(filepath.Join(old, "store")); err == nil {
				fmt.Fprintf(o.Out, "note: runs before this version kept their data in %s; pass --home %s to use it\n", old, old)
			}
		}
	}
	startMaster := h == nil || h.Master == nil
	// The credentials of the master, the agent and the client (submit) on the
	// home's NATS, which admits no one else; none for a --nats server.
	var mc, ac, cc *queue.Credentials
	if o.NATS == "" {
		if h.Master != nil {
			o.NATS = h.Master.NATS
		} else {
			auth, err := queue.LoadOrCreateAuth(h.Dir)
			if err != nil {
				return err
			}
			srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(h.Dir, "nats"), Auth: auth})
			if err != nil {
				return fmt.Errorf("embedded NATS in %s: %w", h.Dir, err)
			}
			defer srv.Shutdown()
			o.NATS = srv.URL()
		}
		if mc, ac, cc, err = homeCredentials(h.Dir); err != nil {
			return err
		}
	}
	var db *store.DB
	if o.Mongo != "" {
		db, err = store.Open(ctx, store.Config{URL: o.Mongo, Logger: o.Log})
	} else {
		db, err = h.OpenStore(ctx, o.Log)
	}
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(o.Out, "servers: nats %s, store %s\n", redact.URL(o.NATS), redact.URL(db.URL()))
	if h != nil && h.Master == nil {
		unpublish, err := h.Publish(o.NATS, db)
		if err != nil {
			return err
		}
		defer unpublish()
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return err
	}
	// The master and the agent stop (ctx cancelled, both waited for) before the
	// servers they use shut down.
	errc := make(chan error, 2)
	running := 0
	defer func() {
		o.Stage.set("the agent (a running task gets %s, then is handed back) and the master to stop", o.Grace)
		cancel()
		for ; running > 0; running-- {
			<-errc
		}
		o.Stage.set("the servers to stop")
	}()
	if startMaster {
		m, err := master.New(ctx, master.Config{NATSURL: o.NATS, Credentials: mc, Store: st, Log: o.Log})
		if err != nil {
			return err
		}
		running++
		go func() { errc <- m.Run(ctx) }()
	}
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		return err
	}
	if err := mltasks.Register(reg); err != nil {
		return err
	}
	a, err := agent.New(ctx, agent.Config{NATSURL: o.NATS, Credentials: ac, Registry: reg, Services: db, Log: o.Log, AckWait: ackWait, Grace: o.Grace})
	if err != nil {
		return err
	}
	running++
	go func() { errc <- a.Run(ctx) }()

	// 2. Data as documents; datasets as tag queries.
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		return err
	}
	for _, split := range []struct{ tag, images, labels string }{
		{"train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
		{"test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
	} {
		ds := "fashion-" + split.tag
		o.Stage.set("the import of %s to stop (what it stored is kept; the next run skips it)", ds)
		stats, err := dataset.ImportIDX(ctx, coll, filepath.Join(o.Data, split.images), filepath.Join(o.Data, split.labels),
			dataset.FashionMNISTClasses(), dataset.ImportOptions{Tags: []string{split.tag}, KeyPrefix: split.tag + "-", SkipExisting: true, Label: "import " + ds})
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("import of %s interrupted; at least %s new samples are stored and kept (the next run skips them): %w", ds, thousands(stats.Inserted), context.Cause(ctx))
		case err != nil && errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("importing Fashion-MNIST %s from %s (is dataset-fashion-mnist installed, or --data set?): %w", split.tag, o.Data, err)
		case err != nil:
			return fmt.Errorf("importing Fashion-MNIST %s from %s: %w", split.tag, o.Data, err)
		}
		if _, err := coll.Define(ctx, ds, dataset.Query{Tags: []string{split.tag}}); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "dataset %s: %s samples (%s imported now, %s already there)\n", ds,
			thousands(stats.Inserted+stats.Skipped), thousands(stats.Inserted), thousands(stats.Skipped))
	}

	// 3. The plan: an unfinished one of an earlier run is resumed, not doubled.
	spec := &plan.Spec{Name: name, Tasks: []plan.TaskSpec{
		{ID: "train", Kind: "train", Input: "fashion-train", Model: name, MaxAttempts: 2,
			Params: map[string]any{"arch": o.Arch, "epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "limit": o.Limit}},
		{ID: "evaluate", Kind: "evaluate", Deps: []string{"train"}, Input: "fashion-test", Model: name},
	}}
	nc, js, err := queue.Connect(ctx, o.NATS, "pipeline", o.Log, cc.Options()...)
	if err != nil {
		return err
	}
	defer nc.Close()
	// The master checks a plan against the kinds the agents announced.
	waitAnnounced(ctx, js, a.ID())
	id, err := resumeOrSubmit(ctx, o, st, js, spec)
	if err != nil {
		return err
	}
	o.Stage.set("plan %s to pause: the agent hands its running task back within %s, and the next run resumes the plan", id, o.Grace)
	if err := follow(ctx, st, id, o.Out, errc); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while plan %s ran; it is kept, and the next run resumes it: %w", id, context.Cause(ctx))
		}
		return err
	}

	// 4. What the model module now holds.
	o.Stage.set("the model listing")
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return err
	}
	vs, err := ms.List(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nmodel %s: %d version(s)\n", name, len(vs))
	for _, v := range vs {
		fmt.Fprintf(o.Out, "  v%d  %s  test accuracy %.4f  (trained on %s by %s, run %s)\n", v.Version, v.Created.Format(time.DateTime), v.Metrics["fashion-test_accuracy"], v.Lineage.Dataset, v.Lineage.Task, v.Lineage.Run)
	}
	top, err := ms.Top(ctx, models.TopQuery{Metric: "fashion-test_accuracy", K: 1})
	if err != nil {
		return err
	}
	if len(top) > 0 {
		fmt.Fprintf(o.Out, "best model by test accuracy: %s v%d (%.4f)\n", top[0].Name, top[0].Version, top[0].Metrics["fashion-test_accuracy"])
	}
	if h != nil {
		flag := ""
		if h.Dir != home.Default() {
			flag = " --home " + h.Dir
		}
		fmt.Fprintf(o.Out, "training curves: tl runs %s%s; tl curve %s%s\n", name, flag, name, flag)
	}
	return nil
}

// resumeOrSubmit says which plans are unfinished in the store and returns the
// plan to follow: the newest unfinished plan named like spec (an interrupted
// earlier run), unless o.Fresh, which cancels it; else spec, submitted.
func resumeOrSubmit(ctx context.Context, o options, st status.Store, js jetstream.JetStream, spec *plan.Spec) (string, error) {
	active, err := st.Plans(ctx, true)
	if err != nil {
		return "", err
	}
	var resume *status.Plan
	agents, _ := queue.ListAgents(ctx, js)
	for _, p := range active { // newest first
		ts, err := st.Tasks(ctx, p.ID)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(o.Out, "unfinished plan %s, submitted %s: %s\n", p.ID, p.Submitted.Local().Format(time.DateTime), describe(ts))
		for _, t := range ts {
			gone := !slices.ContainsFunc(agents, func(a queue.AgentInfo) bool { return a.ID == t.Agent })
			if t.Status == plan.Running && t.Agent != "" && gone {
				fmt.Fprintf(o.Out, "  task %s was running on agent %s, which is gone: it returns to its queue when its ack deadline passes (at most %s)\n", t.ID, t.Agent, ackWait)
			}
		}
		switch {
		case p.Name == spec.Name && o.Fresh:
			if err := master.Cancel(ctx, js, p.ID); err != nil {
				return "", err
			}
			fmt.Fprintf(o.Out, "  cancelled (--fresh)\n")
		case p.Name == spec.Name && resume == nil:
			resume = p
		default:
			fmt.Fprintf(o.Out, "  the master resumes it too: its tasks may run before this run's (tl cancel %s stops it)\n", p.ID)
		}
	}
	if resume != nil {
		fmt.Fprintf(o.Out, "resuming plan %s instead of submitting a new one (--fresh cancels it and starts anew)\n", resume.ID)
		var old plan.Spec
		if json.Unmarshal([]byte(resume.SpecJSON), &old) == nil {
			if t := old.Task("train"); t != nil {
				want := spec.Task("train").Params
				if !sameParams(t.Params, want) {
					fmt.Fprintf(o.Out, "  it trains with %s, not the %s asked now\n", compactParams(t.Params), compactParams(want))
				}
			}
		}
		return resume.ID, nil
	}
	id, v, err := master.SubmitChecked(ctx, js, spec, 30*time.Second)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(o.Out, "submitted plan %s: train %s on fashion-train, then evaluate on fashion-test\n", id, o.Arch)
	if v == nil {
		fmt.Fprintln(o.Out, "  the master has not answered yet; the plan waits for it")
	} else {
		for _, w := range v.Warnings {
			fmt.Fprintf(o.Out, "  warning: %s\n", w)
		}
	}
	return id, nil
}

// waitAnnounced waits up to 10s for agent id's announcement.
func waitAnnounced(ctx context.Context, js jetstream.JetStream, id string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		as, _ := queue.ListAgents(ctx, js)
		if slices.ContainsFunc(as, func(a queue.AgentInfo) bool { return a.ID == id }) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describe is a plan's tasks in a line: "train running, evaluate pending".
func describe(ts []*status.Task) string {
	var parts []string
	for _, t := range ts {
		s := t.ID + " " + string(t.Status)
		if t.Attempt > 0 {
			s += fmt.Sprintf(" (attempt %d)", t.Attempt)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func sameParams(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func compactParams(p map[string]any) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, fmt.Sprintf("%s %v", k, p[k]))
	}
	return strings.Join(parts, ", ")
}

// follow prints the plan's tasks as they change until the plan ends.
func follow(ctx context.Context, st status.Store, id string, out io.Writer, errc <-chan error) error {
	seen := map[string]string{}
	for {
		p, err := st.Plan(ctx, id)
		if err != nil && !errors.Is(err, status.ErrNotFound) {
			return err
		}
		if p != nil {
			ts, err := st.Tasks(ctx, id)
			if err != nil {
				return err
			}
			for _, t := range ts {
				line := string(t.Status)
				if t.Output != "" {
					line += " " + compact(t.Output)
				}
				if t.Error != "" {
					line += ": " + t.Error
				}
				if seen[t.ID] != line {
					seen[t.ID] = line
					fmt.Fprintf(out, "%s  %-8s %s\n", time.Now().Format("15:04:05"), t.ID, line)
				}
			}
			if p.Status.Terminal() {
				if p.Status != plan.Succeeded {
					return fmt.Errorf("plan %s %s: %s", id, p.Status, p.Note)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return fmt.Errorf("master or agent stopped early: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func compact(s string) string {
	var v map[string]any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	var parts []string
	for _, k := range []string{"version", "accuracy", "loss", "examples", "seconds"} {
		if x, ok := v[k]; ok {
			if f, ok := x.(float64); ok && f != float64(int64(f)) {
				parts = append(parts, fmt.Sprintf("%s=%.4f", k, f))
			} else {
				parts = append(parts, fmt.Sprintf("%s=%v", k, x))
			}
		}
	}
	return strings.Join(parts, " ")
}

// thousands writes n with commas: 60,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// homeCredentials reads the credentials a master (tl master's, or this
// program's) wrote in home; a master from before credentials wrote none, and
// its server needs none.
func homeCredentials(home string) (m, a, c *queue.Credentials, err error) {
	read := func(role string) *queue.Credentials {
		cr, rerr := queue.HomeCredentials(home, role)
		if rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
		return cr
	}
	m, a, c = read(queue.RoleMaster), read(queue.RoleAgent), read(queue.RoleClient)
	return m, a, c, err
}
