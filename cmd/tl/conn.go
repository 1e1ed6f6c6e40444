package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
	"github.com/tlgo/tl/store"
)

// conn holds the client flags shared by submit, status, cancel and retry.
type conn struct {
	nats, mongo, project string
}

func (c *conn) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.nats, "nats", os.Getenv("TL_NATS_URL"), "NATS server URL (default: the local master's) [TL_NATS_URL]")
	fs.StringVar(&c.mongo, "mongo", os.Getenv("TL_MONGO_URL"), "MongoDB URL of the master's records, mongodb://host[:port][/DATABASE] (default: the local master's) [TL_MONGO_URL]")
	fs.StringVar(&c.project, "project", os.Getenv("TL_PROJECT"), "store project [TL_PROJECT]")
}

// resolve fills empty URLs from the local master's endpoints file.
func (c *conn) resolve() error {
	if c.nats != "" && c.mongo != "" {
		return nil
	}
	home, err := endpoints.Home()
	if err != nil {
		return err
	}
	e, err := endpoints.Read(home)
	if err != nil {
		return err
	}
	if c.nats == "" {
		c.nats = e.NATS
	}
	if c.mongo == "" {
		c.mongo = e.Mongo
	}
	if c.project == "" {
		c.project = e.Project
	}
	return nil
}

func (c *conn) js(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	if err := c.resolve(); err != nil && c.nats == "" {
		return nil, nil, err
	}
	return queue.Connect(ctx, c.nats, "tl cli", slog.New(slog.DiscardHandler))
}

func (c *conn) store(ctx context.Context) (*store.DB, status.Store, error) {
	db, err := c.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := status.NewMongo(ctx, db)
	if err != nil {
		db.Close(ctx)
		return nil, nil, err
	}
	return db, st, nil
}

func closeDB(db *store.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tl:", err)
	}
}
