package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/store/dataset"
)

func newImportJSONLCmd(stdout, stderr io.Writer) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "jsonl FILE",
		Short: "import samples from JSON Lines: feature vectors with class ids or regression targets",
		Long: `Imports FILE, one JSON object a line (blank lines skipped):

  {"key": "s-1", "x": [0.5, 1.2, ...], "target": [3.1, -0.4]}
  {"key": "s-2", "x": [...], "shape": [2, 4], "dtype": "uint8", "label": 3}

  key           the sample's key (default: the line number, 00000042)
  x             the values (required); shape (default [len(x)]) and dtype
                (float32, the default, int32 or uint8) say what they are
  label         the class id (default 0); label_name its name
  target        a float32 target tensor, for a regression (the train kind's
                loss mse); target_shape (default [len(target)], [] for a
                scalar). A dataset's samples all carry one, or none does.
  tags, fields  tags and user fields of the sample

Every line is checked before anything is written (unknown fields, shapes
that do not hold their values, keys repeated in the file, targets that are
not finite or over 64 KiB): a bad line fails the import, naming it.

` + importAbout,
		Example: "  tl import jsonl houses.jsonl --tags train --define houses\n  tl submit plan.yaml --wait   # a train task on houses: loss mse, metric mae",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importJSONL(cmd.Context(), &f, args[0], stdout, stderr)
		},
	}
	f.flags(cmd.Flags())
	return cmd
}

func importJSONL(ctx context.Context, f *importFlags, path string, stdout, stderr io.Writer) error {
	o, q, err := f.options(stderr)
	if err != nil {
		return err
	}
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		st, err := dataset.ImportJSONL(ctx, c, path, o)
		if err != nil {
			return importFailed(ctx, c, st, path, err, stdout)
		}
		return finishImport(ctx, c, st, f.define, q, stdout, stderr)
	})
}
