package trainflags

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	if err := fs.Parse([]string{"--device", "tpu", "--record=false", "--home", "/h"}); err != nil {
		t.Fatal(err)
	}
	if f.Device != "tpu" || f.Record || f.Home != "/h" {
		t.Fatalf("parsed %+v", f)
	}
	_, _, err := f.OpenDevice()
	if err == nil || !strings.Contains(err.Error(), `--device "tpu": want cpu or cuda`) || ExitCode(err) != 2 {
		t.Fatalf("--device tpu: err %v, exit code %d; want a usage error, code 2", err, ExitCode(err))
	}
	f.Device = "cpu"
	dev, release, err := f.OpenDevice()
	if err != nil || dev != nil {
		t.Fatalf("--device cpu: %v, %v; want the CPU (nil), no error", dev, err)
	}
	release()
	db, release, err := f.OpenStore(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || db != nil {
		t.Fatalf("--record=false: %v, %v; want no store, no error", db, err)
	}
	release()
	f.Data = t.TempDir()
	if _, err := f.TrainImages(context.Background()); err == nil || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Fatalf("TrainImages from an empty folder: %v, want an error that says how to install the data set", err)
	}
	if c := ExitCode(io.EOF); c != 1 {
		t.Fatalf("ExitCode(EOF) = %d, want 1", c)
	}
}
