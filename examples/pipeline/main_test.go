package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/internal/testenv"
)

// The whole workflow on embedded servers: import, plan, train, evaluate, models.
func TestPipelineEndToEnd(t *testing.T) {
	_, err := os.Stat(filepath.Join(formats.FashionMNISTDir, "t10k-images-idx3-ubyte.gz"))
	testenv.Require(t, "Fashion-MNIST (apt-get install dataset-fashion-mnist)", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o := options{Home: t.TempDir(), Data: formats.FashionMNISTDir, Arch: "mlp", Epochs: 1, Limit: 3000, Batch: 64, LR: 2e-3,
		Out: &out, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := run(ctx, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"dataset fashion-train: 60,000 samples (60,000 imported now, 0 already there)", "train    succeeded version=1", "evaluate succeeded version=1", "model fashion-mlp: 1 version(s)", "best model by test accuracy: fashion-mlp v1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// A second run reuses the data and saves version 2.
	out.Reset()
	if err := run(ctx, o); err != nil {
		t.Fatalf("second run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"(0 imported now, 60,000 already there)", "model fashion-mlp: 2 version(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("second run's output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadArch(t *testing.T) {
	if err := run(context.Background(), options{Arch: "resnet", Out: io.Discard}); err == nil || !strings.Contains(err.Error(), "resnet") {
		t.Fatalf("--arch resnet: %v", err)
	}
}
