package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/stream"
	"github.com/tlgo/tl/sweep"
)

const masterAbout = `Runs the master: schedules submitted plans on the task queues, follows the
agents' results, replays failures, and records progress in MongoDB.

With no --nats it runs nats-server in this process (JetStream on disk under
--home); with no --mongo it runs the store (embedded FerretDB, SQLite under
--home). It then writes both addresses to --home/endpoints.json, where local
agents (tl-agent) and the other tl commands find them. The embedded NATS
server admits only clients with credentials, each role with its permissions
(only the master publishes tasks): the master writes its own, the local
agents' and the local commands' in --home/credentials (files 0600) on its
first start, and 'tl credentials agent|client' makes more for other machines.
A master that runs a server takes the home's lock (--home/master.lock) first:
a second master on the same home stops at once. SIGTERM or Ctrl-C stops it, saying what it waits
for; a second Ctrl-C stops it at once (what the servers committed is kept).
Running tasks go on, and their results wait in the queue for the next start.

Several masters may run against one NATS (--nats) and one store (--mongo): one
leads and runs the plans, the others stand by. The leader holds a lease in the
NATS key-value bucket tl_master_leader and renews it every --lease-ttl/3; a
standby takes over at once when the leader stops, or about --lease-ttl after
it dies or loses the server.`

// masterFlags are the flags of tl master.
type masterFlags struct {
	natsURL, natsListen, mongoURL, mongoListen string
	home, project, id, level                   string
	tick, leaseTTL, connectWait                time.Duration
	ackWait, gcEvery, gcGrace                  time.Duration
	credentials                                string
	streamPoll                                 time.Duration
	tlsCert, tlsKey                            string
}

func newMasterCmd(stdout, stderr io.Writer) *cobra.Command {
	var f masterFlags
	cmd := &cobra.Command{
		Use:   "master",
		Short: "run the master; with no URLs it starts NATS and the store itself",
		Long:  masterAbout,
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMaster(cmd.Context(), f, stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.natsURL, "nats", "", "NATS server URL of a cluster; empty runs one in-process [TL_NATS_URL]")
	fs.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:7422", "address of the in-process NATS server (port 0: any free one); every client presents credentials from --home/credentials, so it may be off loopback (across untrusted networks give it --tls-cert and --tls-key)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate of the in-process NATS server: clients must speak TLS and check it (the credentials carry it)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&f.credentials, "credentials", "", "with --nats: credentials file for that server, a JSON object with user and password [TL_CREDENTIALS]")
	fs.StringVar(&f.mongoURL, "mongo", "", "MongoDB URL, mongodb://host[:port][/DATABASE]; empty runs the store in-process [TL_MONGO_URL]")
	fs.StringVar(&f.mongoListen, "mongo-listen", "127.0.0.1:7427", "address of the in-process store (port 0: any free one)")
	fs.StringVar(&f.home, "home", defaultHome(), "directory for the in-process servers' files, endpoints.json and the lock [TL_HOME]")
	fs.StringVar(&f.project, "project", "", "store project [TL_PROJECT]")
	fs.DurationVar(&f.tick, "tick", 2*time.Second, "how often tasks that could not be queued are retried")
	fs.DurationVar(&f.leaseTTL, "lease-ttl", 10*time.Second, "how long the leader's lease lasts unrenewed: the failover time after a leader dies")
	fs.DurationVar(&f.ackWait, "ack-wait", queue.DefaultAckWait, "ack deadline of the task queues, the same for every agent: a task whose agent is silent this long is delivered again (agents heartbeat every third of it)")
	fs.DurationVar(&f.gcEvery, "gc-every", time.Hour, "how often the leader removes orphaned model weights (chunks of killed uploads) and the checkpoints of train tasks that are over")
	fs.DurationVar(&f.gcGrace, "gc-grace", time.Hour, "weights younger than this are never collected, so an upload in progress is safe; nor checkpoints updated since, so a retry soon after resumes")
	fs.StringVar(&f.id, "id", "", "this master's id in the leader lease; empty: host-pid-random")
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&f.streamPoll, "stream-poll", stream.DefaultPoll, "how often the stream rules (tl stream) look for new samples")
	fs.DurationVar(&f.connectWait, "connect-wait", envDuration("TL_CONNECT_WAIT", 0),
		"keep trying this long to reach --nats and --mongo (0: fail when nothing answers within 5s) [TL_CONNECT_WAIT]")
	return cmd
}

func runMaster(ctx context.Context, f masterFlags, stdout, stderr io.Writer) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.level)); err != nil {
		return usageErrorf("--log-level %q: expected debug, info, warn or error", f.level)
	}
	if f.leaseTTL <= 0 {
		return usageErrorf("--lease-ttl %s: expected a positive duration", f.leaseTTL)
	}
	if f.ackWait <= 0 || f.gcEvery <= 0 || f.gcGrace <= 0 {
		return usageErrorf("--ack-wait %s, --gc-every %s, --gc-grace %s: expected positive durations", f.ackWait, f.gcEvery, f.gcGrace)
	}
	if f.home == "" {
		return usageErrorf("no --home, no TL_HOME and no home directory: pass --home DIR")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together")
	}
	c := conn{nats: f.natsURL, mongo: f.mongoURL, project: f.project, home: f.home, connectWait: f.connectWait}
	// A master never reads the endpoints file: with no URL it runs its own servers.
	c.fromEnv()
	c.resolved = true
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	// The home's lock comes first, before any server opens a file there.
	if c.nats == "" || c.mongo == "" {
		// What the servers write in the home is this user's only (issue 13).
		privateUmask()
		lock, err := endpoints.Lock(f.home)
		if errors.Is(err, endpoints.ErrLocked) {
			return fmt.Errorf("another master runs on home %s; use it (tl submit, tl status and tl-agent find it through %s), stop it first, or give this one another --home: %w",
				f.home, filepath.Join(f.home, endpoints.File), err)
		}
		if err != nil {
			return err
		}
		defer lock.Release()
	}

	var srv *queue.Server
	var creds *queue.Credentials
	if c.nats == "" {
		host, port, err := splitHostPort(f.natsListen)
		if err != nil {
			return usageErrorf("--nats-listen: %w", err)
		}
		// Every client of the embedded server presents credentials: the
		// master's, agents' and clients' are made here on the first start.
		auth, err := queue.LoadOrCreateAuth(f.home)
		if err != nil {
			return err
		}
		// The credentials carry the TLS certificate, or none without TLS.
		if err := queue.HomeCA(f.home, f.tlsCert); err != nil {
			return err
		}
		if creds, err = queue.HomeCredentials(f.home, queue.RoleMaster); err != nil {
			return err
		}
		dir := filepath.Join(f.home, "nats")
		srv, err = queue.StartServer(ctx, queue.ServerConfig{Dir: dir, Host: host, Port: port, Auth: auth, TLSCert: f.tlsCert, TLSKey: f.tlsKey})
		if err != nil {
			return fmt.Errorf("embedded NATS on %s (is another program listening there? --nats-listen 127.0.0.1:0 takes any free port): %w", f.natsListen, err)
		}
		defer stopping(log, "the embedded NATS server", srv.Shutdown)
		c.nats, c.natsFrom = srv.URL(), "the embedded server"
		log.Info("embedded NATS started", "url", c.nats, "dir", dir, "credentials", filepath.Join(f.home, queue.CredentialsDir))
	} else {
		if f.tlsCert != "" {
			return usageErrorf("--tls-cert is for the in-process NATS server; with --nats, TLS is that server's")
		}
		path := f.credentials
		if path == "" {
			path = os.Getenv("TL_CREDENTIALS")
		}
		if path != "" {
			var err error
			if creds, err = queue.ReadCredentials(path); err != nil {
				return fmt.Errorf("--credentials: %w", err)
			}
		}
	}
	var db *store.DB
	if c.mongo == "" {
		cfg := store.Config{Project: c.project, Logger: log, DataDir: filepath.Join(f.home, "store"), ListenAddr: f.mongoListen}
		var err error
		if db, err = store.Open(ctx, cfg); err != nil {
			return err
		}
		log.Info("embedded store started", "url", redact.URL(db.URL()), "dir", cfg.DataDir)
	} else {
		var err error
		if db, err = c.open(ctx); err != nil {
			return err
		}
	}
	defer stopping(log, "the store", func() { closeDB(db) })
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return err
	}
	if ps, err := st.Plans(ctx, true); err == nil && len(ps) > 0 {
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		log.Info("unfinished plans in the store: the leading master resumes them (tl cancel PLAN stops one)", "plans", strings.Join(ids, ","))
	}
	weights, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return err
	}
	var m *master.Master
	err = c.retry(ctx, func(ctx context.Context) error {
		var err error
		m, err = master.New(ctx, master.Config{NATSURL: c.nats, Credentials: creds, Store: st, Tick: f.tick, LeaseTTL: f.leaseTTL, ID: f.id, Log: log,
			AckWait: f.ackWait, GC: storeGC(weights, st), GCEvery: f.gcEvery, GCGrace: f.gcGrace,
			Controllers: []master.Controller{streamController(db, c.nats, creds, f.streamPoll, log),
				sweep.Master(sweep.ControllerConfig{DB: db, Status: st, NATSURL: c.nats, Credentials: creds, Log: log})}})
		return err
	})
	if err != nil {
		if srv == nil {
			return c.unreachable("NATS", c.nats, c.natsFrom, err)
		}
		return err
	}
	if err := endpoints.Write(f.home, endpoints.Endpoints{NATS: c.nats, Mongo: db.URL(), Project: db.Project(), PID: os.Getpid(), Started: time.Now().UTC()}); err != nil {
		return err
	}
	defer endpoints.Remove(f.home, os.Getpid())
	fmt.Fprintf(stdout, "master ready: nats %s, store %s (endpoints in %s)\n", redactURL(c.nats), redactURL(db.URL()), filepath.Join(f.home, endpoints.File))

	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping: the master gives up its lease; running tasks go on, their results wait in the queue for the next start")
	var runErr error
	stopping(log, "the master's scheduling loop", func() { runErr = <-done })
	return runErr
}

// stopping runs stop, saying what it waits for, and again every few seconds
// while it waits.
func stopping(log *slog.Logger, what string, stop func()) {
	log.Info("stopping: waiting for " + what)
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	start := time.Now()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			log.Info("stopped "+what, "after", time.Since(start).Round(time.Millisecond))
			return
		case <-tick.C:
			log.Info("still waiting for "+what+" (interrupt again to stop at once)", "for", time.Since(start).Round(time.Second))
		}
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: expected 0 to 65535", p)
	}
	return host, port, nil
}
