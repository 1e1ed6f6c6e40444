package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
)

// Usage is the help text of an agent binary built on Main.
const Usage = `Usage: %s [flags]

Runs a workflow agent: pulls tasks from NATS JetStream queues, runs the task
functions compiled into this binary, and reports to the master. One task per slot
at a time; SIGTERM stops pulling, lets running tasks finish for --grace, and hands
back the rest.

With no --nats (and no TL_NATS_URL), the agent uses the local master's servers,
found in $TL_HOME/endpoints.json (default ~/.tl). Each flag can also be given
in the environment variable named in brackets.

Flags:
`

// Main is the whole agent command: it parses args (without the program name), reads
// the environment, connects, and runs until ctx ends (cancel it on SIGTERM). It
// returns the process exit code: 0 after a clean shutdown, 2 for bad usage, 1 for
// other errors. Build your own agent binary around it with your own Registry:
//
//	func main() {
//		reg := task.NewRegistry()
//		reg.MustRegister("train", myTrain)
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		os.Exit(agent.Main(ctx, "my-agent", os.Args[1:], reg, os.Stderr))
//	}
func Main(ctx context.Context, prog string, args []string, reg *task.Registry, stderr io.Writer) int {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	durEnv := func(name string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
			return d
		}
		return def
	}
	slots, _ := strconv.Atoi(env("TL_SLOTS", "1"))
	var (
		natsURL  = fs.String("nats", env("TL_NATS_URL", ""), "NATS server URL, nats://host:port [TL_NATS_URL]")
		mongoURL = fs.String("mongo", env("TL_MONGO_URL", ""), "MongoDB URL handed to task functions, mongodb://host:port [TL_MONGO_URL]")
		project  = fs.String("project", env("TL_PROJECT", ""), "store project for task functions [TL_PROJECT]")
		queues   = fs.String("queues", env("TL_QUEUES", defaultQueues()), "comma-separated queues (capabilities) to serve, polled in turn [TL_QUEUES]")
		nslots   = fs.Int("slots", slots, "tasks run at once [TL_SLOTS]")
		ackWait  = fs.Duration("ack-wait", durEnv("TL_ACK_WAIT", 30*time.Second), "ack deadline: a task whose agent is silent this long is delivered again [TL_ACK_WAIT]")
		grace    = fs.Duration("grace", durEnv("TL_GRACE", 30*time.Second), "on SIGTERM, time running tasks get to finish before they are handed back [TL_GRACE]")
		retry    = fs.Duration("retry-delay", durEnv("TL_RETRY_DELAY", time.Second), "back-off before a failed attempt is retried, doubled per attempt [TL_RETRY_DELAY]")
		id       = fs.String("id", env("TL_AGENT_ID", ""), "agent name (default host-pid) [TL_AGENT_ID]")
		level    = fs.String("log-level", env("TL_LOG_LEVEL", "info"), "debug, info, warn or error [TL_LOG_LEVEL]")
		kinds    = fs.Bool("kinds", false, "list the task kinds this binary can run and exit")
		connWait = fs.Duration("connect-wait", durEnv("TL_CONNECT_WAIT", time.Minute), "how long to keep trying to reach NATS at start [TL_CONNECT_WAIT]")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, Usage, prog)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (see --help)\n", prog, fs.Arg(0))
		return 2
	}
	if *kinds {
		fmt.Fprintln(stderr, strings.Join(reg.Kinds(), "\n"))
		return 0
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "%s: --log-level %q: expected debug, info, warn or error\n", prog, *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	if *natsURL == "" {
		home, err := endpoints.Home()
		if err == nil {
			var e endpoints.Endpoints
			if e, err = endpoints.Read(home); err == nil {
				*natsURL = e.NATS
				if *mongoURL == "" {
					*mongoURL = e.Mongo
				}
				if *project == "" {
					*project = e.Project
				}
				log.Info("using the local master's servers", "file", home+"/"+endpoints.File, "nats", e.NATS, "mongo", e.Mongo)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: no NATS URL: %v\n", prog, err)
			return 2
		}
	}

	var services any
	if *mongoURL != "" {
		db, err := store.Open(ctx, store.Config{URL: *mongoURL, Project: *project, Logger: log})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			return 1
		}
		defer db.Close(context.WithoutCancel(ctx))
		services = db
	}
	cfg := Config{
		NATSURL: *natsURL, Queues: splitList(*queues), Slots: *nslots, AckWait: *ackWait,
		Grace: *grace, RetryDelay: *retry, ID: *id, Registry: reg, Services: services, Log: log,
	}
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	// An agent may start before its server (a GPU node booting before the master):
	// keep trying for --connect-wait.
	var a *Agent
	err := queue.Retry(ctx, *connWait, func(ctx context.Context) error {
		var err error
		if a, err = New(ctx, cfg); err != nil {
			log.Warn("cannot reach NATS yet; retrying", "url", cfg.NATSURL, "err", err)
		}
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// defaultQueues is "cpu", with "cuda" first when an NVIDIA device node exists: the
// agent announces what the machine has.
func defaultQueues() string {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		return "cuda,cpu"
	}
	return "cpu"
}
