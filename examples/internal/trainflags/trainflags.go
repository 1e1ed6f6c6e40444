// Package trainflags is what the GAN examples' commands (examples/dcgan,
// examples/srgan) share around their training: the flags that say what they
// train on (--data, --limit), where (--device) and where they record (--home,
// --mongo, --record), opening what those name, and exiting on an error.
package trainflags

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/examples/internal/home"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/store"
)

// Flags are the values of the shared flags.
type Flags struct {
	Data        string // the Fashion-MNIST folder
	Limit       int    // the training images used; 0: all
	Home, Mongo string
	Record      bool
	Device      string
}

// Register adds --data, --limit, --home, --mongo, --record and --device to fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Data, "data", formats.FashionMNISTDir, "folder of the Fashion-MNIST IDX files (apt-get install dataset-fashion-mnist)")
	fs.IntVar(&f.Limit, "limit", 0, "train on the first N images only (0: all 60,000)")
	fs.StringVar(&f.Home, "home", home.Default(), "tl master's home, whose store records the models and their training curves [TL_HOME]")
	fs.StringVar(&f.Mongo, "mongo", os.Getenv("TL_MONGO_URL"), "record in this MongoDB instead of the home's store [TL_MONGO_URL]")
	fs.BoolVar(&f.Record, "record", true, "record the model versions and their training curves in the store")
	fs.StringVar(&f.Device, "device", "cpu", "where to train: cpu, or cuda (GPU 0)")
	return f
}

// usageError is a flag value the command does not take: exit code 2.
type usageError struct{ error }

// TrainImages reads the Fashion-MNIST training images from --data: the first
// --limit of them when it is set.
func (f *Flags) TrainImages(ctx context.Context) (*formats.Images, error) {
	im, err := formats.FashionMNIST(ctx, f.Data, formats.Train)
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install dataset-fashion-mnist)", err)
	}
	if f.Limit > 0 && f.Limit < im.N {
		return im.Slice(0, f.Limit)
	}
	return im, nil
}

// OpenDevice opens the device --device names: nil (the CPU) for cpu, GPU 0
// for cuda. release closes it.
func (f *Flags) OpenDevice() (dev graph.Device, release func(), err error) {
	switch f.Device {
	case "cpu":
		return nil, func() {}, nil
	case "cuda":
		d, err := cuda.Open(cuda.Config{})
		if err != nil {
			return nil, nil, fmt.Errorf("--device cuda: %w", err)
		}
		return d, func() { d.Close() }, nil
	}
	return nil, nil, usageError{fmt.Errorf("--device %q: want cpu or cuda", f.Device)}
}

// OpenStore opens the store that records the run: nil without --record.
// release closes it.
func (f *Flags) OpenStore(ctx context.Context, log *slog.Logger) (db *store.DB, release func(), err error) {
	if !f.Record {
		return nil, func() {}, nil
	}
	db, _, release, err = home.OpenRecordStore(ctx, f.Home, f.Mongo, log)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (--record=false trains without recording)", err)
	}
	return db, release, nil
}
