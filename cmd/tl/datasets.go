package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// firstKeys is how many sample keys 'tl datasets NAME' shows.
const firstKeys = 5

// allName stands for the whole collection in 'tl datasets'; parentheses
// keep it apart from a dataset's name.
const allName = "(all)"

// sampleFlags are the flags of the commands that use a sample collection:
// the store's and the collection's name.
type sampleFlags struct {
	storeConn
	collection string
}

func (f *sampleFlags) flags(fs *pflag.FlagSet) {
	f.storeConn.flags(fs)
	fs.StringVar(&f.collection, "collection", dataset.DefaultCollection, "MongoDB collection that holds the samples")
}

// withSamples opens the store and the sample collection, runs f with the
// collection and closes the store.
func (f *sampleFlags) withSamples(ctx context.Context, run func(*dataset.Collection) error) error {
	return f.withStore(ctx, func(db *store.DB) error {
		c, err := dataset.Open(ctx, db, dataset.Options{Collection: f.collection})
		if err != nil {
			return fmt.Errorf("open the samples of project %q: %w", db.Project(), err)
		}
		return run(c)
	})
}

// datasetSummary is a line of 'tl datasets' and its JSON form.
type datasetSummary struct {
	Name    string        `json:"name"`
	Query   dataset.Query `json:"query"`
	Samples int64         `json:"samples"`
}

// datasetInfo is 'tl datasets NAME' and its JSON form.
type datasetInfo struct {
	Project    string               `json:"project"`
	Collection string               `json:"collection"`
	Name       string               `json:"name"`
	Query      dataset.Query        `json:"query"`
	Samples    int64                `json:"samples"`
	Labels     []dataset.LabelCount `json:"labels"`
	Tags       []dataset.TagCount   `json:"tags"`
	FirstKeys  []string             `json:"first_keys"`
	// Targets counts the samples per target tensor kind and shape; absent
	// when no sample has one (labels are class ids alone).
	Targets []dataset.TargetCount `json:"targets,omitempty"`
}

func newDatasetsCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		f      sampleFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "datasets [NAME]",
		Short: "list the datasets and their sample counts, or show one",
		Long: `Without NAME, lists the datasets (named views) defined over the project's
samples: name, query, and how many samples it matches now; the line ` + allName + `
is the whole collection. With NAME, shows that dataset's query, its sample
count, its samples per label, per target tensor shape (when samples carry
targets: regression labels) and per tag, and its first keys in insertion
order. The counts are computed by the database; no payload is read.`,
		Args: nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return f.withSamples(ctx, func(c *dataset.Collection) error {
				if len(args) == 0 {
					return listDatasets(ctx, c, asJSON, stdout)
				}
				return showDataset(ctx, c, args[0], asJSON, stdout)
			})
		},
	}
	f.flags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func listDatasets(ctx context.Context, c *dataset.Collection, asJSON bool, out io.Writer) error {
	names, err := c.Datasets(ctx)
	if err != nil {
		return fmt.Errorf("list the datasets of project %q: %w", c.Project(), err)
	}
	sums := make([]datasetSummary, 0, len(names))
	for _, name := range names {
		d, err := c.Dataset(ctx, name)
		if errors.Is(err, dataset.ErrNotFound) {
			continue // removed between Datasets and Dataset
		}
		if err != nil {
			return fmt.Errorf("open dataset %s: %w", name, err)
		}
		n, err := d.Count(ctx)
		if err != nil {
			return fmt.Errorf("count dataset %s: %w", name, err)
		}
		sums = append(sums, datasetSummary{Name: name, Query: d.Query(), Samples: n})
	}
	all, err := c.All().Count(ctx)
	if err != nil {
		return fmt.Errorf("count the samples of project %q: %w", c.Project(), err)
	}
	if asJSON {
		return writeJSON(out, map[string]any{"project": c.Project(), "collection": c.Name(), "datasets": sums, "all": all})
	}
	w := table(out, "DATASET\tSAMPLES\tQUERY")
	for _, s := range sums {
		fmt.Fprintf(w, "%s\t%d\t%s\n", s.Name, s.Samples, dash(queryString(s.Query)))
	}
	fmt.Fprintf(w, "%s\t%d\t%s\n", allName, all, "every sample in collection "+c.Name())
	return w.Flush()
}

func showDataset(ctx context.Context, c *dataset.Collection, name string, asJSON bool, out io.Writer) error {
	d, err := openDataset(ctx, c, name)
	if err != nil {
		return err
	}
	info := datasetInfo{Project: c.Project(), Collection: c.Name(), Name: name, Query: d.Query()}
	if info.Samples, err = d.Count(ctx); err != nil {
		return fmt.Errorf("count dataset %s: %w", name, err)
	}
	if info.Labels, err = d.LabelCounts(ctx); err != nil {
		return fmt.Errorf("labels of dataset %s: %w", name, err)
	}
	if info.Tags, err = d.TagCounts(ctx); err != nil {
		return fmt.Errorf("tags of dataset %s: %w", name, err)
	}
	if info.FirstKeys, err = d.Keys(ctx, firstKeys); err != nil {
		return fmt.Errorf("keys of dataset %s: %w", name, err)
	}
	targets, err := d.TargetCounts(ctx)
	if err != nil {
		return fmt.Errorf("targets of dataset %s: %w", name, err)
	}
	if len(targets) > 1 || len(targets) == 1 && targets[0].Kind != "" {
		info.Targets = targets
	}
	if asJSON {
		info.Labels, info.Tags, info.FirstKeys = orNoneOf(info.Labels), orNoneOf(info.Tags), orNone(info.FirstKeys)
		return writeJSON(out, info)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "dataset:\t%s (project %q, collection %q)\n", name, c.Project(), c.Name())
	fmt.Fprintf(w, "query:\t%s\n", dash(queryString(info.Query)))
	fmt.Fprintf(w, "samples:\t%d\n", info.Samples)
	fmt.Fprintf(w, "first keys:\t%s\n", dash(strings.Join(info.FirstKeys, ", ")))
	if err := w.Flush(); err != nil {
		return err
	}
	if len(info.Labels) > 0 {
		fmt.Fprintln(out)
		w = table(out, "LABEL\tNAME\tSAMPLES")
		for _, l := range info.Labels {
			fmt.Fprintf(w, "%d\t%s\t%d\n", l.Label, dash(l.Name), l.Count)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(info.Targets) > 0 {
		fmt.Fprintln(out)
		w = table(out, "TARGET\tSHAPE\tSAMPLES")
		for _, t := range info.Targets {
			if t.Kind == "" {
				fmt.Fprintf(w, "(none)\t-\t%d\n", t.Count)
			} else {
				fmt.Fprintf(w, "%s\t%v\t%d\n", t.Kind, t.Shape, t.Count)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(info.Tags) > 0 {
		fmt.Fprintln(out)
		w = table(out, "TAG\tSAMPLES")
		for _, t := range info.Tags {
			fmt.Fprintf(w, "%s\t%d\n", t.Tag, t.Count)
		}
		return w.Flush()
	}
	return nil
}

// openDataset opens a defined dataset; for an unknown name the error lists
// the datasets that exist, since a typo is the likely cause.
func openDataset(ctx context.Context, c *dataset.Collection, name string) (*dataset.Dataset, error) {
	d, err := c.Dataset(ctx, name)
	if err == nil {
		return d, nil
	}
	if !errors.Is(err, dataset.ErrNotFound) {
		return nil, fmt.Errorf("open dataset %s: %w", name, err)
	}
	where := fmt.Sprintf("project %q, collection %q", c.Project(), c.Name())
	names, lerr := c.Datasets(ctx)
	switch {
	case lerr != nil:
		return nil, fmt.Errorf("dataset %q is not defined in %s (and listing the datasets failed: %w)", name, where, lerr)
	case len(names) == 0:
		return nil, fmt.Errorf("dataset %q is not defined in %s, which has no datasets", name, where)
	}
	return nil, fmt.Errorf("dataset %q is not defined in %s; its datasets: %s", name, where, strings.Join(names, ", "))
}

// queryString writes a query compactly: "tags=train,clean not=bad labels=1,2".
func queryString(q dataset.Query) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("tags", strings.Join(q.Tags, ","))
	add("any", strings.Join(q.AnyTags, ","))
	add("not", strings.Join(q.NotTags, ","))
	var ls []string
	for _, l := range q.Labels {
		ls = append(ls, strconv.Itoa(l))
	}
	add("labels", strings.Join(ls, ","))
	add("prefix", q.KeyPrefix)
	for _, k := range slices.Sorted(maps.Keys(q.Fields)) {
		add("fields."+k, fmt.Sprint(q.Fields[k]))
	}
	if q.MinSeq > 0 || q.MaxSeq > 0 {
		hi := ""
		if q.MaxSeq > 0 {
			hi = strconv.FormatInt(q.MaxSeq, 10)
		}
		add("seq", fmt.Sprintf("%d..%s", max(q.MinSeq, 1), hi))
	}
	if f := q.Fold; f != nil { // a cross-validation's view (tl cv)
		v := fmt.Sprintf("%d/%d", f.I, f.K)
		if f.Exclude {
			v = "all-but-" + v
		}
		if len(f.Strata) > 0 {
			v += ",stratified"
		}
		add("fold", v)
	}
	return strings.Join(parts, " ")
}

// importFlags are the flags shared by 'tl import idx' and 'tl import folder'.
type importFlags struct {
	sampleFlags
	tags, prefix, define string
	skipExisting, quiet  bool
	batch                int
}

func (f *importFlags) flags(fs *pflag.FlagSet) {
	f.sampleFlags.flags(fs)
	fs.StringVar(&f.tags, "tags", "", "comma-separated tags added to every imported sample, e.g. train,v1")
	fs.StringVar(&f.prefix, "prefix", "", "prefix of the imported samples' keys, e.g. train- (keeps another import of other files apart)")
	fs.StringVar(&f.define, "define", "", "also define the dataset NAME as the imported tags (and --prefix)")
	fs.BoolVar(&f.skipExisting, "skip-existing", true, "skip samples whose key exists already instead of failing, so an import can be rerun")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line on stderr")
	fs.IntVar(&f.batch, "batch", 256, "samples per insert")
}

// options checks the flags and returns the import options, and the query
// that --define stores.
func (f *importFlags) options(stderr io.Writer) (dataset.ImportOptions, dataset.Query, error) {
	var tags []string
	for t := range strings.SplitSeq(f.tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	q := dataset.Query{Tags: tags, KeyPrefix: f.prefix}
	if f.define != "" && len(tags) == 0 && f.prefix == "" {
		// The query would match every sample, not the imported ones.
		return dataset.ImportOptions{}, q, usageErrorf("--define needs --tags or --prefix, which select the imported samples")
	}
	if f.batch <= 0 {
		return dataset.ImportOptions{}, q, usageErrorf("--batch %d: expected a positive number", f.batch)
	}
	o := dataset.ImportOptions{BatchSize: f.batch, Tags: tags, KeyPrefix: f.prefix,
		SkipExisting: f.skipExisting, Quiet: f.quiet, Progress: stderr}
	return o, q, nil
}

const importAbout = `Imports samples into the project's sample collection, with a progress line
(rate, ETA) on stderr, and prints what was inserted and skipped.

  tl import idx IMAGES LABELS   an IDX images file and its labels file (MNIST,
                                Fashion-MNIST; gzipped or not): uint8 tensors,
                                keyed by index (00000, 00001, ...)
  tl import folder ROOT         ROOT/CLASS/IMAGE files (PNG, JPEG, ...), stored
                                as they are (not decoded), keyed CLASS/FILE,
                                labelled by the class's index in sorted order
  tl import cifar DIR           CIFAR-10's binary batches: 32x32x3 uint8
                                tensors, tagged train or test
  tl import jsonl FILE          JSON Lines of values with class ids or float32
                                targets (regression; see its --help)
  tl import ptb DIR             the PTB corpus, and tl import text8 FILE: windows
                                of word ids and a vocabulary (see their --help)

Keys are unique per project and collection. Importing the same files again
inserts nothing: each sample is reported skipped, and the stored ones keep
their tags (--tags does not retag them). Importing different files with the
same keys (the test split after the train split) skips them too: give each
its own --prefix. --skip-existing=false makes an existing key an error.
--define NAME defines the dataset NAME as the samples with all of --tags (and
--prefix); 'tl datasets NAME' shows it.`

func newImportCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import idx|folder|cifar|ptb|text8|jsonl ARGS",
		Short: "import IDX files or ROOT/CLASS/IMAGE files as samples (--define NAME)",
		Long:  importAbout,
		Args:  subcommandArgs("idx, folder, cifar, ptb, text8 or jsonl"),
		RunE:  func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newImportIDXCmd(stdout, stderr), newImportFolderCmd(stdout, stderr), newImportCIFARCmd(stdout, stderr), newImportPTBCmd(stdout, stderr), newImportText8Cmd(stdout, stderr), newImportJSONLCmd(stdout, stderr))
	return cmd
}

// subcommandArgs answers a command called without one of its subcommands
// (want) with a usage error naming what came instead.
func subcommandArgs(want string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		what := "nothing"
		if len(args) > 0 {
			what = strconv.Quote(args[0])
		}
		return usageErrorf("expected %s as the first argument, got %s", want, what)
	}
}

func newImportIDXCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		f       importFlags
		classes string
	)
	cmd := &cobra.Command{
		Use:     "idx IMAGES LABELS",
		Short:   "import an IDX images file and its labels file",
		Long:    importAbout,
		Example: "  tl import idx train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz --tags train --define fashion-train --classes fashion-mnist",
		Args:    nargs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importIDX(cmd.Context(), &f, classes, args[0], args[1], stdout, stderr)
		},
	}
	f.flags(cmd.Flags())
	cmd.Flags().StringVar(&classes, "classes", "", "label names: fashion-mnist, or comma-separated names by label (default: none)")
	return cmd
}

func importIDX(ctx context.Context, f *importFlags, classes, images, labels string, stdout, stderr io.Writer) error {
	o, q, err := f.options(stderr)
	if err != nil {
		return err
	}
	var names []string
	switch classes {
	case "":
	case "fashion-mnist":
		names = dataset.FashionMNISTClasses()
	default:
		names = strings.Split(classes, ",")
	}
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		st, err := dataset.ImportIDX(ctx, c, images, labels, names, o)
		if err != nil {
			return importFailed(ctx, c, st, images+" and "+labels, err, stdout)
		}
		return finishImport(ctx, c, st, f.define, q, stdout, stderr)
	})
}

func newImportFolderCmd(stdout, stderr io.Writer) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "folder ROOT",
		Short: "import ROOT/CLASS/IMAGE files, labelled by class",
		Long:  importAbout,
		Args:  nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importFolder(cmd.Context(), &f, args[0], stdout, stderr)
		},
	}
	f.flags(cmd.Flags())
	return cmd
}

func importFolder(ctx context.Context, f *importFlags, root string, stdout, stderr io.Writer) error {
	o, q, err := f.options(stderr)
	if err != nil {
		return err
	}
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		st, classes, err := dataset.ImportImageFolder(ctx, c, root, o)
		if err != nil {
			return importFailed(ctx, c, st, "image folder "+root, err, stdout)
		}
		var cs []string
		for i, name := range classes {
			cs = append(cs, fmt.Sprintf("%d=%s", i, name))
		}
		fmt.Fprintf(stdout, "classes: %s\n", strings.Join(cs, " "))
		return finishImport(ctx, c, st, f.define, q, stdout, stderr)
	})
}

// importFailed prints what a failed import of what inserted and returns its
// error, saying what a rerun does when it was interrupted.
func importFailed(ctx context.Context, c *dataset.Collection, st dataset.ImportStats, what string, err error, stdout io.Writer) error {
	printStats(stdout, c, st)
	return fmt.Errorf("import %s into collection %q%s: %w", what, c.Name(), resumeNote(ctx, st), err)
}

// resumeNote says, for an interrupted import, what a rerun does.
func resumeNote(ctx context.Context, st dataset.ImportStats) string {
	if ctx.Err() == nil {
		return ""
	}
	return fmt.Sprintf(" interrupted after %d samples inserted (they stay: rerunning the same command skips them and imports the rest)", st.Inserted)
}

func printStats(out io.Writer, c *dataset.Collection, st dataset.ImportStats) {
	rate := ""
	if s := st.Elapsed.Seconds(); s > 0 && st.Inserted > 0 {
		rate = fmt.Sprintf(" (%.0f samples/s)", float64(st.Inserted)/s)
	}
	fmt.Fprintf(out, "inserted %d, skipped %d in %s%s into collection %q of project %q\n",
		st.Inserted, st.Skipped, span(st.Elapsed), rate, c.Name(), c.Project())
}

// finishImport prints the stats of a successful import and defines the
// dataset --define names.
func finishImport(ctx context.Context, c *dataset.Collection, st dataset.ImportStats, define string, q dataset.Query, stdout, stderr io.Writer) error {
	printStats(stdout, c, st)
	if st.Skipped > 0 {
		fmt.Fprintf(stderr, "tl import: %d samples skipped: their keys were in collection %q already (the same files imported before? other files need their own --prefix)\n",
			st.Skipped, c.Name())
	}
	if define == "" {
		return nil
	}
	return defineDataset(ctx, c, define, q, stdout)
}

// defineDataset defines the dataset name as q and says how many samples it
// holds.
func defineDataset(ctx context.Context, c *dataset.Collection, name string, q dataset.Query, stdout io.Writer) error {
	d, err := c.Define(ctx, name, q)
	if err != nil {
		return fmt.Errorf("define dataset %s: %w", name, err)
	}
	n, err := d.Count(ctx)
	if err != nil {
		return fmt.Errorf("count dataset %s: %w", name, err)
	}
	fmt.Fprintf(stdout, "defined dataset %s: %s (%d samples)\n", name, queryString(q), n)
	return nil
}

const exportAbout = `Writes DATASET's samples, in insertion order, as an IDX images file and an
IDX labels file (gzipped when a name ends in .gz): the inverse of 'tl import
idx'. Every sample must be a uint8 tensor of one shape with a label in 0..255;
otherwise nothing is written. Prints the number of samples written.`

func newExportCmd(stdout, _ io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export idx ARGS",
		Short: "write a dataset of uint8 images to IDX files",
		Long:  exportAbout,
		Args:  subcommandArgs("idx"),
		RunE:  func(*cobra.Command, []string) error { return nil },
	}
	var f sampleFlags
	idx := &cobra.Command{
		Use:   "idx DATASET IMAGES LABELS",
		Short: "write a dataset to an IDX images file and an IDX labels file",
		Long:  exportAbout,
		Args:  nargs(3, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exportIDX(cmd.Context(), &f, args[0], args[1], args[2], stdout)
		},
	}
	f.flags(idx.Flags())
	cmd.AddCommand(idx)
	return cmd
}

func exportIDX(ctx context.Context, f *sampleFlags, name, images, labels string, stdout io.Writer) error {
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		d, err := openDataset(ctx, c, name)
		if err != nil {
			return err
		}
		start := time.Now()
		n, err := dataset.ExportIDX(ctx, d, images, labels)
		if err != nil {
			return fmt.Errorf("export dataset %s to %s and %s: %w", name, images, labels, err)
		}
		fmt.Fprintf(stdout, "exported %d samples of dataset %s to %s and %s in %s\n", n, name, images, labels, span(time.Since(start)))
		return nil
	})
}

// orNoneOf keeps JSON output as [] rather than null.
func orNoneOf[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
