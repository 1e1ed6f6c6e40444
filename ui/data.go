package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/bytesize"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
)

// errNotFound marks an unknown model, run, dataset or plan: a 404.
var errNotFound = errors.New("not found")

// metric is a named number, formatted for people.
type metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

func (m metric) Text() string { return fmtNum(m.Value) }

// fmtNum formats a metric to 4 significant digits, like tl models.
func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

func sortedMetrics(m map[string]float64) []metric {
	out := make([]metric, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, metric{k, m[k]})
	}
	return out
}

// modelRow is a line of the models page.
type modelRow struct {
	Name     string    `json:"name"`
	Latest   int64     `json:"latest"`
	Versions int       `json:"versions"`
	Approx   bool      `json:"versions_approx,omitempty"` // Versions is the latest number, not yet counted
	Created  time.Time `json:"created"`                   // of the latest version
	Size     int64     `json:"size"`                      // of the latest version
	Aliases  []alias   `json:"aliases"`
	Metrics  []metric  `json:"metrics"` // of the latest version
}

type alias struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

func sortedAliases(m map[string]int64) []alias {
	out := make([]alias, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, alias{k, m[k]})
	}
	return out
}

// listModels summarises the project's models. The versions are read in one
// query, without their architectures and parameters (FerretDB over SQLite
// scans the collection for every query, so a query per model would cost a
// scan each), and so are the aliases.
func listModels(ctx context.Context, db *store.DB) ([]modelRow, error) {
	dctx, cancel := store.Detach(ctx)
	defer cancel()
	proj := bson.D{{Key: "_id", Value: 0}, {Key: "name", Value: 1}, {Key: "version", Value: 1}, {Key: "created", Value: 1},
		{Key: "weights.size", Value: 1}, {Key: "metrics", Value: 1}}
	cur, err := db.Collection(models.ModelsCollection).Find(dctx, db.Scope(nil), options.Find().SetProjection(proj))
	if err != nil {
		return nil, fmt.Errorf("list the models of project %q: %w", db.Project(), err)
	}
	defer cur.Close(dctx)
	byName := map[string]*modelRow{}
	for cur.Next(dctx) {
		var m models.Model
		if err := bson.Unmarshal(cur.Current, &m); err != nil {
			return nil, fmt.Errorf("list the models of project %q: %w: %w", db.Project(), models.ErrCorrupt, err)
		}
		r := byName[m.Name]
		if r == nil {
			r = &modelRow{Name: m.Name}
			byName[m.Name] = r
		}
		r.Versions++
		if m.Version > r.Latest {
			r.Latest, r.Created, r.Size, r.Metrics = m.Version, m.Created, m.Weights.Size, sortedMetrics(m.Metrics)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("list the models of project %q: %w", db.Project(), err)
	}
	as, err := allAliases(dctx, db)
	if err != nil {
		return nil, err
	}
	rows := make([]modelRow, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		r := byName[name]
		r.Aliases = sortedAliases(as[name])
		rows = append(rows, *r)
	}
	return rows, nil
}

// allAliases reads every alias of the project in one query (models.Store
// reads them per model): model name, alias, version.
func allAliases(ctx context.Context, db *store.DB) (map[string]map[string]int64, error) {
	cur, err := db.Collection(models.AliasesCollection).Find(ctx, db.Scope(nil))
	if err != nil {
		return nil, fmt.Errorf("list the aliases of project %q: %w", db.Project(), err)
	}
	var docs []struct {
		Name    string `bson:"name"`
		Alias   string `bson:"alias"`
		Version int64  `bson:"version"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("list the aliases of project %q: %w", db.Project(), err)
	}
	out := map[string]map[string]int64{}
	for _, d := range docs {
		if out[d.Name] == nil {
			out[d.Name] = map[string]int64{}
		}
		out[d.Name][d.Alias] = d.Version
	}
	return out, nil
}

// version is a model version as the pages show it.
type version struct {
	Version int64          `json:"version"`
	Created time.Time      `json:"created"`
	Size    int64          `json:"size"`
	SHA256  string         `json:"sha256"`
	Format  string         `json:"format"`
	Metrics []metric       `json:"metrics"`
	Params  map[string]any `json:"params,omitempty"`
	Aliases []string       `json:"aliases"`
	Lineage lineage        `json:"lineage"`
	Parent  *parentRef     `json:"-"` // Lineage.Parent when it is a version of this project
}

// lineage is models.Lineage with JSON names and the parent resolved to a
// link when it is a version of this store ("name/v3" in the model ID).
type lineage struct {
	Dataset string `json:"dataset,omitempty"`
	Task    string `json:"task,omitempty"`
	Run     string `json:"run,omitempty"`
	Parent  string `json:"parent,omitempty"`
}

// Parent names the version's parent when its ID is one of this project's
// model versions ("LEN:PROJECT:NAME:vN", the ID package models gives them).
type parentRef struct {
	Name    string
	Version int64
}

func parseParent(id, project string) (parentRef, bool) {
	n, rest, ok := strings.Cut(id, ":")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l != len(project) || !strings.HasPrefix(rest, project+":") {
		return parentRef{}, false
	}
	rest = rest[len(project)+1:]
	i := strings.LastIndex(rest, ":v")
	if i <= 0 {
		return parentRef{}, false
	}
	v, err := strconv.ParseInt(rest[i+2:], 10, 64)
	if err != nil || v <= 0 {
		return parentRef{}, false
	}
	return parentRef{Name: rest[:i], Version: v}, true
}

// Metric is the version's value of a metric, formatted, or "".
func (v version) Metric(name string) string {
	for _, m := range v.Metrics {
		if m.Name == name {
			return m.Text()
		}
	}
	return ""
}

// modelPage is one model: its versions and the metric columns.
type modelPage struct {
	Name     string    `json:"name"`
	Aliases  []alias   `json:"aliases"`
	Versions []version `json:"versions"`
	Columns  []string  `json:"-"` // metric names, sorted
}

func showModel(ctx context.Context, ms *models.Store, name string) (*modelPage, error) {
	if err := store.ValidateName("model", name); err != nil {
		return nil, fmt.Errorf("model %q: %w (%w)", name, errNotFound, err)
	}
	vs, err := ms.List(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("list the versions of %s: %w", name, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("model %q is not in project %q: %w", name, ms.Project(), errNotFound)
	}
	as, err := ms.Aliases(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("aliases of %s: %w", name, err)
	}
	byVersion := map[int64][]string{}
	for _, a := range slices.Sorted(maps.Keys(as)) {
		byVersion[as[a]] = append(byVersion[as[a]], a)
	}
	p := &modelPage{Name: name, Aliases: sortedAliases(as)}
	cols := map[string]bool{}
	// Newest first: what a person looks for.
	for _, m := range slices.Backward(vs) {
		p.Versions = append(p.Versions, version{Version: m.Version, Created: m.Created, Size: m.Weights.Size,
			SHA256: m.Weights.SHA256, Format: m.Weights.Format, Metrics: sortedMetrics(m.Metrics), Params: m.Params,
			Aliases: byVersion[m.Version], Lineage: lineage(m.Lineage)})
		if pr, ok := parseParent(m.Lineage.Parent, ms.Project()); ok {
			p.Versions[len(p.Versions)-1].Parent = &pr
		}
		for k := range m.Metrics {
			cols[k] = true
		}
	}
	p.Columns = slices.Sorted(maps.Keys(cols))
	return p, nil
}

// compareRow is a line of the comparison: one field, its value per version.
type compareRow struct {
	Field  string
	Values []string
	Best   int  // index of the best value of a metric (-1: none)
	Differ bool // not all versions have the same value
}

// compare lays versions of a model side by side. Metrics named like a loss or
// an error are best when lowest, the others when highest.
func compare(p *modelPage, want []int64) ([]version, []compareRow, error) {
	var vs []version
	for _, n := range want {
		i := slices.IndexFunc(p.Versions, func(v version) bool { return v.Version == n })
		if i < 0 {
			return nil, nil, fmt.Errorf("model %s has no version %d: %w", p.Name, n, errNotFound)
		}
		vs = append(vs, p.Versions[i])
	}
	row := func(field string, f func(v version) string) compareRow {
		r := compareRow{Field: field, Best: -1}
		for _, v := range vs {
			r.Values = append(r.Values, f(v))
		}
		for _, x := range r.Values {
			r.Differ = r.Differ || x != r.Values[0]
		}
		return r
	}
	rows := []compareRow{
		row("created", func(v version) string { return v.Created.UTC().Format(time.DateTime) }),
		row("size", func(v version) string { return bytesize.Format(v.Size) }),
		row("format", func(v version) string { return v.Format }),
		row("sha256", func(v version) string { return short(v.SHA256, 12) }),
		row("aliases", func(v version) string { return strings.Join(v.Aliases, " ") }),
	}
	for _, k := range p.Columns {
		r := row(k, func(v version) string { return v.Metric(k) })
		lower := strings.Contains(k, "loss") || strings.Contains(k, "error") || strings.Contains(k, "perplexity")
		best := 0.0
		for i, v := range vs {
			for _, m := range v.Metrics {
				if m.Name == k && (r.Best < 0 || (lower && m.Value < best) || (!lower && m.Value > best)) {
					r.Best, best = i, m.Value
				}
			}
		}
		if !r.Differ {
			r.Best = -1
		}
		rows = append(rows, r)
	}
	params := map[string]bool{}
	for _, v := range vs {
		for k := range v.Params {
			params[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		rows = append(rows, row("param "+k, func(v version) string {
			x, ok := v.Params[k]
			if !ok {
				return ""
			}
			if str, ok := x.(string); ok {
				return str
			}
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // the template escapes
			if err := enc.Encode(x); err != nil {
				return fmt.Sprint(x)
			}
			return strings.TrimSpace(b.String())
		}))
	}
	rows = append(rows,
		row("dataset", func(v version) string { return v.Lineage.Dataset }),
		row("run", func(v version) string { return v.Lineage.Run }),
		row("task", func(v version) string { return v.Lineage.Task }),
		row("parent", func(v version) string {
			if v.Parent != nil {
				return fmt.Sprintf("%s v%d", v.Parent.Name, v.Parent.Version)
			}
			return v.Lineage.Parent
		}))
	return vs, rows, nil
}

// runRow is a line of the runs page: a run's summary.
type runRow struct {
	Run       string    `json:"run"`
	Model     string    `json:"model"`
	Events    int64     `json:"events"`
	FirstStep int64     `json:"first_step"`
	LastStep  int64     `json:"last_step"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Status    string    `json:"status,omitempty"`  // running, closed, or "" (not known)
	Version   int64     `json:"version,omitempty"` // of the model the run produced
	Last      []metric  `json:"last"`              // each metric's last value
}

// curve is one metric of one run: steps and values, as uPlot takes them.
type curve struct {
	X []int64   `json:"x"`
	Y []float64 `json:"y"`
}

// runSeries is what the run charts fetch: the curves of a run from a step on.
type runSeries struct {
	Run      string            `json:"run"`
	Model    string            `json:"model"`
	LastStep int64             `json:"last_step"`
	Events   int               `json:"events"`
	Curves   map[string]*curve `json:"curves"`  // by metric; other phases than train are prefixed ("validation/loss")
	Sampled  bool              `json:"sampled"` // some curve was downsampled
}

// downsample keeps at most n points of c: the points are cut into n/2
// buckets of consecutive steps, and each bucket gives its minimum and its
// maximum, in step order, so that spikes stay visible.
func downsample(c *curve, n int) *curve {
	buckets := max(n/2, 1)
	out := &curve{X: make([]int64, 0, 2*buckets), Y: make([]float64, 0, 2*buckets)}
	size := float64(len(c.X)) / float64(buckets)
	for b := range buckets {
		lo, hi := int(float64(b)*size), int(float64(b+1)*size)
		if b == buckets-1 {
			hi = len(c.X)
		}
		if lo >= hi {
			continue
		}
		mi, ma := lo, lo
		for i := lo; i < hi; i++ {
			if c.Y[i] < c.Y[mi] {
				mi = i
			}
			if c.Y[i] > c.Y[ma] {
				ma = i
			}
		}
		first, second := min(mi, ma), max(mi, ma)
		out.X, out.Y = append(out.X, c.X[first]), append(out.Y, c.Y[first])
		if second != first {
			out.X, out.Y = append(out.X, c.X[second]), append(out.Y, c.Y[second])
		}
	}
	return out
}

// allName stands for every sample of the collection, like in tl datasets.
const allName = "(all)"

// datasetRow is a line of the datasets page.
type datasetRow struct {
	Name    string        `json:"name"`
	Query   dataset.Query `json:"query"`
	Samples int64         `json:"samples"`
}

// QueryText is the dataset's query in a line.
func (d datasetRow) QueryText() string { return queryText(d.Query) }

func queryText(q dataset.Query) string {
	if b, err := json.Marshal(q); err == nil && string(b) != "{}" {
		return string(b)
	}
	return "every sample"
}

func listDatasets(ctx context.Context, c *dataset.Collection) ([]datasetRow, error) {
	names, err := c.Datasets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the datasets of collection %s: %w", c.Name(), err)
	}
	rows := make([]datasetRow, 0, len(names)+1)
	for _, name := range append([]string{allName}, names...) {
		d, err := openDataset(ctx, c, name)
		if err != nil {
			return nil, err
		}
		n, err := d.Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("count dataset %s: %w", name, err)
		}
		rows = append(rows, datasetRow{Name: name, Query: d.Query(), Samples: n})
	}
	return rows, nil
}

func openDataset(ctx context.Context, c *dataset.Collection, name string) (*dataset.Dataset, error) {
	if name == allName {
		return c.All(), nil
	}
	d, err := c.Dataset(ctx, name)
	if errors.Is(err, dataset.ErrNotFound) {
		return nil, fmt.Errorf("dataset %q is not defined over collection %s: %w (%w)", name, c.Name(), errNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open dataset %s: %w", name, err)
	}
	return d, nil
}

// thumbsPerPage is how many sample thumbnails a dataset page shows.
const thumbsPerPage = 48

// datasetPage is one dataset: counts, histogram, a page of sample keys.
type datasetPage struct {
	Name    string               `json:"name"`
	Query   dataset.Query        `json:"query"`
	Samples int64                `json:"samples"`
	Labels  []dataset.LabelCount `json:"labels"`
	Tags    []dataset.TagCount   `json:"tags"`
	Keys    []string             `json:"keys"` // of the page
	Page    int                  `json:"page"`
	Pages   int                  `json:"pages"`
	MaxN    int64                `json:"-"` // the largest label count, for the bars
}

func (d *datasetPage) QueryText() string { return queryText(d.Query) }

// Bar is a label count's bar width in percent of the largest.
func (d *datasetPage) Bar(n int64) int {
	if d.MaxN == 0 {
		return 0
	}
	return int((100*n + d.MaxN - 1) / d.MaxN)
}

func showDataset(ctx context.Context, c *dataset.Collection, name string, page int) (*datasetPage, error) {
	d, err := openDataset(ctx, c, name)
	if err != nil {
		return nil, err
	}
	p := &datasetPage{Name: name, Query: d.Query(), Page: max(page, 0)}
	if p.Samples, err = d.Count(ctx); err != nil {
		return nil, fmt.Errorf("count dataset %s: %w", name, err)
	}
	if p.Labels, err = d.LabelCounts(ctx); err != nil {
		return nil, err
	}
	if p.Tags, err = d.TagCounts(ctx); err != nil {
		return nil, err
	}
	for _, l := range p.Labels {
		p.MaxN = max(p.MaxN, l.Count)
	}
	p.Pages = int((p.Samples + thumbsPerPage - 1) / thumbsPerPage)
	if p.Page >= p.Pages && p.Pages > 0 {
		p.Page = p.Pages - 1
	}
	keys, err := d.Keys(ctx, (p.Page+1)*thumbsPerPage)
	if err != nil {
		return nil, err
	}
	p.Keys = keys[min(p.Page*thumbsPerPage, len(keys)):]
	return p, nil
}

// planRow is a line of the plans page.
type planRow struct {
	*status.Plan
	Progress string `json:"progress"`
	Tasks    int    `json:"tasks"`
	Done     int    `json:"done"`
	Failed   int    `json:"failed"`
}

func listPlans(ctx context.Context, st status.Store) ([]planRow, error) {
	ps, err := st.Plans(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("list the plans: %w", err)
	}
	rows := make([]planRow, 0, len(ps))
	for _, p := range ps {
		ts, err := st.Tasks(ctx, p.ID)
		if err != nil {
			return nil, fmt.Errorf("tasks of plan %s: %w", p.ID, err)
		}
		r := planRow{Plan: p, Progress: status.Progress(ts), Tasks: len(ts)}
		for _, t := range ts {
			switch t.Status {
			case plan.Succeeded:
				r.Done++
			case plan.Failed:
				r.Failed++
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// taskRow is a task as the plan page shows it: its record, its output's
// numbers (the trial table's columns) and where it sits in the graph.
type taskRow struct {
	*status.Task
	Deps    []string           `json:"deps"`
	Numbers map[string]float64 `json:"numbers,omitempty"`
	Retry   bool               `json:"-"` // can be retried
}

// Num is the task's value of an output number, formatted, or "".
func (t taskRow) Num(k string) string {
	if v, ok := t.Numbers[k]; ok {
		return fmtNum(v)
	}
	return ""
}

// NumSort is the value to sort the column by ("" sorts last).
func (t taskRow) NumSort(k string) string {
	if v, ok := t.Numbers[k]; ok {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return ""
}

// Attempts is "2/3", or "" before the first attempt.
func (t taskRow) Attempts() string {
	if t.Attempt == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", t.Attempt, t.AttemptBase+t.MaxAttempts)
}

// planPage is one plan.
type planPage struct {
	Plan     *status.Plan `json:"plan"`
	Progress string       `json:"progress"`
	Tasks    []taskRow    `json:"tasks"`
	Columns  []string     `json:"columns"` // numbers in the tasks' outputs
	Graph    *graph       `json:"-"`
	Finished bool         `json:"finished"`
}

func showPlan(ctx context.Context, st status.Store, id string) (*planPage, error) {
	p, err := st.Plan(ctx, id)
	if errors.Is(err, status.ErrNotFound) {
		return nil, fmt.Errorf("plan %q is not recorded: %w (%w)", id, errNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", id, err)
	}
	ts, err := st.Tasks(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tasks of plan %s: %w", id, err)
	}
	deps := map[string][]string{}
	var spec plan.Spec
	if err := json.Unmarshal([]byte(p.SpecJSON), &spec); err == nil {
		for _, t := range spec.Tasks {
			deps[t.ID] = t.Deps
		}
	}
	pp := &planPage{Plan: p, Progress: status.Progress(ts), Finished: !p.Finished.IsZero()}
	cols := map[string]bool{}
	for _, t := range ts {
		r := taskRow{Task: t, Deps: deps[t.ID], Numbers: outputNumbers(t.Output),
			Retry: t.Status == plan.Failed || t.Status == plan.Blocked || t.Status == plan.Cancelled}
		for k := range r.Numbers {
			cols[k] = true
		}
		pp.Tasks = append(pp.Tasks, r)
	}
	pp.Columns = slices.Sorted(maps.Keys(cols))
	pp.Graph = layout(pp.Tasks)
	return pp, nil
}

// outputNumbers are the top-level numbers of a task's JSON output (a trial's
// metrics).
func outputNumbers(out string) map[string]float64 {
	var m map[string]any
	if json.Unmarshal([]byte(out), &m) != nil {
		return nil
	}
	nums := map[string]float64{}
	for k, v := range m {
		if f, ok := v.(float64); ok {
			nums[k] = f
		}
	}
	if len(nums) == 0 {
		return nil
	}
	return nums
}

// workflow is what NATS says: the agents and the master that leads.
type workflow struct {
	Agents []queue.AgentInfo   `json:"agents"`
	Leader *master.LeaderInfo  `json:"leader"`
	Error  string              `json:"error,omitempty"` // why the rest is empty
	Queues map[string][]string `json:"-"`               // queue: agents serving it
}

func (s *Server) workflow(ctx context.Context) workflow {
	js, err := s.jetStream(ctx)
	if err != nil {
		return workflow{Error: redact.Text(err.Error())}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var w workflow
	if w.Agents, err = queue.ListAgents(ctx, js); err != nil {
		w.Error = "list the agents: " + redact.Text(err.Error())
	}
	if w.Leader, err = master.Leader(ctx, js); err != nil {
		w.Error = "find the master: " + redact.Text(err.Error())
	}
	w.Queues = map[string][]string{}
	for _, a := range w.Agents {
		for _, q := range a.Queues {
			w.Queues[q] = append(w.Queues[q], a.ID)
		}
	}
	return w
}

// queueRow is a line of the agents page's queues: who serves a queue and
// how many tasks wait on it.
type queueRow struct {
	Queue  string   `json:"queue"`
	Agents []string `json:"agents"`
	Queued int      `json:"queued"`
}

// queues joins the agents' queues with the tasks of the unfinished plans
// that wait on a queue (from the store; nil st: the agents' queues only).
func queues(ctx context.Context, st status.Store, w workflow) ([]queueRow, error) {
	byQueue := map[string]*queueRow{}
	row := func(q string) *queueRow {
		if byQueue[q] == nil {
			byQueue[q] = &queueRow{Queue: q}
		}
		return byQueue[q]
	}
	for _, a := range w.Agents {
		for _, q := range a.Queues {
			r := row(q)
			r.Agents = append(r.Agents, a.ID)
		}
	}
	if st != nil {
		ps, err := st.Plans(ctx, true)
		if err != nil {
			return nil, fmt.Errorf("list the unfinished plans: %w", err)
		}
		for _, p := range ps {
			ts, err := st.Tasks(ctx, p.ID)
			if err != nil {
				return nil, fmt.Errorf("tasks of plan %s: %w", p.ID, err)
			}
			for _, t := range ts {
				if t.Status == plan.Queued {
					row(t.Queue).Queued++
				}
			}
		}
	}
	out := make([]queueRow, 0, len(byQueue))
	for _, q := range slices.Sorted(maps.Keys(byQueue)) {
		out = append(out, *byQueue[q])
	}
	return out, nil
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
