package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/examples/internal/home"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/events/eventplot"
	"github.com/tlgo/tl/tensor"
)

// smallData writes Fashion-MNIST-shaped IDX files (n train, n/3 test images of
// 28×28 in 10 classes, class k lighting rows 2k..2k+3) under the real names.
func smallData(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, f *formats.IDX) {
		var b bytes.Buffer
		if err := formats.EncodeIDX(&b, f); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := tensor.NewRand(1)
	for _, s := range []struct {
		images, labels string
		n              int
	}{{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", n}, {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", n / 3}} {
		img := make([]byte, s.n*28*28)
		lbl := make([]byte, s.n)
		for i := range s.n {
			k := i % 10
			lbl[i] = byte(k)
			px := img[i*784 : (i+1)*784]
			for j := range px {
				px[j] = byte(rng.IntN(60))
			}
			for r := 2 * k; r < 2*k+4; r++ {
				for c := 4; c < 24; c++ {
					px[r*28+c] = 200 + byte(rng.IntN(55))
				}
			}
		}
		write(s.images, &formats.IDX{Type: formats.IDXUint8, Dims: []int{s.n, 28, 28}, Data: img})
		write(s.labels, &formats.IDX{Type: formats.IDXUint8, Dims: []int{s.n}, Data: lbl})
	}
	return dir
}

func smallOptions(t *testing.T, data string, out io.Writer) options {
	return options{Home: t.TempDir(), Data: data, Arch: "mlp", Epochs: 1, Batch: 32, LR: 3e-3,
		Out: out, Log: slog.New(slog.DiscardHandler), Grace: 200 * time.Millisecond}
}

func wants(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// The pipeline works in a home as tl master does, says where, and leaves
// there the datasets the README's plan names and the training curves of the
// model it trained; the endpoints it published while running are gone after.
func TestPipelineInTheHome(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o := smallOptions(t, smallData(t, 300), &out)
	if err := run(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	wants(t, out.String(), "data: home "+o.Home+": queues in "+filepath.Join(o.Home, "nats")+", store in "+filepath.Join(o.Home, "store"),
		"dataset fashion-train: 300 samples (300 imported now, 0 already there)", "dataset fashion-test: 100 samples",
		"train    succeeded version=1", "evaluate succeeded version=1", "model fashion-mlp: 1 version(s)",
		"training curves: tl runs fashion-mlp --home "+o.Home+"; tl curve fashion-mlp --home "+o.Home)
	if _, err := os.Stat(filepath.Join(o.Home, endpoints.File)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("endpoints.json left behind: %v", err)
	}
	h, err := home.Open(o.Home)
	if err != nil {
		t.Fatalf("the home is still locked after the run: %v", err)
	}
	defer h.Close()
	db, err := h.OpenStore(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	evs, err := events.Find(ctx, db, events.Query{Model: "fashion-mlp"})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no training events for fashion-mlp in the home: %v", err)
	}
	if err := eventplot.Render(evs, io.Discard, eventplot.Options{Values: []string{"loss", "accuracy"}}); err != nil {
		t.Fatalf("tl curve fashion-mlp would fail: %v", err)
	}
}

// An import cut short by Ctrl-C says so, and does not blame a missing package.
func TestInterruptedImport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	o := smallOptions(t, smallData(t, 300), &out)
	var stages []string
	o.Stage = &stage{notify: func(s string) {
		stages = append(stages, s)
		if strings.HasPrefix(s, "the import of fashion-train") {
			cancel()
		}
	}}
	err := run(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "import of fashion-train interrupted") || strings.Contains(err.Error(), "installed") {
		t.Fatalf("err = %v, want the import interrupted and no installation hint", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if last := stages[len(stages)-1]; last != "the servers to stop" {
		t.Errorf("last stage %q, want the servers to stop (stages: %q)", last, stages)
	}
}

// A run interrupted while its plan runs leaves the plan unfinished; the next
// run says so and resumes it instead of submitting another.
func TestRerunResumesTheInterruptedPlan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data := smallData(t, 300)
	var out bytes.Buffer
	o := smallOptions(t, data, &out)
	first, stop := context.WithCancel(ctx)
	o.Stage = &stage{notify: func(s string) {
		if strings.HasPrefix(s, "plan ") {
			stop()
		}
	}}
	err := run(first, o)
	stop()
	if err == nil || !strings.Contains(err.Error(), "the next run resumes it") {
		t.Fatalf("first run: %v, want an interruption that says the plan is kept\n%s", err, out.String())
	}
	id := between(out.String(), "submitted plan ", ":")
	if id == "" {
		t.Fatalf("no plan submitted:\n%s", out.String())
	}

	out.Reset()
	o.Stage = nil
	o.Epochs = 2 // what the resumed plan does not do: say so
	if err := run(ctx, o); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	wants(t, out.String(), "unfinished plan "+id, "resuming plan "+id+" instead of submitting a new one",
		"it trains with arch mlp, batch 32, epochs 1", "not the arch mlp, batch 32, epochs 2", "model fashion-mlp: 1 version(s)")
	if strings.Contains(out.String(), "submitted plan") {
		t.Errorf("the second run submitted a plan besides resuming:\n%s", out.String())
	}
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// With a master running on the home (as tl master leaves it: the home's lock
// held, endpoints.json written), the pipeline works through that master and
// its servers, and says so.
func TestPipelineThroughTheRunningMaster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o := smallOptions(t, smallData(t, 300), &out)
	lock, err := endpoints.Lock(o.Home)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	// As tl master: credentials in the home, which the pipeline must use.
	auth, err := queue.LoadOrCreateAuth(o.Home)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := queue.HomeCredentials(o.Home, queue.RoleMaster)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(o.Home, "nats"), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	db, err := store.Open(ctx, store.Config{DataDir: filepath.Join(o.Home, "store")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.New(ctx, master.Config{NATSURL: srv.URL(), Credentials: mc, Store: st, Log: slog.New(slog.DiscardHandler), ID: "the-master"})
	if err != nil {
		t.Fatal(err)
	}
	mctx, stopMaster := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(mctx) }()
	defer func() { stopMaster(); <-done }()
	if err := endpoints.Write(o.Home, endpoints.Endpoints{NATS: srv.URL(), Mongo: db.URL(), Project: db.Project(), PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}

	if err := run(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	wants(t, out.String(), fmt.Sprintf("data: home %s, run by the master there (pid %d): nats %s, store %s", o.Home, os.Getpid(), srv.URL(), db.URL()),
		"train    succeeded version=1", "model fashion-mlp: 1 version(s)")
	if _, err := endpoints.Read(o.Home); err != nil {
		t.Errorf("the pipeline removed the master's endpoints.json: %v", err)
	}
}
