package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store/dataset"
)

// cifarFile is a file of CIFAR-10's binary version and its split.
type cifarFile struct{ file, split string }

// cifarFiles are the files of CIFAR-10's binary version, in order.
func cifarFiles() []cifarFile {
	return []cifarFile{{"data_batch_1.bin", "train"}, {"data_batch_2.bin", "train"}, {"data_batch_3.bin", "train"},
		{"data_batch_4.bin", "train"}, {"data_batch_5.bin", "train"}, {"test_batch.bin", "test"}}
}

func newImportCIFARCmd(stdout, stderr io.Writer) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "cifar DIR",
		Short: "import CIFAR-10's binary batches (cifar-10-batches-bin) as images",
		Long: `Imports the batches of CIFAR-10's binary version found in DIR (the
cifar-10-batches-bin folder): data_batch_1.bin to data_batch_5.bin as the
split "train", test_batch.bin as "test", any subset present. Each 3073-byte
record becomes a uint8 tensor 32x32x3 (height, width, RGB), labelled with its
class and the class name (from batches.meta.txt, else CIFAR-10's ten names),
keyed PREFIX BATCH/0000 (data_batch_1/0000, ...), tagged with its split and
--tags, with the field batch. Every file is read and checked before anything
is written.

--define NAME defines NAME-train and NAME-test (the splits present): the
samples with the split's tag (and --tags) under --prefix. A rerun skips what
is stored.`,
		Example: "  tl import cifar cifar-10-batches-bin --define cifar10\n  tl submit examples/plans/cifar10-cnn.yaml --wait",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importCIFAR(cmd.Context(), &f, args[0], stdout, stderr)
		},
	}
	f.flags(cmd.Flags())
	setDefault(cmd, "prefix", "cifar10/")
	return cmd
}

// cifarBatch is a batch file read into memory.
type cifarBatch struct {
	name, split string
	im          *formats.Images
}

func importCIFAR(ctx context.Context, f *importFlags, dir string, stdout, stderr io.Writer) error {
	o, q, err := f.options(stderr)
	if err != nil {
		return err
	}
	// Every file first: a bad record anywhere fails before anything is written.
	var batches []cifarBatch
	var splits, looked []string
	total := 0
	for _, b := range cifarFiles() {
		path := filepath.Join(dir, b.file)
		looked = append(looked, b.file)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		im, err := formats.ReadCIFAR10(ctx, path)
		if err != nil {
			return fmt.Errorf("read CIFAR-10 batch: %w", err)
		}
		batches = append(batches, cifarBatch{strings.TrimSuffix(b.file, ".bin"), b.split, im})
		total += im.N
		if len(splits) == 0 || splits[len(splits)-1] != b.split {
			splits = append(splits, b.split)
		}
	}
	if len(batches) == 0 {
		return fmt.Errorf("no CIFAR-10 batch in %s: looked for %s (the binary version's cifar-10-batches-bin folder)", dir, strings.Join(looked, ", "))
	}
	classes := formats.CIFAR10Classes()
	if b, err := os.ReadFile(filepath.Join(dir, "batches.meta.txt")); err == nil {
		var names []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				names = append(names, l)
			}
		}
		if len(names) != 10 {
			return fmt.Errorf("%s: %d class names, want 10 (one per line)", filepath.Join(dir, "batches.meta.txt"), len(names))
		}
		classes = names
	}
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		src := func(yield func(dataset.Sample, error) bool) {
			for _, b := range batches {
				for i := range b.im.N {
					l := int(b.im.Labels[i])
					s := dataset.Sample{Key: fmt.Sprintf("%s/%04d", b.name, i),
						Tensor: dataset.Uint8Tensor([]int{32, 32, 3}, b.im.Image(i)),
						Label:  l, LabelName: classes[l], Tags: []string{b.split},
						Fields: map[string]any{"batch": b.name}}
					if !yield(s, nil) {
						return
					}
				}
			}
		}
		o.Total, o.Label = total, "import cifar-10"
		st, err := dataset.Import(ctx, c, iter.Seq2[dataset.Sample, error](src), o)
		if err != nil {
			return importFailed(ctx, c, st, "CIFAR-10 from "+dir, err, stdout)
		}
		var names []string
		for _, b := range batches {
			names = append(names, fmt.Sprintf("%s (%s, %d)", b.name, b.split, b.im.N))
		}
		fmt.Fprintf(stdout, "batches: %s\n", strings.Join(names, ", "))
		return finishSplits(ctx, c, st, f.define, q, splits, stdout, stderr)
	})
}
