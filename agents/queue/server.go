package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrNotLoopback is returned when the embedded server is asked to listen off
// loopback without authentication (ServerConfig.Auth): anyone who reached the
// port could publish tasks and read every result.
var ErrNotLoopback = errors.New("embedded nats: no authentication, so it listens on loopback only")

// loopback reports whether host names this machine only.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServerConfig configures an embedded nats-server.
type ServerConfig struct {
	// Dir holds JetStream's files; required, so that queues survive a restart.
	Dir string
	// Host to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free one (read it back with Server.URL).
	Port int
	// Auth, when set, makes every client present credentials it made (see
	// Credentials and Permissions); only then may Host be off loopback.
	Auth *Auth
	// TLSCert and TLSKey (PEM files), when set, make every client speak TLS.
	// Clients verify the certificate against Credentials.CA (HomeCA puts the
	// certificate there), not against a host name.
	TLSCert, TLSKey string
}

// Server is an embedded nats-server with JetStream on disk.
type Server struct {
	s    *server.Server
	cfg  ServerConfig
	stop context.CancelFunc // ends the watch on revoked credentials
}

// StartServer starts nats-server in this process and waits until it accepts clients.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded nats: ServerConfig.Dir is empty; JetStream needs a directory")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if !loopback(cfg.Host) && cfg.Auth == nil {
		return nil, fmt.Errorf("%w: %q is not a loopback address; give the server credentials (tl master does), or "+
			"run nats-server with users and permissions (and TLS) and pass its nats:// URL", ErrNotLoopback, cfg.Host)
	}
	// JetStream's files hold every task and result: this user's only.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: JetStream directory: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: JetStream directory: %w", err)
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "tl-embedded",
		Host:       cfg.Host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoSigs:     true,
		NoLog:      true,
	}
	if cfg.Auth != nil {
		opts.CustomClientAuthentication = cfg.Auth
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("embedded nats: TLS needs both a certificate and its key")
	}
	if cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey})
		if err != nil {
			return nil, fmt.Errorf("embedded nats: TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = tc, true, 5
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats on %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	go s.Start()
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !s.ReadyForConnections(wait) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s:%d (store %s): not ready after %v", cfg.Host, cfg.Port, cfg.Dir, wait)
	}
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		cfg.Port = a.Port
	}
	srv := &Server{s: s, cfg: cfg}
	if cfg.Auth != nil && cfg.Auth.revoked != nil {
		kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		srv.stop = stop
		go kickRevoked(kctx, s, cfg.Auth.revoked, 2*time.Second)
	}
	return srv, nil
}

// URL is the nats:// URL clients connect to.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
}

// Config is the configuration the server runs with, its port filled in: start a new
// server with it to restart on the same address and files.
func (s *Server) Config() ServerConfig { return s.cfg }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	if s.stop != nil {
		s.stop()
	}
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
