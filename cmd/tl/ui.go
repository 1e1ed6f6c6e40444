package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/ui"
)

const uiAbout = `Serves a web dashboard of the store and the workflow: models and their versions
(compare them side by side), training runs and their curves (several runs
overlaid, zoom), datasets (label histogram, sample thumbnails), plans (the task
graph coloured by state, a sortable table of tasks and their results) and the
agents and the master. Every page is live: the server pushes its changes
(server-sent events; the page polls instead where they do not get through),
without a reload. Run lists and curves read the summaries the event writers
keep, so a page renders fast however many events the store holds.

It binds to 127.0.0.1:8080 unless --addr says otherwise; any address but
loopback needs a token (--token, or ` + ui.TokenEnv + `), which every request must then
carry: open http://HOST:PORT/?token=TOKEN once and the browser keeps it in a
cookie. The pages only read; with a token, a plan's page can also cancel the
plan and retry its tasks.

It uses the same store and NATS as the other commands (--mongo, --nats, the
local master's in --home). Without NATS the store pages work and the plans and
agents pages say why they are incomplete. With no master running, it opens the
store in HOME/store itself, and holds it until it stops.`

func newUICmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		c          conn
		addr       string
		token      string
		collection string
		refresh    time.Duration
		maxPoints  int
	)
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "serve a web dashboard: models, runs, datasets, plans, agents",
		Long:  uiAbout,
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv(ui.TokenEnv)
			}
			return serveUI(cmd.Context(), &c, ui.Config{Addr: addr, Token: token, Collection: collection,
				Refresh: refresh, MaxPoints: maxPoints}, stdout, stderr)
		},
	}
	c.flags(cmd.Flags(), true)
	cmd.Flags().StringVar(&addr, "addr", ui.DefaultAddr, "address to listen on; any but loopback needs --token")
	cmd.Flags().StringVar(&token, "token", "", "token every request must carry; turns on cancel and retry ["+ui.TokenEnv+"]")
	cmd.Flags().StringVar(&collection, "collection", dataset.DefaultCollection, "MongoDB collection that holds the samples")
	cmd.Flags().DurationVar(&refresh, "refresh", 2*time.Second, "how often the pages are brought up to date")
	cmd.Flags().IntVar(&maxPoints, "max-points", 1000, "points per curve sent to the browser; longer series are downsampled")
	return cmd
}

func serveUI(ctx context.Context, c *conn, cfg ui.Config, stdout, stderr io.Writer) error {
	if err := c.resolve(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.Logger = log
	cfg.Store = func(ctx context.Context) (*store.DB, error) { return c.open(ctx) }
	cfg.StoreName = c.mongo
	if cfg.StoreName == "" {
		cfg.StoreName = filepath.Join(c.home, "store")
	}
	switch {
	case c.nats == "" && c.mongo != "":
		cfg.NoNATS = fmt.Sprintf("%s given without --nats: pass --nats to see the master and the agents", c.mongoFrom)
	case c.nats == "":
		cfg.NoNATS = fmt.Sprintf("no master runs on %s (start one with: tl master --home %s)", c.home, c.home)
	default:
		cfg.NATS = c.js // with the credentials the other commands use
	}
	srv, err := ui.New(cfg)
	if err != nil {
		return usageError{err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(cctx); err != nil {
			fmt.Fprintln(stderr, "tl:", err)
		}
	}()
	return srv.ListenAndServe(ctx, func(bound string) {
		host, port, _ := net.SplitHostPort(bound)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "HOST"
		}
		fmt.Fprintf(stdout, "tl ui: serving http://%s/ (Ctrl-C to stop)\n", net.JoinHostPort(host, port))
		if cfg.Token != "" {
			fmt.Fprintf(stdout, "tl ui: open http://%s/?token=TOKEN once, with the token you gave; the browser keeps it\n", net.JoinHostPort(host, port))
		}
	})
}
