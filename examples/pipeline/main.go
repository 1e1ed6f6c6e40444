// Command pipeline runs the TensorLayer paper's whole workflow on one machine with
// nothing installed: the dataset, model and workflow modules on embedded servers,
// and the layers and engine underneath.
//
//  1. It starts NATS JetStream and the store (embedded FerretDB over SQLite) in
//     this process, a master, and an agent that runs the train and evaluate kinds.
//  2. It imports Fashion-MNIST's IDX files into the dataset module: samples are
//     documents tagged "train" or "test", and two datasets are tag queries.
//  3. It submits a training plan — train a network on "train", then evaluate it on
//     "test" — which the master queues and the agent runs.
//  4. It prints the plan's progress, the model versions the plan saved, and the
//     best version by test accuracy (the paper's find_top_model).
//
// Run it again and it reuses the imported data and adds a model version. With
// --mongo and --nats it uses a real cluster instead.
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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/mltasks"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/dataset"
	"github.com/tlgo/tl/datasets"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

type options struct {
	Home, Data, Mongo, NATS, Arch string
	Epochs, Limit, Batch          int
	LR                            float64
	Out                           io.Writer
	Log                           *slog.Logger
}

func main() {
	var o options
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	home, _ := os.UserHomeDir()
	fs.StringVar(&o.Home, "home", filepath.Join(home, ".tl", "pipeline"), "directory of the embedded servers' data")
	fs.StringVar(&o.Data, "data", datasets.FashionMNISTDir, "directory of Fashion-MNIST's IDX files (apt-get install dataset-fashion-mnist)")
	fs.StringVar(&o.Mongo, "mongo", os.Getenv("TL_MONGO_URL"), "MongoDB URL; empty runs the store in-process [TL_MONGO_URL]")
	fs.StringVar(&o.NATS, "nats", os.Getenv("TL_NATS_URL"), "NATS URL; empty runs nats-server in-process [TL_NATS_URL]")
	fs.StringVar(&o.Arch, "arch", "mlp", "network to train: mlp or cnn")
	fs.IntVar(&o.Epochs, "epochs", 2, "training epochs")
	fs.IntVar(&o.Limit, "limit", 0, "train on at most this many samples (0: all 60,000)")
	fs.IntVar(&o.Batch, "batch", 64, "batch size")
	fs.Float64Var(&o.LR, "lr", 1e-3, "Adam learning rate")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pipeline [flags]\n\nRuns the paper's workflow on embedded servers: imports Fashion-MNIST into the\ndataset module, submits a train-then-evaluate plan, and shows the models it saved.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	o.Out = os.Stdout
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Arch != "mlp" && o.Arch != "cnn" {
		return fmt.Errorf("--arch %q: want mlp or cnn", o.Arch)
	}
	// 1. Servers, master, agent.
	if o.NATS == "" {
		srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(o.Home, "nats")})
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		defer srv.Shutdown()
		o.NATS = srv.URL()
	}
	cfg := store.Config{URL: o.Mongo, Logger: o.Log}
	if o.Mongo == "" {
		cfg.DataDir = filepath.Join(o.Home, "store")
	}
	db, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(o.Out, "servers: nats %s, store %s\n", o.NATS, db.URL())
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return err
	}
	m, err := master.New(ctx, master.Config{NATSURL: o.NATS, Store: st, Log: o.Log})
	if err != nil {
		return err
	}
	// The master and the agent stop (ctx cancelled, both waited for) before the
	// servers they use shut down.
	errc := make(chan error, 2)
	running := 0
	defer func() {
		cancel()
		for ; running > 0; running-- {
			<-errc
		}
	}()
	running++
	go func() { errc <- m.Run(ctx) }()
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		return err
	}
	if err := mltasks.Register(reg); err != nil {
		return err
	}
	a, err := agent.New(ctx, agent.Config{NATSURL: o.NATS, Registry: reg, Services: db, Log: o.Log, AckWait: time.Minute})
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
		stats, err := dataset.ImportIDX(ctx, coll, filepath.Join(o.Data, split.images), filepath.Join(o.Data, split.labels),
			dataset.FashionMNISTClasses(), dataset.ImportOptions{Tags: []string{split.tag}, KeyPrefix: split.tag + "-", SkipExisting: true, Label: "import " + split.tag})
		if err != nil {
			return fmt.Errorf("importing Fashion-MNIST %s (is dataset-fashion-mnist installed, or --data set?): %w", split.tag, err)
		}
		if _, err := coll.Define(ctx, "fashion-"+split.tag, dataset.Query{Tags: []string{split.tag}}); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "dataset fashion-%s: %+v\n", split.tag, stats)
	}

	// 3. The plan.
	spec := &plan.Spec{Name: "fashion-" + o.Arch, Tasks: []plan.TaskSpec{
		{ID: "train", Kind: "train", Input: "fashion-train", Model: "fashion-" + o.Arch, MaxAttempts: 2,
			Params: map[string]any{"arch": o.Arch, "epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "limit": o.Limit}},
		{ID: "evaluate", Kind: "evaluate", Deps: []string{"train"}, Input: "fashion-test", Model: "fashion-" + o.Arch},
	}}
	nc, js, err := queue.Connect(ctx, o.NATS, "pipeline", o.Log)
	if err != nil {
		return err
	}
	defer nc.Close()
	id, err := master.Submit(ctx, js, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "submitted plan %s: train %s on fashion-train, then evaluate on fashion-test\n", id, o.Arch)
	if err := follow(ctx, st, id, o.Out, errc); err != nil {
		return err
	}

	// 4. What the model module now holds.
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return err
	}
	vs, err := ms.List(ctx, "fashion-"+o.Arch)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nmodel fashion-%s: %d version(s)\n", o.Arch, len(vs))
	for _, v := range vs {
		fmt.Fprintf(o.Out, "  v%d  %s  test accuracy %.4f  (trained on %s by %s)\n", v.Version, v.Created.Format(time.DateTime), v.Metrics["fashion-test_accuracy"], v.Lineage.Dataset, v.Lineage.Task)
	}
	top, err := ms.Top(ctx, models.TopQuery{Metric: "fashion-test_accuracy", K: 1})
	if err != nil {
		return err
	}
	if len(top) > 0 {
		fmt.Fprintf(o.Out, "best model by test accuracy: %s v%d (%.4f)\n", top[0].Name, top[0].Version, top[0].Metrics["fashion-test_accuracy"])
	}
	return nil
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
