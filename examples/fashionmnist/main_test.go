package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlgo/tl/cuda/cudatest"
	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/internal/testenv"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/tensor"
	"github.com/tlgo/tl/train"
)

func needData(t *testing.T) {
	t.Helper()
	for _, f := range []string{"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"} {
		_, err := os.Stat(filepath.Join(formats.FashionMNISTDir, f))
		testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist; .ci/run does)", err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The short version of the full run: the MLP for 3 epochs on all 60,000 images
// must pass 85% on the 10,000 test images, and the saved model, rebuilt from its
// files alone, must score the same.
func TestMLPLearnsFashionMNIST(t *testing.T) {
	needData(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "model")
	res, err := run(ctx, options{Model: "mlp", Epochs: 3, Batch: 64, LR: 1e-3, DataDir: formats.FashionMNISTDir, SaveDir: dir, Seed: 1, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MLP, 3 epochs: test accuracy %.2f%%, trained in %s", 100*res.TestAccuracy, res.TrainTime)
	if res.TestAccuracy < 0.85 {
		t.Fatalf("test accuracy %.4f, want over 0.85", res.TestAccuracy)
	}

	g := graph.New(42)
	net, meta, err := modelio.Load(ctx, dir, g)
	if err != nil {
		t.Fatal(err)
	}
	if meta["model"] != "mlp" {
		t.Fatalf("metadata %v", meta)
	}
	testSet, err := formats.FashionMNIST(ctx, formats.FashionMNISTDir, formats.Test)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := feed.FromImages(testSet)
	loader, _ := feed.NewLoader(src, 1000)
	labels := g.Placeholder("label", tensor.Int32, -1)
	ev, err := train.NewEvaluator(train.Config{
		Inputs: []*graph.Node{net.InputLayers()[0].Output(), labels},
		Loss:   graph.SparseSoftmaxCrossEntropy(net.Output(), labels), Logits: net.Output(), Labels: labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	r, err := ev.Evaluate(ctx, loader)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy != res.TestAccuracy {
		t.Fatalf("the rebuilt model scores %.4f, the trained one %.4f", r.Accuracy, res.TestAccuracy)
	}
}

// The CNN learns too: one epoch on 6,000 images is well above chance (10%).
func TestCNNLearnsOnASubset(t *testing.T) {
	needData(t)
	res, err := run(context.Background(), options{Model: "cnn", Epochs: 1, Batch: 64, LR: 1e-3, DataDir: formats.FashionMNISTDir, Limit: 6000, Seed: 1, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CNN, 1 epoch of 6000 images: test accuracy %.2f%%, trained in %s", 100*res.TestAccuracy, res.TrainTime)
	if res.TestAccuracy < 0.65 {
		t.Fatalf("test accuracy %.4f, want over 0.65", res.TestAccuracy)
	}
}

func TestUnknownModel(t *testing.T) {
	if _, err := run(context.Background(), options{Model: "rnn", Epochs: 1, Batch: 64, LR: 1e-3, DataDir: formats.FashionMNISTDir, Limit: 100, Log: quiet()}); err == nil {
		t.Fatal("--model rnn: want an error")
	}
}

func TestMissingData(t *testing.T) {
	if _, err := run(context.Background(), options{Model: "mlp", Epochs: 1, Batch: 64, LR: 1e-3, DataDir: t.TempDir(), Log: quiet()}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty data folder: %v", err)
	}
}

// The same program on a device (a GPU, or the CPU emulator): the MLP trained on
// 3,000 images learns, and the model it saves — pulled from the device — scores
// on the CPU what it scored on the device.
func TestMLPOnDevice(t *testing.T) {
	needData(t)
	dev := cudatest.Open(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "model")
	res, err := run(ctx, options{Model: "mlp", Epochs: 1, Batch: 64, LR: 1e-3, Limit: 3000, DataDir: formats.FashionMNISTDir,
		SaveDir: dir, Seed: 1, Log: quiet(), Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MLP on %s, 1 epoch of 3,000 images: test accuracy %.2f%%", dev.Name(), 100*res.TestAccuracy)
	if res.TestAccuracy < 0.6 {
		t.Fatalf("test accuracy %.4f on the device, want over 0.6", res.TestAccuracy)
	}
	g := graph.New(42)
	net, _, err := modelio.Load(ctx, dir, g)
	if err != nil {
		t.Fatal(err)
	}
	testSet, err := formats.FashionMNIST(ctx, formats.FashionMNISTDir, formats.Test)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := feed.FromImages(testSet)
	loader, _ := feed.NewLoader(src, 1000)
	labels := g.Placeholder("label", tensor.Int32, -1)
	ev, err := train.NewEvaluator(train.Config{
		Inputs: []*graph.Node{net.InputLayers()[0].Output(), labels},
		Loss:   graph.SparseSoftmaxCrossEntropy(net.Output(), labels), Logits: net.Output(), Labels: labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	r, err := ev.Evaluate(ctx, loader)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Accuracy-res.TestAccuracy) > 0.002 {
		t.Fatalf("the saved model scores %.4f on the CPU, %.4f on the device", r.Accuracy, res.TestAccuracy)
	}
}
