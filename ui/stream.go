package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store/events"
)

// streamPages are the first path segments of the pages an event stream may
// follow.
var streamPages = []string{"models", "runs", "datasets", "plans", "sweeps", "agents"}

// heartbeat is how often a quiet stream sends a comment, so that proxies and
// the browser keep the connection.
const heartbeat = 15 * time.Second

// stream serves GET /events?page=PATH[&run=ID...]: server-sent events that
// keep a page live without polling. Every Config.Refresh it renders the
// page's live part and sends it as a "live" event when it changed
// ({"status": HTTP status, "html": ...}); with run= (the runs whose curves the
// page draws) it sends a "series" event, what /api/series answers, when one
// of the runs' summaries changed (a lookup by _id per run). The first events
// go out at once. The page falls back to polling if the stream breaks.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err := url.Parse(q.Get("page"))
	if err != nil || page.Scheme != "" || page.Host != "" || page.User != nil || !streamable(page.Path) {
		http.Error(w, fmt.Sprintf("page=%q is not a page of this server (expected a path such as /runs/RUN or /plans/ID)", redact.Text(q.Get("page"))), http.StatusBadRequest)
		return
	}
	runs := q["run"]
	if len(runs) > 20 {
		http.Error(w, "give at most 20 runs as ?run=ID", http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this connection", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A dropped connection is retried by the browser after this long.
	fmt.Fprintf(w, "retry: %d\n\n", s.cfg.Refresh.Milliseconds())
	fl.Flush()

	ctx := r.Context()
	var (
		lastLive   string
		lastCode   int
		lastSeries string
		lastSent   = time.Now()
	)
	tick := time.NewTicker(s.cfg.Refresh)
	defer tick.Stop()
	for {
		if html, code := s.livePart(r, page); html != lastLive || code != lastCode {
			lastLive, lastCode = html, code
			if !send(w, "live", map[string]any{"status": code, "html": html}) {
				return
			}
			lastSent = time.Now()
		}
		if len(runs) > 0 {
			if key, ok := s.seriesKey(r, runs); ok && key != lastSeries {
				c, err := s.storeConns(ctx)
				var out []*runSeries
				for _, run := range runs {
					if err != nil {
						break
					}
					var rs *runSeries
					if rs, err = seriesOf(ctx, c.db, run, 0, s.cfg.MaxPoints); err == nil {
						out = append(out, rs)
					}
				}
				if err == nil {
					lastSeries = key
					if !send(w, "series", map[string]any{"runs": out}) {
						return
					}
					lastSent = time.Now()
				}
			}
		}
		fl.Flush()
		if time.Since(lastSent) > heartbeat {
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil {
				return
			}
			fl.Flush()
			lastSent = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-tick.C:
		}
	}
}

// streamable reports whether path is a page an event stream may follow.
func streamable(path string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	for _, p := range streamPages {
		if first == p {
			return !strings.HasSuffix(path, ".png")
		}
	}
	return false
}

// send writes one event; false when the connection is gone.
func send(w http.ResponseWriter, event string, data any) bool {
	b, err := json.Marshal(data)
	if err != nil {
		return false
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	return err == nil
}

// livePart renders the live part of a page, as the page's own poll gets it.
func (s *Server) livePart(r *http.Request, page *url.URL) (string, int) {
	req := r.Clone(r.Context())
	req.Method = http.MethodGet
	req.URL = &url.URL{Path: page.Path, RawPath: page.RawPath, RawQuery: page.RawQuery}
	req.RequestURI = req.URL.RequestURI()
	req.Header = r.Header.Clone()
	req.Header.Set("X-TL-Live", "1")
	rec := &bufferWriter{h: http.Header{}, code: http.StatusOK}
	s.mux.ServeHTTP(rec, req)
	return rec.buf.String(), rec.code
}

// seriesKey says what the runs' summaries are now: a change means new
// points. false when the store cannot say.
func (s *Server) seriesKey(r *http.Request, runs []string) (string, bool) {
	c, err := s.storeConns(r.Context())
	if err != nil {
		return "", false
	}
	var b strings.Builder
	for _, run := range runs {
		sum, err := events.RunSummary(r.Context(), c.db, run)
		if err != nil {
			return "", false
		}
		fmt.Fprintf(&b, "%s %d %d %s\n", run, sum.Events, sum.LastStep, sum.Updated.Format(time.RFC3339Nano))
	}
	return b.String(), true
}

// bufferWriter is an http.ResponseWriter into memory.
type bufferWriter struct {
	h    http.Header
	buf  bytes.Buffer
	code int
}

func (b *bufferWriter) Header() http.Header         { return b.h }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(code int)        { b.code = code }
