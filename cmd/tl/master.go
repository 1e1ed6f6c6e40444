package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store"
)

func cmdMaster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("master", "[flags]", `Runs the master: schedules submitted plans on the task queues, follows the
agents' results, replays failures, and records progress in MongoDB.

With no --nats it runs nats-server in this process (JetStream on disk under
--home); with no --mongo it runs the store (embedded FerretDB, SQLite under
--home). It then writes both addresses to --home/endpoints.json, where local
agents (tl-agent) and the other tl commands find them. SIGTERM or Ctrl-C stops
it; running tasks go on, and their results wait in the queue for the next start.

Several masters may run against one NATS (--nats) and one store (--mongo): one
leads and runs the plans, the others stand by. The leader holds a lease in the
NATS key-value bucket tl_master_leader and renews it every --lease-ttl/3; a
standby takes over at once when the leader stops, or about --lease-ttl after
it dies or loses the server.`, stderr)
	home, _ := endpoints.Home()
	var (
		natsURL     = fs.String("nats", os.Getenv("TL_NATS_URL"), "NATS server URL of a cluster; empty runs one in-process [TL_NATS_URL]")
		natsListen  = fs.String("nats-listen", "127.0.0.1:7422", "address of the in-process NATS server (port 0: any free one)")
		mongoURL    = fs.String("mongo", os.Getenv("TL_MONGO_URL"), "MongoDB URL, mongodb://host[:port][/DATABASE]; empty runs the store in-process [TL_MONGO_URL]")
		mongoListen = fs.String("mongo-listen", "127.0.0.1:7427", "address of the in-process store (port 0: any free one)")
		homeDir     = fs.String("home", home, "directory for the in-process servers' files and endpoints.json [TL_HOME]")
		project     = fs.String("project", os.Getenv("TL_PROJECT"), "store project [TL_PROJECT]")
		tick        = fs.Duration("tick", 2*time.Second, "how often tasks that could not be queued are retried")
		leaseTTL    = fs.Duration("lease-ttl", 10*time.Second, "how long the leader's lease lasts unrenewed: the failover time after a leader dies")
		id          = fs.String("id", "", "this master's id in the leader lease; empty: host-pid-random")
		level       = fs.String("log-level", "info", "debug, info, warn or error")
	)
	if err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: expected debug, info, warn or error", *level)
	}
	if *leaseTTL <= 0 {
		return fmt.Errorf("--lease-ttl %s: expected a positive duration", *leaseTTL)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if *homeDir == "" {
		return fmt.Errorf("no --home and no home directory")
	}

	if *natsURL == "" {
		host, port, err := splitHostPort(*natsListen)
		if err != nil {
			return fmt.Errorf("--nats-listen: %w", err)
		}
		srv, err := queue.StartServer(ctx, queue.ServerConfig{Dir: filepath.Join(*homeDir, "nats"), Host: host, Port: port})
		if err != nil {
			return fmt.Errorf("embedded NATS (is another master running? pass --nats-listen or --nats): %w", err)
		}
		defer srv.Shutdown()
		*natsURL = srv.URL()
		log.Info("embedded NATS started", "url", *natsURL, "dir", filepath.Join(*homeDir, "nats"))
	}
	cfg := store.Config{URL: *mongoURL, Project: *project, Logger: log}
	if *mongoURL == "" {
		cfg.DataDir = filepath.Join(*homeDir, "store")
		cfg.ListenAddr = *mongoListen
	}
	db, err := store.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDB(db)
	if db.Embedded() {
		log.Info("embedded store started", "url", db.URL(), "dir", cfg.DataDir)
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		return err
	}
	m, err := master.New(ctx, master.Config{NATSURL: *natsURL, Store: st, Tick: *tick, LeaseTTL: *leaseTTL, ID: *id, Log: log})
	if err != nil {
		return err
	}
	if err := endpoints.Write(*homeDir, endpoints.Endpoints{NATS: *natsURL, Mongo: db.URL(), Project: db.Project(), PID: os.Getpid(), Started: time.Now().UTC()}); err != nil {
		return err
	}
	defer endpoints.Remove(*homeDir, os.Getpid())
	fmt.Fprintf(stdout, "master ready: nats %s, store %s (endpoints in %s)\n", *natsURL, db.URL(), filepath.Join(*homeDir, endpoints.File))
	return m.Run(ctx)
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
