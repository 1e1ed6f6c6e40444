package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/models"
)

//go:embed assets/templates assets/static assets/vendor/*.js assets/vendor/*.css assets/vendor/LICENSE assets/vendor/VERSION
var assets embed.FS

// DefaultAddr is where the server listens unless told otherwise: loopback only.
const DefaultAddr = "127.0.0.1:8080"

// TokenEnv names the environment variable `tl ui` reads the token from.
const TokenEnv = "TL_UI_TOKEN"

// ErrNoToken is returned by New for an address other than loopback without a token.
var ErrNoToken = errors.New("ui: a token is required to listen on an address other than loopback")

// cookieName holds the token in the browser after a first visit with ?token=.
const cookieName = "tl_ui_token"

// Config configures a Server.
type Config struct {
	// Addr is the address to listen on; default DefaultAddr. Any address but
	// loopback needs a Token.
	Addr string
	// Token, when set, is required of every request, and enables cancel and
	// retry. Required for a non-loopback Addr.
	Token string
	// Store opens the store (required). It is called at the first request
	// that needs the store and again after a failure to open it.
	Store func(ctx context.Context) (*store.DB, error)
	// StoreName describes the store in the page footer (a URL or a
	// directory); a password in it is hidden.
	StoreName string
	// Collection is the MongoDB collection of the samples; default
	// dataset.DefaultCollection.
	Collection string
	// NATS connects to the workflow's NATS server. Nil: no workflow; the plans
	// page reads the store and the agents page says NoNATS.
	NATS func(ctx context.Context) (*nats.Conn, jetstream.JetStream, error)
	// NoNATS says why there is no NATS when NATS is nil.
	NoNATS string
	// Refresh is how often the pages are brought up to date (by their
	// event stream, or by polling without one); default 2s.
	Refresh time.Duration
	// MaxPoints bounds the points of one curve sent to a browser; longer
	// series are downsampled (default 1000).
	MaxPoints int
	// Retry is how long after a failed connection the next request tries
	// again; default 2s.
	Retry time.Duration
	// Logger receives the request log and errors; nil discards them.
	Logger *slog.Logger
}

// Server is the dashboard's HTTP handler. Create it with New; it is safe for
// concurrent use. Close releases the connections it opened.
type Server struct {
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	static  http.Handler
	mux     *http.ServeMux
	csrfKey []byte

	mu sync.Mutex // guards the store's handles below
	db *store.DB
	ms *models.Store
	st status.Store
	ds *dataset.Collection
	// dbErr is the last failure to open the store, at dbTried.
	dbErr   error
	dbTried time.Time

	counts modelCounts // of the models' versions; guarded by its own lock

	quit     chan struct{} // closed when the server shuts down: ends the event streams
	quitOnce sync.Once

	natsMu   sync.Mutex // guards the NATS connection below
	nc       *nats.Conn
	js       jetstream.JetStream
	natsErr  error
	natsTime time.Time
}

// New checks cfg and builds the server. It does not listen: use
// ListenAndServe, or Handler with a server of your own.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("ui: Config.Store is nil")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if !loopbackAddr(cfg.Addr) && cfg.Token == "" {
		return nil, fmt.Errorf("%w: --addr %s is reachable from other machines; pass --token or set %s (a long random string), or listen on 127.0.0.1",
			ErrNoToken, cfg.Addr, TokenEnv)
	}
	if cfg.Collection == "" {
		cfg.Collection = dataset.DefaultCollection
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.MaxPoints <= 0 {
		cfg.MaxPoints = 1000
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.NATS == nil && cfg.NoNATS == "" {
		cfg.NoNATS = "no NATS server was given"
	}
	cfg.NoNATS = redact.Text(cfg.NoNATS)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, csrfKey: make([]byte, 32), quit: make(chan struct{})}
	if _, err := rand.Read(s.csrfKey); err != nil {
		return nil, fmt.Errorf("ui: CSRF key: %w", err)
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, fmt.Errorf("ui: assets: %w", err)
	}
	vendor, err := fs.Sub(assets, "assets/vendor")
	if err != nil {
		return nil, fmt.Errorf("ui: assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("GET /vendor/", http.StripPrefix("/vendor/", http.FileServerFS(vendor)))
	s.routes(mux)
	s.mux = mux
	return s, nil
}

// Handler is the server with its security checks and request log.
func (s *Server) Handler() http.Handler { return s.secure(s.mux) }

// Addr is the address the server listens on (Config.Addr or its default).
func (s *Server) Addr() string { return s.cfg.Addr }

// ListenAndServe serves until ctx is done, then shuts down (waiting up to 5s
// for requests in flight). ready, if not nil, is called with the bound
// address once the listener is open.
func (s *Server) ListenAndServe(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("ui: listen on %s: %w", s.cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.endStreams)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ui: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("ui: shut down: %w", err)
	}
	return nil
}

// endStreams ends the event streams, which would otherwise hold a shutdown
// until its timeout.
func (s *Server) endStreams() { s.quitOnce.Do(func() { close(s.quit) }) }

// Close ends the event streams and closes the NATS connection and the store
// the server opened.
func (s *Server) Close(ctx context.Context) error {
	s.endStreams()
	s.natsMu.Lock()
	if s.nc != nil {
		s.nc.Close()
		s.nc, s.js = nil, nil
	}
	s.natsMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		err := s.db.Close(ctx)
		s.db, s.ms, s.st, s.ds = nil, nil, nil, nil
		if err != nil {
			return fmt.Errorf("ui: close the store: %w", err)
		}
	}
	return nil
}

// conns are the store's handles for one request.
type conns struct {
	db *store.DB
	ms *models.Store
	st status.Store
	ds *dataset.Collection
}

// storeConns opens the store if needed. After a failure it answers that
// failure again until Config.Retry has passed, so that a dead store is not
// dialled by every request.
func (s *Server) storeConns(ctx context.Context) (conns, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return conns{s.db, s.ms, s.st, s.ds}, nil
	}
	if s.dbErr != nil && time.Since(s.dbTried) < s.cfg.Retry {
		return conns{}, s.dbErr
	}
	s.dbTried = time.Now()
	c, err := s.openStore(ctx)
	if err != nil {
		s.dbErr = redact.Error(err)
		s.log.Warn("ui: the store is unavailable", "err", s.dbErr)
		return conns{}, s.dbErr
	}
	s.dbErr = nil
	s.db, s.ms, s.st, s.ds = c.db, c.ms, c.st, c.ds
	return c, nil
}

func (s *Server) openStore(ctx context.Context) (conns, error) {
	db, err := s.cfg.Store(ctx)
	if err != nil {
		return conns{}, fmt.Errorf("open the store: %w", err)
	}
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		_ = db.Close(context.WithoutCancel(ctx))
		return conns{}, fmt.Errorf("open the model store of project %q: %w", db.Project(), err)
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		_ = db.Close(context.WithoutCancel(ctx))
		return conns{}, fmt.Errorf("open the plan records of project %q: %w", db.Project(), err)
	}
	ds, err := dataset.Open(ctx, db, dataset.Options{Collection: s.cfg.Collection})
	if err != nil {
		_ = db.Close(context.WithoutCancel(ctx))
		return conns{}, fmt.Errorf("open the samples of project %q: %w", db.Project(), err)
	}
	return conns{db, ms, st, ds}, nil
}

// jetStream connects to NATS if needed, like storeConns. It fails with the
// reason when there is no NATS.
func (s *Server) jetStream(ctx context.Context) (jetstream.JetStream, error) {
	if s.cfg.NATS == nil {
		return nil, errors.New(s.cfg.NoNATS)
	}
	s.natsMu.Lock()
	defer s.natsMu.Unlock()
	if s.js != nil {
		return s.js, nil
	}
	if s.natsErr != nil && time.Since(s.natsTime) < s.cfg.Retry {
		return nil, s.natsErr
	}
	s.natsTime = time.Now()
	nc, js, err := s.cfg.NATS(ctx)
	if err != nil {
		s.natsErr = redact.Error(fmt.Errorf("connect to NATS: %w", err))
		s.log.Warn("ui: NATS is unavailable", "err", s.natsErr)
		return nil, s.natsErr
	}
	s.natsErr = nil
	s.nc, s.js = nc, js
	return js, nil
}

// loopbackAddr reports whether addr (host:port) listens on loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return loopbackHost(host)
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// secure wraps h with the security headers, the token and Host checks, and
// the request log.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		setSecurityHeaders(rec.Header())
		s.serveSecure(h, rec, r)
		// The path only: a query may hold the token.
		s.log.Info("ui: request", "method", r.Method, "path", redact.Text(r.URL.Path), "status", rec.code,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

func (s *Server) serveSecure(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !loopbackHost(host) {
			http.Error(w, "Forbidden: without a token this server answers only requests addressed to localhost or 127.0.0.1 (Host header)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
		return
	}
	if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet {
		if !s.tokenOK(q) {
			http.Error(w, "Unauthorized: wrong token", http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: q, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		v := r.URL.Query()
		v.Del("token")
		// A path of this server only: "//host/..." would leave it.
		to := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/")
		if q := v.Encode(); q != "" {
			to += "?" + q
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if !s.tokenOK(requestToken(r)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tl ui"`)
		http.Error(w, "Unauthorized: this server needs its token: open it once as http://HOST:PORT/?token=TOKEN (the token given to tl ui with --token or "+TokenEnv+")", http.StatusUnauthorized)
		return
	}
	h.ServeHTTP(w, r)
}

// requestToken is the token of a request: the Bearer header, else the cookie.
func requestToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
		return strings.TrimPrefix(a, "Bearer ")
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

// tokenOK compares a token with the server's in constant time (the lengths
// are hashed first, so that not even the length leaks).
func (s *Server) tokenOK(got string) bool {
	if s.cfg.Token == "" || got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// csrfToken is the token the control forms carry: an HMAC of the server's
// token under a key made at start, so a page of another site cannot know it.
func (s *Server) csrfToken() string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(s.cfg.Token))
	return hex.EncodeToString(m.Sum(nil))
}

// checkControl says why a control POST is refused, or nil: it needs the
// token (checked already by secure), a same-origin request and the form's
// CSRF token.
func (s *Server) checkControl(r *http.Request) (int, error) {
	if s.cfg.Token == "" {
		return http.StatusForbidden, errors.New("cancel and retry are off: start tl ui with --token (or " + TokenEnv + ") to turn them on")
	}
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	// Sec-Fetch-Site, which pages cannot set, decides when the browser sends
	// it; an Origin must then not contradict it ("null" says nothing: a
	// browser sends it under some referrer policies). Without Sec-Fetch-Site
	// the Origin must be this server.
	switch {
	case site != "" && site != "same-origin":
		return http.StatusForbidden, fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", site)
	case site == "" && (origin == "" || origin == "null"):
		return http.StatusForbidden, errors.New("request refused: no Origin and no Sec-Fetch-Site header (use the page's button, or tl cancel / tl retry)")
	case origin != "" && origin != "null":
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return http.StatusForbidden, fmt.Errorf("cross-origin request refused (Origin %s is not this server)", redact.URL(origin))
		}
	}
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, fmt.Errorf("bad form: %w", err)
	}
	want := s.csrfToken()
	if got := r.PostForm.Get("csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return http.StatusForbidden, errors.New("request refused: missing or wrong CSRF token (reload the page)")
	}
	return 0, nil
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// Not no-referrer: under it a browser sends "Origin: null" with a form's
	// POST. No URL holds the token after the first visit's redirect.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// statusRecorder keeps the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
