package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/bytesize"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
)

// pageNames are the templates under assets/templates, each rendered inside
// layout.html.
var pageNames = []string{"models", "model", "compare", "runs", "datasets", "dataset", "plans", "plan", "sweeps", "sweep", "agents", "error"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"path":  url.PathEscape,
		"bytes": bytesize.Format,
		"num":   fmtNum,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return time.Since(t).Round(time.Second).String() + " ago"
		},
		"short": short,
		"join":  strings.Join,
		"add":   func(a, b int) int { return a + b },
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "assets/templates/layout.html", "assets/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// page is what every template gets.
type page struct {
	Title     string
	Nav       string // the section the page belongs to
	Refresh   int64  // poll period in ms; 0: no polling
	Project   string
	StoreName string
	Control   bool   // cancel and retry are on
	CSRF      string // for the control forms
	Flash     string // a message after a control request
	Status    int
	D         any // the page's data
}

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/models", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /models", s.modelsPage)
	mux.HandleFunc("GET /models/{name}", s.modelPage)
	mux.HandleFunc("GET /models/{name}/compare", s.comparePage)
	mux.HandleFunc("GET /runs", s.runsPage)
	mux.HandleFunc("GET /runs/{run}", s.runsPage)
	mux.HandleFunc("GET /runs/{run}/image.png", s.runImage)
	mux.HandleFunc("GET /datasets", s.datasetsPage)
	mux.HandleFunc("GET /datasets/{name}", s.datasetPage)
	mux.HandleFunc("GET /datasets/{name}/sample.png", s.samplePNG)
	mux.HandleFunc("GET /plans", s.plansPage)
	mux.HandleFunc("GET /plans/{id}", s.planPage)
	mux.HandleFunc("POST /plans/{id}/cancel", s.control)
	mux.HandleFunc("POST /plans/{id}/retry", s.control)
	mux.HandleFunc("GET /sweeps", s.sweepsPage)
	mux.HandleFunc("GET /sweeps/{name}", s.sweepPage)
	mux.HandleFunc("GET /agents", s.agentsPage)

	mux.HandleFunc("GET /api/models", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return s.models(ctx, c)
	}))
	mux.HandleFunc("GET /api/models/{name}", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return showModel(ctx, c.ms, r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/runs", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		rows, _, err := listRuns(ctx, c.db)
		return rows, err
	}))
	mux.HandleFunc("GET /events", s.stream)
	mux.HandleFunc("GET /api/series", s.api(s.seriesAPI))
	mux.HandleFunc("GET /api/datasets", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return listDatasets(ctx, c.ds)
	}))
	mux.HandleFunc("GET /api/datasets/{name}", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
		return showDataset(ctx, c.ds, r.PathValue("name"), pg)
	}))
	mux.HandleFunc("GET /api/plans", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		ps, err := listPlans(ctx, c.st)
		if err != nil {
			return nil, err
		}
		return map[string]any{"plans": ps, "workflow": s.workflow(ctx)}, nil
	}))
	mux.HandleFunc("GET /api/plans/{id}", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return showPlan(ctx, c.st, r.PathValue("id"))
	}))
	mux.HandleFunc("GET /api/sweeps", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return listSweeps(ctx, c.db)
	}))
	mux.HandleFunc("GET /api/sweeps/{name}", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return showSweep(ctx, c.db, r.PathValue("name"))
	}))
	mux.HandleFunc("GET /api/agents", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.workflow(r.Context()))
	})
	mux.HandleFunc("GET /api/queues", s.api(func(ctx context.Context, c conns, r *http.Request) (any, error) {
		return queues(ctx, c.st, s.workflow(ctx))
	}))
}

// base is the page data every page starts from.
func (s *Server) base(r *http.Request, title, nav string, c conns) page {
	p := page{Title: title, Nav: nav, Refresh: s.cfg.Refresh.Milliseconds(), StoreName: redact.URL(s.cfg.StoreName),
		Control: s.cfg.Token != "", Flash: flash(r.URL.Query().Get("sent")), Status: http.StatusOK}
	if p.Control {
		p.CSRF = s.csrfToken()
	}
	if c.db != nil {
		p.Project = c.db.Project()
	}
	return p
}

func flash(sent string) string {
	switch sent {
	case "cancel":
		return "Cancel sent to the master."
	case "retry":
		return "Retry sent to the master."
	}
	return ""
}

// render writes a page; a request from the page's own poll (header
// X-TL-Live) gets only the live part.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	var buf bytes.Buffer
	tmpl := "layout"
	if r.Header.Get("X-TL-Live") != "" {
		tmpl = "live"
	}
	if err := s.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		s.log.Error("ui: render", "page", name, "err", redact.Error(err))
		http.Error(w, "internal error: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders the error page: 404 for an unknown name, 503 when the store
// failed (the page polls and reloads once it answers again).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, nav string, err error) {
	code, title := http.StatusServiceUnavailable, "The store is unavailable"
	if errors.Is(err, errNotFound) {
		code, title = http.StatusNotFound, "Not found"
	} else {
		s.log.Warn("ui: page failed", "path", redact.Text(r.URL.Path), "err", redact.Error(err))
	}
	p := s.base(r, title, nav, conns{})
	p.Status, p.D = code, redact.Text(err.Error())
	if code == http.StatusNotFound {
		p.Refresh = 0 // nothing to follow
	}
	s.render(w, r, "error", p)
}

func (s *Server) modelsPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	rows, err := s.models(r.Context(), c)
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	p := s.base(r, "Models", "models", c)
	p.D = rows
	s.render(w, r, "models", p)
}

func (s *Server) modelPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	m, err := showModel(r.Context(), c.ms, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	p := s.base(r, "Model "+m.Name, "models", c)
	p.D = m
	s.render(w, r, "model", p)
}

func (s *Server) comparePage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	m, err := showModel(r.Context(), c.ms, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	var want []int64
	for _, v := range r.URL.Query()["v"] {
		n, err := strconv.ParseInt(strings.TrimPrefix(v, "v"), 10, 64)
		if err != nil {
			s.fail(w, r, "models", fmt.Errorf("version %q is not a number: %w", v, errNotFound))
			return
		}
		want = append(want, n)
	}
	if len(want) == 0 { // the two newest
		for _, v := range m.Versions[:min(2, len(m.Versions))] {
			want = append(want, v.Version)
		}
	}
	vs, rows, err := compare(m, want)
	if err != nil {
		s.fail(w, r, "models", err)
		return
	}
	p := s.base(r, "Compare versions of "+m.Name, "models", c)
	p.D = map[string]any{"Name": m.Name, "Versions": vs, "Rows": rows}
	s.render(w, r, "compare", p)
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "runs", err)
		return
	}
	rows, sums, err := listRuns(r.Context(), c.db)
	if err != nil {
		s.fail(w, r, "runs", err)
		return
	}
	selected := r.URL.Query()["run"]
	if id := r.PathValue("run"); id != "" {
		found := false
		for _, row := range rows {
			found = found || row.Run == id
		}
		if !found {
			s.fail(w, r, "runs", fmt.Errorf("run %q has no events in project %q: %w", id, c.db.Project(), errNotFound))
			return
		}
		selected = append([]string{id}, selected...)
	}
	if len(selected) == 0 && len(rows) > 0 {
		selected = []string{rows[0].Run} // the newest
	}
	sel := map[string]bool{}
	for _, id := range selected {
		sel[id] = true
	}
	p := s.base(r, "Runs", "runs", c)
	p.D = map[string]any{"Runs": rows, "Selected": sel, "SelectedList": strings.Join(selected, ","), "Images": runImages(sums, selected)}
	s.render(w, r, "runs", p)
}

// seriesAPI answers the run charts: ?run=A&run=B, and after=STEP for the
// points from that step on (the charts keep what they have).
func (s *Server) seriesAPI(ctx context.Context, c conns, r *http.Request) (any, error) {
	q := r.URL.Query()
	runs := q["run"]
	if len(runs) == 0 || len(runs) > 20 {
		return nil, fmt.Errorf("give 1 to 20 runs as ?run=ID: %w", errBadRequest)
	}
	var after int64
	if a := q.Get("after"); a != "" {
		var err error
		if after, err = strconv.ParseInt(a, 10, 64); err != nil || after < 0 {
			return nil, fmt.Errorf("after=%q is not a step: %w", a, errBadRequest)
		}
	}
	out := make([]*runSeries, 0, len(runs))
	for _, run := range runs {
		rs, err := seriesOf(ctx, c.db, run, after, s.cfg.MaxPoints)
		if err != nil {
			return nil, err
		}
		out = append(out, rs)
	}
	return map[string]any{"runs": out}, nil
}

// runImage serves an image a run logged, re-encoded as PNG (never the bytes
// as stored).
func (s *Server) runImage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		http.Error(w, redact.Text(err.Error()), http.StatusServiceUnavailable)
		return
	}
	step, err := strconv.ParseInt(r.URL.Query().Get("step"), 10, 64)
	if err != nil {
		http.Error(w, "step= is not a number", http.StatusBadRequest)
		return
	}
	run := r.PathValue("run")
	data, err := events.Image(r.Context(), c.db, run, step)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, events.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, redact.Text(err.Error()), code)
		return
	}
	servePNG(w, dataset.Sample{Key: fmt.Sprintf("%s@%d", run, step), Bytes: data})
}

func (s *Server) datasetsPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "datasets", err)
		return
	}
	rows, err := listDatasets(r.Context(), c.ds)
	if err != nil {
		s.fail(w, r, "datasets", err)
		return
	}
	p := s.base(r, "Datasets", "datasets", c)
	p.D = map[string]any{"Rows": rows, "Collection": c.ds.Name()}
	s.render(w, r, "datasets", p)
}

func (s *Server) datasetPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "datasets", err)
		return
	}
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	d, err := showDataset(r.Context(), c.ds, r.PathValue("name"), pg)
	if err != nil {
		s.fail(w, r, "datasets", err)
		return
	}
	p := s.base(r, "Dataset "+d.Name, "datasets", c)
	p.D = d
	s.render(w, r, "dataset", p)
}

func (s *Server) samplePNG(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		http.Error(w, redact.Text(err.Error()), http.StatusServiceUnavailable)
		return
	}
	key := r.URL.Query().Get("key")
	if _, err := openDataset(r.Context(), c.ds, r.PathValue("name")); err != nil {
		http.Error(w, redact.Text(err.Error()), codeOf(err))
		return
	}
	sm, err := c.ds.Get(r.Context(), key)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, dataset.ErrNotFound) {
			code = http.StatusNotFound
		}
		http.Error(w, redact.Text(err.Error()), code)
		return
	}
	servePNG(w, sm)
}

// servePNG answers with the sample drawn as a PNG thumbnail.
func servePNG(w http.ResponseWriter, sm dataset.Sample) {
	var buf bytes.Buffer
	if err := writeThumb(&buf, sm); err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=60")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) plansPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "plans", err)
		return
	}
	rows, err := listPlans(r.Context(), c.st)
	if err != nil {
		s.fail(w, r, "plans", err)
		return
	}
	p := s.base(r, "Plans", "plans", c)
	p.D = map[string]any{"Plans": rows, "Workflow": s.workflow(r.Context())}
	s.render(w, r, "plans", p)
}

func (s *Server) planPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		s.fail(w, r, "plans", err)
		return
	}
	pp, err := showPlan(r.Context(), c.st, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, "plans", err)
		return
	}
	p := s.base(r, "Plan "+pp.Plan.ID, "plans", c)
	p.D = map[string]any{"P": pp, "Workflow": s.workflow(r.Context())}
	s.render(w, r, "plan", p)
}

func (s *Server) agentsPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.storeConns(r.Context()) // the project and the queued tasks, if the store answers
	p := s.base(r, "Agents", "agents", c)
	wf := s.workflow(r.Context())
	var storeErr string
	if err != nil {
		storeErr = redact.Text(err.Error())
	}
	qs, err := queues(r.Context(), c.st, wf)
	if err != nil {
		storeErr = redact.Text(err.Error())
	}
	p.D = map[string]any{"W": wf, "Queues": qs, "StoreError": storeErr}
	s.render(w, r, "agents", p)
}

// control sends a cancel or a retry to the master, then goes back to the plan.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if code, err := s.checkControl(r); err != nil {
		s.log.Warn("ui: control request refused", "path", redact.Text(r.URL.Path), "err", err)
		http.Error(w, err.Error(), code)
		return
	}
	id := r.PathValue("id")
	js, err := s.jetStream(r.Context())
	if err != nil {
		http.Error(w, "the master cannot be reached: "+redact.Text(err.Error()), http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	what := "cancel"
	if strings.HasSuffix(r.URL.Path, "/retry") {
		what = "retry"
		var tasks []string
		if t := r.PostForm.Get("task"); t != "" {
			tasks = []string{t}
		}
		_, err = master.RetryChecked(ctx, js, id, tasks, 3*time.Second)
	} else {
		_, err = master.CancelChecked(ctx, js, id, 3*time.Second)
	}
	if errors.Is(err, master.ErrRefused) { // another client's plan
		http.Error(w, fmt.Sprintf("%s of %s: %s", what, id, redact.Text(err.Error())), http.StatusForbidden)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("%s of %s: %s", what, id, redact.Text(err.Error())), http.StatusBadGateway)
		return
	}
	s.log.Info("ui: control sent", "what", what, "plan", id, "task", r.PostForm.Get("task"))
	http.Redirect(w, r, "/plans/"+url.PathEscape(id)+"?sent="+what, http.StatusSeeOther)
}

// errBadRequest marks a bad query: a 400.
var errBadRequest = errors.New("bad request")

func codeOf(err error) int {
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, status.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// api wraps a JSON endpoint over the store.
func (s *Server) api(f func(ctx context.Context, c conns, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.storeConns(r.Context())
		if err == nil {
			var v any
			if v, err = f(r.Context(), c, r); err == nil {
				writeJSON(w, http.StatusOK, v)
				return
			}
		}
		code := codeOf(err)
		if code == http.StatusServiceUnavailable {
			s.log.Warn("ui: request failed", "path", redact.Text(r.URL.Path), "err", redact.Error(err))
		}
		writeJSON(w, code, map[string]string{"error": redact.Text(err.Error())})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
