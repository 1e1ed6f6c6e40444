package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/mltasks"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/storetest"
	"github.com/tlgo/tl/sweep"
)

// tl sweep and tl cv against a master with the sweep controller and an agent
// with the train and evaluate kinds (in this process): submit --wait, status
// (table and PNG), list, stop; a spec with an inverted range is refused.
func TestSweepCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("trains models; skipped with -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	db := storetest.Backends()[0].Open(t)
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ss []dataset.Sample
	for i := range 120 {
		img := make([]uint8, 28*28)
		for c := range 28 {
			img[(2*(i%10))*28+c] = 255
		}
		ss = append(ss, dataset.Sample{Key: fmt.Sprintf("s%03d", i), Tensor: dataset.Uint8Tensor([]int{28, 28}, img), Label: i % 10, Tags: []string{"d"}})
	}
	if _, err := coll.Insert(ctx, ss...); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Define(ctx, "d", dataset.Query{Tags: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Define(ctx, "ones", dataset.Query{Labels: []int{1}}); err != nil { // 12 samples
		t.Fatal(err)
	}
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Store: st, Tick: 300 * time.Millisecond, Log: quietLog(),
		Controllers: []master.Controller{sweep.Master(sweep.ControllerConfig{DB: db, Status: st, NATSURL: srv.URL(), Log: quietLog(), Poll: 200 * time.Millisecond})}})
	if err != nil {
		t.Fatal(err)
	}
	mdone := make(chan struct{})
	go func() { defer close(mdone); _ = m.Run(ctx) }()
	defer func() { cancel(); <-mdone }()
	reg := task.NewRegistry()
	if err := mltasks.Register(reg); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(ctx, agent.Config{NATSURL: srv.URL(), Queues: []string{plan.DefaultQueue}, Registry: reg, Services: db,
		Log: quietLog(), ID: "cli-agent", Slots: 2, Grace: time.Second, RetryDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	adone := make(chan struct{})
	go func() { defer close(adone); _ = a.Run(ctx) }()
	defer func() { cancel(); <-adone }()

	dir := t.TempDir()
	conn := []string{"--nats", srv.URL(), "--mongo", dbURL(db)}
	tl := tlWith(t, conn)
	tls := tlWith(t, conn[2:]) // the commands that read only the store
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badSpec := write("bad.yaml", "name: bad\nbase: {input: d}\ntrials: 2\nmetric: accuracy\nspace: {lr: {loguniform: [0.1, 0.001]}}\n")
	if code, _, errOut := tl("sweep", badSpec); code == 0 || !strings.Contains(errOut, "space.lr: loguniform [0.1, 0.001] is inverted") {
		t.Fatalf("an inverted range: exit %d, %s", code, errOut)
	}
	spec := write("rnd.yaml", "name: clirnd\nbase: {input: d, params: {arch: mlp, batch: 16, log_every: 2}}\nalgorithm: random\ntrials: 2\nseed: 1\nmetric: accuracy\n"+
		"space: {lr: {loguniform: [0.001, 0.01]}}\n")
	code, out, errOut := tl("sweep", spec, "--wait", "--report-every", "1s")
	if code != 0 {
		t.Fatalf("tl sweep --wait: exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"sweep clirnd submitted: random search, 2 trials", "start trial 0 (plan sweep-clirnd-t0000-r0)", "start trial 1", "sweep clirnd finished", "best: trial", "alias sweep-clirnd-best"} {
		if !strings.Contains(out, want) {
			t.Errorf("tl sweep --wait output lacks %q:\n%s", want, out)
		}
	}
	png := filepath.Join(dir, "curves.png")
	code, out, errOut = tls("sweep", "status", "clirnd", "--png", png)
	if code != 0 {
		t.Fatalf("tl sweep status: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[1], "TRIAL ") || !strings.Contains(lines[2], "done") || !strings.Contains(lines[2], "lr=") ||
		!strings.HasPrefix(lines[4], "best so far: trial") || !strings.Contains(out, png) {
		t.Fatalf("tl sweep status: want a title, a header, 2 trials, the best and the PNG:\n%s", out)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("the curves PNG: %v", err)
	}
	if code, out, _ := tls("sweep", "list"); code != 0 || !strings.Contains(out, "clirnd") || !strings.Contains(out, "2/2") {
		t.Fatalf("tl sweep list: exit %d:\n%s", code, out)
	}
	if code, _, errOut := tls("sweep", "status", "nosuch"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("tl sweep status nosuch: exit %d: %s", code, errOut)
	}

	cv := write("cv.yaml", "name: clicv\ndataset: d\nk: 3\nstratified: true\nbase: {params: {arch: mlp, epochs: 1, batch: 16, lr: 0.003}}\n")
	code, out, errOut = tl("cv", cv, "--wait")
	if code != 0 {
		t.Fatalf("tl cv --wait: exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"cross-validation clicv submitted: 3 folds of d, stratified", "fold 2: done accuracy", "cv-clicv-0-train", "accuracy: mean "} {
		if !strings.Contains(out, want) {
			t.Errorf("tl cv --wait output lacks %q:\n%s", want, out)
		}
	}
	if code, out, _ := tls("datasets"); code != 0 || !strings.Contains(out, "fold=all-but-0/3,stratified") || !strings.Contains(out, "fold=2/3,stratified") {
		t.Fatalf("tl datasets: the fold views' queries: exit %d:\n%s", code, out)
	}
	if code, out, _ := tls("cv", "list"); code != 0 || !strings.Contains(out, "clicv") {
		t.Fatalf("tl cv list: exit %d:\n%s", code, out)
	}
	tooMany := write("cv2.yaml", "name: clicv2\ndataset: ones\nk: 13\nbase: {params: {arch: mlp}}\n")
	if code, _, errOut := tl("cv", tooMany); code == 0 || !strings.Contains(errOut, "larger than the view") {
		t.Fatalf("tl cv with k over the view's size: exit %d: %s", code, errOut)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
