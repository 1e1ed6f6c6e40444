package main

import (
	"context"
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
	"github.com/tlgo/tl/internal/bytesize"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// storeConn holds the flags of the commands that read only the store
// (models, runs, curve, datasets, import, export): no NATS.
type storeConn struct{ conn }

func (c *storeConn) flags(fs *pflag.FlagSet) { c.conn.flags(fs, false) }

// storeCommand gives cmd the store's flags and, as what it does, run with
// the store open.
func storeCommand(cmd *cobra.Command, run func(ctx context.Context, db *store.DB, args []string) error) *cobra.Command {
	var c storeConn
	c.flags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		return c.withStore(ctx, func(db *store.DB) error { return run(ctx, db, args) })
	}
	return cmd
}

// modelSummary is a line of 'tl models' and its JSON form.
type modelSummary struct {
	Name     string             `json:"name"`
	Latest   int64              `json:"latest"`
	Versions int                `json:"versions"`
	Created  time.Time          `json:"created"` // of the latest version
	Aliases  map[string]int64   `json:"aliases"`
	Metrics  map[string]float64 `json:"metrics"` // of the latest version
}

// versionInfo is a line of 'tl models NAME' and its JSON form.
type versionInfo struct {
	Version int64              `json:"version"`
	Created time.Time          `json:"created"`
	Size    int64              `json:"size"`
	SHA256  string             `json:"sha256"`
	Format  string             `json:"format"`
	Metrics map[string]float64 `json:"metrics"`
	Params  map[string]any     `json:"params,omitempty"`
	Aliases []string           `json:"aliases"`
	Lineage lineageJSON        `json:"lineage"`
}

// lineageJSON is models.Lineage with JSON names (the struct has BSON ones only).
type lineageJSON struct {
	Dataset string `json:"dataset,omitempty"`
	Task    string `json:"task,omitempty"`
	Run     string `json:"run,omitempty"`
	Parent  string `json:"parent,omitempty"`
}

func newModelsCmd(stdout, _ io.Writer) *cobra.Command {
	var asJSON bool
	cmd := storeCommand(&cobra.Command{
		Use:   "models [NAME]",
		Short: "list the saved models, or one model's versions and metrics",
		Long: `Without NAME, lists the project's models: latest version, number of versions,
aliases and the latest version's metrics. With NAME, lists each version of that
model: created, weight size, metrics (rounded to 4 digits; --json has them
whole), the aliases that point at it, lineage.`,
		Args: nargs(0, 1),
	}, func(ctx context.Context, db *store.DB, args []string) error {
		ms, err := models.New(ctx, db, models.Options{})
		if err != nil {
			return fmt.Errorf("open the model store of project %q: %w", db.Project(), err)
		}
		if len(args) == 0 {
			return listModels(ctx, ms, asJSON, stdout)
		}
		return showModel(ctx, ms, args[0], asJSON, stdout)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func listModels(ctx context.Context, ms *models.Store, asJSON bool, out io.Writer) error {
	names, err := ms.Names(ctx)
	if err != nil {
		return fmt.Errorf("list models of project %q: %w", ms.Project(), err)
	}
	sums := make([]modelSummary, 0, len(names))
	for _, name := range names {
		vs, err := ms.List(ctx, name)
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", name, err)
		}
		if len(vs) == 0 {
			continue // deleted between Names and List
		}
		aliases, err := ms.Aliases(ctx, name)
		if err != nil {
			return fmt.Errorf("aliases of %s: %w", name, err)
		}
		last := vs[len(vs)-1]
		sums = append(sums, modelSummary{Name: name, Latest: last.Version, Versions: len(vs),
			Created: last.Created, Aliases: aliases, Metrics: orEmpty(last.Metrics)})
	}
	if asJSON {
		return writeJSON(out, map[string]any{"project": ms.Project(), "models": sums})
	}
	if len(sums) == 0 {
		fmt.Fprintf(out, "no models in project %q\n", ms.Project())
		return nil
	}
	w := table(out, "MODEL\tLATEST\tVERSIONS\tCREATED\tALIASES\tMETRICS (latest)")
	for _, s := range sums {
		var as []string
		for _, a := range slices.Sorted(maps.Keys(s.Aliases)) {
			as = append(as, fmt.Sprintf("%s=v%d", a, s.Aliases[a]))
		}
		fmt.Fprintf(w, "%s\tv%d\t%d\t%s\t%s\t%s\n", s.Name, s.Latest, s.Versions,
			s.Created.Local().Format(time.DateTime), dash(strings.Join(as, " ")), dash(metricPairs(s.Metrics)))
	}
	return w.Flush()
}

func showModel(ctx context.Context, ms *models.Store, name string, asJSON bool, out io.Writer) error {
	vs, err := ms.List(ctx, name)
	if err != nil {
		return fmt.Errorf("list versions of %s: %w", name, err)
	}
	if len(vs) == 0 {
		return unknownModel(ctx, ms, name)
	}
	aliases, err := ms.Aliases(ctx, name)
	if err != nil {
		return fmt.Errorf("aliases of %s: %w", name, err)
	}
	byVersion := map[int64][]string{}
	for _, a := range slices.Sorted(maps.Keys(aliases)) {
		byVersion[aliases[a]] = append(byVersion[aliases[a]], a)
	}
	infos := make([]versionInfo, len(vs))
	keys := map[string]bool{}
	for i, m := range vs {
		infos[i] = versionInfo{Version: m.Version, Created: m.Created, Size: m.Weights.Size,
			SHA256: m.Weights.SHA256, Format: m.Weights.Format, Metrics: orEmpty(m.Metrics),
			Params: m.Params, Aliases: orNone(byVersion[m.Version]), Lineage: lineageJSON(m.Lineage)}
		for k := range m.Metrics {
			keys[k] = true
		}
	}
	if asJSON {
		return writeJSON(out, map[string]any{"project": ms.Project(), "name": name, "versions": infos, "aliases": aliases})
	}
	// One column per metric, so versions compare at a glance.
	cols := slices.Sorted(maps.Keys(keys))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprint(w, "VERSION\tCREATED\tSIZE")
	for _, k := range cols {
		fmt.Fprint(w, "\t"+strings.ToUpper(k))
	}
	fmt.Fprintln(w, "\tALIASES\tLINEAGE")
	for _, v := range infos {
		fmt.Fprintf(w, "v%d\t%s\t%s", v.Version, v.Created.Local().Format(time.DateTime), bytesize.Format(v.Size))
		for _, k := range cols {
			cell := "-"
			if x, ok := v.Metrics[k]; ok {
				cell = formatMetric(x)
			}
			fmt.Fprint(w, "\t"+cell)
		}
		fmt.Fprintf(w, "\t%s\t%s\n", dash(strings.Join(v.Aliases, " ")), dash(lineage(models.Lineage(v.Lineage))))
	}
	return w.Flush()
}

// unknownModel is the error for a name with no versions: it names the model
// and lists the ones that exist, since a typo is the likely cause.
func unknownModel(ctx context.Context, ms *models.Store, name string) error {
	names, err := ms.Names(ctx)
	if err != nil {
		return fmt.Errorf("model %q is not in project %q (and listing the models failed: %w)", name, ms.Project(), err)
	}
	if len(names) == 0 {
		return fmt.Errorf("model %q is not in project %q, which has no models", name, ms.Project())
	}
	return fmt.Errorf("model %q is not in project %q; its models: %s", name, ms.Project(), strings.Join(names, ", "))
}

func lineage(l models.Lineage) string {
	var parts []string
	for _, f := range [][2]string{{"parent", l.Parent}, {"run", l.Run}, {"dataset", l.Dataset}, {"task", l.Task}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" "+f[1])
		}
	}
	return strings.Join(parts, ", ")
}

// metricPairs formats metrics as "accuracy=0.91 loss=0.27", sorted by name.
func metricPairs(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+formatMetric(m[k]))
	}
	return strings.Join(parts, " ")
}

func formatMetric(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// orEmpty and orNone keep JSON output as {} and [] rather than null.
func orEmpty(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
