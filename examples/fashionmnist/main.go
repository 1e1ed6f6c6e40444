// Command fashionmnist trains an MLP or a CNN on Fashion-MNIST, the real files
// that Debian's dataset-fashion-mnist package installs, with the training loop,
// the input pipeline, a progress bar and an evaluation on the 10,000 test images
// after every epoch.
//
//	go run ./examples/fashionmnist --model cnn --epochs 12
//
// Flags:
//
//	--model mlp|cnn   the network (default cnn)
//	--epochs N        epochs over the 60,000 training images
//	--batch B         batch size
//	--lr R            Adam's learning rate (cosine-decayed to 1% over the run)
//	--data DIR        where the IDX files are
//	--save DIR        write the trained model there (architecture.json, model.safetensors)
//	--home DIR        tl master's home ($TL_HOME, else ~/.tl): the model version and
//	                  its training curves are recorded in its store (or in the store
//	                  of the master running there), as NAME (--name, default
//	                  fashionmnist-MODEL): tl models NAME, tl runs NAME, tl curve NAME
//	--mongo URL       record in this MongoDB instead of the home's store
//	--record=false    record nothing
//	--limit N         train on the first N images only (quick checks)
//	--seed S          initialisation, shuffling and dropout seed
//	--cpuprofile F    write a CPU profile (go tool pprof)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/examples/internal/home"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/layers"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/mltasks/trainevents"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/optim"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
	"golang.org/x/term"
)

// options are the command's settings.
type options struct {
	// DB, if set, receives the run's training curves (events) and the trained
	// model as a version of Name, linked to the run.
	DB       *store.DB
	Name     string
	Model    string
	Epochs   int
	Batch    int
	LR       float64
	DataDir  string
	SaveDir  string
	Limit    int
	Seed     uint64
	Device   graph.Device // nil: the CPU
	Progress *os.File     // nil: no progress bar
	Summary  io.Writer    // nil: no network summary
	Log      *slog.Logger
}

// result is what a run measured.
type result struct {
	TestAccuracy float64
	TestLoss     float64
	Epochs       int
	Params       int
	TrainTime    time.Duration
	// Run is the run's ID in the events; Version the model version saved (0:
	// none).
	Run     string
	Version int64
}

// buildMLP is 784-256-128-10 with ReLU and dropout.
func buildMLP(g *graph.Graph) *layers.Layer {
	x := layers.Input(g, "image", -1, 28, 28, 1)
	h := layers.Flatten(x, "flatten")
	h = layers.Dense(h, "fc1", 256, layers.ReLU)
	h = layers.Dropout(h, "drop1", 0.8)
	h = layers.Dense(h, "fc2", 128, layers.ReLU)
	return layers.Dense(h, "logits", 10)
}

// buildCNN is two 3×3 convolution blocks (32 and 64 filters, ReLU, 2×2 max
// pooling), a 128-unit dense layer with dropout, and the logits.
func buildCNN(g *graph.Graph) *layers.Layer {
	x := layers.Input(g, "image", -1, 28, 28, 1)
	h := layers.Conv2D(x, "conv1", 32, 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool1", 2, 2)
	h = layers.Conv2D(h, "conv2", 64, 3, 3, layers.Same, layers.ReLU)
	h = layers.MaxPool2D(h, "pool2", 2, 2)
	h = layers.Flatten(h, "flatten")
	h = layers.Dense(h, "fc1", 128, layers.ReLU)
	h = layers.Dropout(h, "drop1", 0.5)
	return layers.Dense(h, "logits", 10)
}

func run(ctx context.Context, o options) (*result, error) {
	if o.Model != "mlp" && o.Model != "cnn" {
		return nil, fmt.Errorf("--model %q: want mlp or cnn", o.Model)
	}
	trainSet, err := formats.FashionMNIST(ctx, o.DataDir, formats.Train)
	if err != nil {
		return nil, err
	}
	testSet, err := formats.FashionMNIST(ctx, o.DataDir, formats.Test)
	if err != nil {
		return nil, err
	}
	if o.Limit > 0 && o.Limit < trainSet.N {
		if trainSet, err = trainSet.Slice(0, o.Limit); err != nil {
			return nil, err
		}
	}
	trainSrc, err := feed.FromImages(trainSet)
	if err != nil {
		return nil, err
	}
	testSrc, err := feed.FromImages(testSet)
	if err != nil {
		return nil, err
	}
	trainLoader, err := feed.NewLoader(trainSrc, o.Batch, feed.Shuffle(o.Seed))
	if err != nil {
		return nil, err
	}
	testLoader, err := feed.NewLoader(testSrc, 500)
	if err != nil {
		return nil, err
	}

	g := graph.New(o.Seed)
	var net *layers.Layer
	switch o.Model {
	case "mlp":
		net = buildMLP(g)
	case "cnn":
		net = buildCNN(g)
	default:
		return nil, fmt.Errorf("--model %q: want mlp or cnn", o.Model)
	}
	if err := net.Err(); err != nil {
		return nil, err
	}
	params := net.ParamCount()
	if o.Summary != nil {
		fmt.Fprint(o.Summary, net.Summary())
	}
	o.Log.Info("network", "model", o.Model, "params", params, "train", trainSet.N, "test", testSet.N, "batch", o.Batch, "epochs", o.Epochs)

	labels := g.Placeholder("label", tensor.Int32, -1)
	loss := graph.SparseSoftmaxCrossEntropy(net.Output(), labels)
	opt := optim.NewAdam(g, "adam", float32(o.LR), 0.9, 0.999, 1e-8)
	update, err := optim.Minimize(opt, loss, net.Trainable()...)
	if err != nil {
		return nil, err
	}
	cfg := train.Config{
		Inputs: []*graph.Node{net.InputLayers()[0].Output(), labels},
		Loss:   loss, Update: update, Logits: net.Output(), Labels: labels,
	}
	if o.Device != nil {
		cfg.Device = g.OnDevice(o.Device)
		defer cfg.Device.Close()
	}
	loop, err := train.New(cfg)
	if err != nil {
		return nil, err
	}
	defer loop.Close()
	ev, err := loop.NewEvaluator()
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	steps := o.Epochs * trainLoader.Batches()
	loop.Use(
		train.LearningRate(opt, optim.CosineDecay{Base: float32(o.LR), Steps: steps, Alpha: 0.01}),
		train.Evaluate(ev, testLoader, "test_"),
	)
	if o.Progress != nil && term.IsTerminal(int(o.Progress.Fd())) {
		loop.Use(train.Logger(o.Log, 0), train.ProgressBar(o.Progress))
	} else {
		// No bar to draw (a log file, CI): progress lines inside each epoch.
		loop.Use(train.LogProgress(o.Log, 0))
	}
	var w *events.Writer
	if o.DB != nil {
		if w, err = events.NewWriter(o.DB, events.Options{Model: o.Name}); err != nil {
			return nil, err
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if err := w.Close(cctx); err != nil {
				o.Log.Warn("training events not all written", "run", w.Run(), "err", err)
			}
		}()
		loop.Use(trainevents.Hook(w, trainevents.Options{Fields: map[string]any{
			"program": "examples/fashionmnist", "model": o.Model, "dataset": "fashion-mnist", "examples": trainSet.N,
			"epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "seed": o.Seed,
		}}))
		o.Log.Info("recording", "model", o.Name, "run", w.Run(), "store", redact.URL(o.DB.URL()))
	}
	start := time.Now()
	st, err := loop.Run(ctx, trainLoader, o.Epochs)
	if err != nil {
		return nil, err
	}
	res := &result{
		TestAccuracy: st.Values["test_accuracy"], TestLoss: st.Values["test_loss"],
		Epochs: st.Epoch + 1, Params: params, TrainTime: time.Since(start),
	}
	if w != nil {
		ms, err := models.New(ctx, o.DB, models.Options{})
		if err != nil {
			return nil, err
		}
		m, err := netstore.Save(ctx, ms, models.Spec{Name: o.Name,
			Params:  map[string]any{"model": o.Model, "epochs": o.Epochs, "batch": o.Batch, "lr": o.LR, "seed": o.Seed},
			Metrics: map[string]float64{"train_accuracy": st.Values["accuracy"], "train_loss": st.Values["loss"], "test_accuracy": res.TestAccuracy, "test_loss": res.TestLoss},
			Lineage: models.Lineage{Dataset: "fashion-mnist", Run: w.Run()},
		}, net)
		if err != nil {
			return nil, fmt.Errorf("saving model %s: %w", o.Name, err)
		}
		w.Log(events.Event{Phase: events.Train, Step: int64(st.Step), Fields: map[string]any{"model_version": m.Version}})
		res.Run, res.Version = w.Run(), m.Version
	}
	if o.SaveDir != "" {
		meta := map[string]string{"dataset": "fashion-mnist", "model": o.Model, "test_accuracy": fmt.Sprintf("%.4f", res.TestAccuracy)}
		if err := modelio.Save(ctx, o.SaveDir, net, meta); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func main() {
	var o options
	flag.StringVar(&o.Model, "model", "cnn", "network: mlp or cnn")
	flag.IntVar(&o.Epochs, "epochs", 12, "epochs over the training set")
	flag.IntVar(&o.Batch, "batch", 64, "batch size")
	flag.Float64Var(&o.LR, "lr", 1e-3, "Adam's learning rate (cosine-decayed to 1% over the run)")
	flag.StringVar(&o.DataDir, "data", formats.FashionMNISTDir, "folder of the Fashion-MNIST IDX files (apt-get install dataset-fashion-mnist)")
	flag.StringVar(&o.SaveDir, "save", "", "folder to save the trained model in (architecture.json, model.safetensors)")
	flag.IntVar(&o.Limit, "limit", 0, "train on the first N images only (0: all 60,000)")
	seed := flag.Uint64("seed", 1, "seed of initialisation, shuffling and dropout")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	homeDir := flag.String("home", home.Default(), "tl master's home, whose store records the model and its training curves [TL_HOME]")
	mongoURL := flag.String("mongo", os.Getenv("TL_MONGO_URL"), "record in this MongoDB instead of the home's store [TL_MONGO_URL]")
	record := flag.Bool("record", true, "record the model version and its training curves in the store (tl models, tl runs, tl curve)")
	flag.StringVar(&o.Name, "name", "", "the model's name in the store (default fashionmnist-MODEL)")
	device := flag.String("device", "cpu", "where to train: cpu, or cuda (GPU 0; the driver, cuBLAS and NVRTC are found at run time)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: fashionmnist [flags]\n\nTrains an MLP or a CNN on Fashion-MNIST and reports the test accuracy.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.Seed = *seed
	o.Progress = os.Stderr
	o.Summary = os.Stderr
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if o.Epochs <= 0 || o.Batch <= 0 || o.LR <= 0 {
		fmt.Fprintln(os.Stderr, "fashionmnist: --epochs, --batch and --lr must be positive")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fashionmnist:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	switch *device {
	case "cpu":
	case "cuda":
		d, err := cuda.Open(cuda.Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fashionmnist: --device cuda:", err)
			os.Exit(1)
		}
		defer d.Close()
		o.Device = d
		o.Log.Info("device", "name", d.Name())
	default:
		fmt.Fprintf(os.Stderr, "fashionmnist: --device %q: want cpu or cuda\n", *device)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.Name == "" {
		o.Name = "fashionmnist-" + o.Model
	}
	if *record {
		db, where, closeDB, err := home.OpenRecordStore(ctx, *homeDir, *mongoURL, o.Log)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fashionmnist:", err, "(--record=false trains without recording)")
			os.Exit(1)
		}
		defer closeDB()
		o.DB = db
		fmt.Fprintf(os.Stderr, "recording model %s and its training curves in %s\n", o.Name, where)
	}
	res, err := run(ctx, o)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "fashionmnist: the data is missing; install it with: apt-get install dataset-fashion-mnist")
		}
		fmt.Fprintln(os.Stderr, "fashionmnist:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
	fmt.Printf("%s: test accuracy %.2f%% (loss %.4f) after %d epochs, %d parameters, trained in %s\n",
		o.Model, 100*res.TestAccuracy, res.TestLoss, res.Epochs, res.Params, res.TrainTime.Round(time.Second))
	if res.Version > 0 {
		flags := ""
		if *mongoURL != "" {
			flags = " --mongo " + *mongoURL
		} else if *homeDir != home.Default() {
			flags = " --home " + *homeDir
		}
		fmt.Printf("saved as %s v%d (run %s): tl models %s%s; tl curve %s%s\n", o.Name, res.Version, res.Run, o.Name, flags, o.Name, flags)
	}
}
