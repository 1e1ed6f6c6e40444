package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/tlgo/tl/agents/endpoints"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/internal/cli"
	"github.com/tlgo/tl/internal/redact"
	"github.com/tlgo/tl/store"
)

// Usage is the description in the help of an agent binary built on Main;
// %s is the program's name.
const Usage = `%s runs a workflow agent: pulls tasks from NATS JetStream queues, runs the
task functions compiled into this binary, and reports to the master. One task
per slot at a time; SIGTERM stops pulling, lets running tasks finish for
--grace, and hands back the rest.

With no --nats (and no TL_NATS_URL), the agent uses the local master's servers,
found in HOME/endpoints.json (--home, default $TL_HOME, else ~/.tl), with the
agent credentials it wrote beside them (HOME/credentials/agent.json). An agent
on another machine takes --nats and --credentials FILE, made on the master's
machine by 'tl credentials agent --queues QUEUES -o FILE'. Each flag
can also be given in the environment variable named in brackets.`

// usageError marks a usage error: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// flags are the command line of Main.
type flags struct {
	natsURL, mongoURL, project, queues, id, level, home string
	stateDir                                            string
	slots                                               int
	ackWait, grace, retry, connWait                     time.Duration
	kinds                                               bool
	ackWaitSet                                          bool // --ack-wait or TL_ACK_WAIT given
	credentials                                         string
}

// Main is the whole agent command: it parses args (without the program name), reads
// the environment, connects, and runs until ctx ends (cancel it on SIGTERM). It
// returns the process exit code: 0 after a clean shutdown or --help, 2 for bad
// usage (an unknown flag, an argument, a bad value), 1 for other errors. Flags
// may be written --name or -name. Build your own agent binary around it with your
// own Registry:
//
//	func main() {
//		reg := task.NewRegistry()
//		reg.MustRegister("train", myTrain)
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//		defer stop()
//		os.Exit(agent.Main(ctx, "my-agent", os.Args[1:], reg, os.Stderr))
//	}
func Main(ctx context.Context, prog string, args []string, reg *task.Registry, stderr io.Writer) int {
	cmd := newCommand(prog, reg, stderr)
	cmd.SetArgs(cli.GoFlagStyle(cmd, args))
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", prog, err, prog)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	return 1
}

// newCommand builds the agent's command; its help and errors go to stderr
// (an agent's stdout is left to its task functions).
func newCommand(prog string, reg *task.Registry, stderr io.Writer) *cobra.Command {
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
	home, _ := endpoints.Home()
	var f flags
	cmd := &cobra.Command{
		Use:   prog,
		Short: "a workflow agent",
		Long:  fmt.Sprintf(Usage, prog),
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q (the agent takes only flags)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.ackWaitSet = cmd.Flags().Changed("ack-wait") || os.Getenv("TL_ACK_WAIT") != ""
			return run(cmd.Context(), f, reg, stderr)
		},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	cmd.SetOut(stderr)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd.CompletionOptions.DisableDefaultCmd = true
	fs := cmd.Flags()
	fs.SortFlags = false
	// The URLs' environment variables are read when the agent starts, so that
	// a password in them never shows in --help.
	fs.StringVar(&f.natsURL, "nats", "", "NATS server URL, nats://host:port (default: the local master's) [TL_NATS_URL]")
	fs.StringVar(&f.mongoURL, "mongo", "", "MongoDB URL handed to task functions, mongodb://host:port (default: the local master's) [TL_MONGO_URL]")
	fs.StringVar(&f.project, "project", env("TL_PROJECT", ""), "store project for task functions [TL_PROJECT]")
	fs.StringVar(&f.home, "home", home, "directory of the local master's endpoints.json [TL_HOME]")
	fs.StringVar(&f.credentials, "credentials", "", "NATS credentials file, from `tl credentials agent` on the master's machine (default: the local master's agent credentials, HOME/credentials/agent.json) [TL_CREDENTIALS]")
	fs.StringVar(&f.queues, "queues", env("TL_QUEUES", defaultQueues()), "comma-separated queues (capabilities) to serve, polled in turn [TL_QUEUES]")
	fs.IntVar(&f.slots, "slots", slots, "tasks run at once [TL_SLOTS]")
	fs.DurationVar(&f.ackWait, "ack-wait", durEnv("TL_ACK_WAIT", 30*time.Second), "deprecated: the master sets each queue's ack deadline (tl master --ack-wait); this applies only to a queue no master has set up yet [TL_ACK_WAIT]")
	fs.StringVar(&f.stateDir, "state-dir", env("TL_AGENT_STATE", ""), "directory of the agent's outbox: finished results wait there (files 0600) until the master takes them; default HOME/agents/ID [TL_AGENT_STATE]")
	fs.DurationVar(&f.grace, "grace", durEnv("TL_GRACE", 30*time.Second), "on SIGTERM, time running tasks get to finish before they are handed back [TL_GRACE]")
	fs.DurationVar(&f.retry, "retry-delay", durEnv("TL_RETRY_DELAY", time.Second), "back-off before a failed attempt is retried, doubled per attempt [TL_RETRY_DELAY]")
	fs.StringVar(&f.id, "id", env("TL_AGENT_ID", ""), "agent name (default host-pid) [TL_AGENT_ID]")
	fs.StringVar(&f.level, "log-level", env("TL_LOG_LEVEL", "info"), "debug, info, warn or error [TL_LOG_LEVEL]")
	fs.BoolVar(&f.kinds, "kinds", false, "list the task kinds this binary can run and exit")
	fs.DurationVar(&f.connWait, "connect-wait", durEnv("TL_CONNECT_WAIT", time.Minute), "how long to keep trying to reach NATS at start [TL_CONNECT_WAIT]")
	return cmd
}

// run is the agent command once its flags are parsed.
func run(ctx context.Context, f flags, reg *task.Registry, stderr io.Writer) error {
	natsURL, mongoURL, project := &f.natsURL, &f.mongoURL, &f.project
	if *natsURL == "" {
		*natsURL = os.Getenv("TL_NATS_URL")
	}
	if *mongoURL == "" {
		*mongoURL = os.Getenv("TL_MONGO_URL")
	}
	if f.kinds {
		fmt.Fprintln(stderr, strings.Join(reg.Kinds(), "\n"))
		return nil
	}
	level := &f.level
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return usageErrorf("--log-level %q: expected debug, info, warn or error", *level)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	if f.ackWaitSet {
		log.Warn("--ack-wait (TL_ACK_WAIT) is deprecated: a queue's ack deadline is the master's (tl master --ack-wait), the same for every agent; "+
			"this agent uses it only if it creates a queue no master has set up, and heartbeats every third of the deadline the queue has", "ack_wait", f.ackWait)
	}

	local := false
	if *natsURL == "" {
		local = true
		home := f.home
		err := errors.New("no --home, no TL_HOME and no home directory")
		if home != "" {
			var e endpoints.Endpoints
			if e, err = endpoints.Read(home); err == nil {
				*natsURL = e.NATS
				if *mongoURL == "" {
					*mongoURL = e.Mongo
				}
				if *project == "" {
					*project = e.Project
				}
				log.Info("using the local master's servers", "file", filepath.Join(home, endpoints.File), "nats", redact.URL(e.NATS), "mongo", redact.URL(e.Mongo))
			}
		}
		if err != nil {
			return usageErrorf("no NATS URL: %w", err)
		}
	}

	var services any
	if *mongoURL != "" {
		// Like NATS, the store may come up after the agent: --connect-wait.
		var db *store.DB
		err := queue.Retry(ctx, f.connWait, func(ctx context.Context) error {
			var err error
			if db, err = store.Open(ctx, store.Config{URL: *mongoURL, Project: *project, Logger: log}); err != nil {
				log.Warn("cannot reach the store yet; retrying", "url", redact.URL(*mongoURL), "err", redact.Error(err))
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("nothing answers at %s (the store) after --connect-wait %s: %w", redact.URL(*mongoURL), f.connWait, redact.Error(err))
		}
		defer db.Close(context.WithoutCancel(ctx))
		services = db
	}
	if f.stateDir == "" && f.home != "" {
		id := f.id
		if id == "" {
			host, _ := os.Hostname()
			id = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		f.stateDir = filepath.Join(f.home, "agents", id)
		f.id = id
	}
	creds, from, cerr := credentials(f.credentials, f.home, local)
	if cerr != nil {
		return usageError{cerr}
	}
	if creds != nil {
		log.Info("using NATS credentials", "from", from, "user", creds.User)
	}
	cfg := Config{
		Credentials: creds,
		NATSURL:     *natsURL, Queues: splitList(f.queues), Slots: f.slots, AckWait: f.ackWait, StateDir: f.stateDir,
		Grace: f.grace, RetryDelay: f.retry, ID: f.id, Registry: reg, Services: services, Log: log,
	}
	if err := cfg.Check(); err != nil {
		return usageError{err}
	}
	// An agent may start before its server (a GPU node booting before the master):
	// keep trying for --connect-wait.
	var a *Agent
	var refused error // the server answered and refused: retrying cannot help
	err := queue.Retry(ctx, f.connWait, func(ctx context.Context) error {
		var err error
		if a, err = New(ctx, cfg); errors.Is(err, nats.ErrAuthorization) {
			refused = err
			return nil
		}
		if err != nil {
			log.Warn("cannot reach NATS yet; retrying", "url", redact.URL(cfg.NATSURL), "err", redact.Error(err))
		}
		return err
	})
	if refused != nil {
		what := "no credentials (pass --credentials FILE, made with: tl credentials agent on the master's machine)"
		if creds != nil {
			what = fmt.Sprintf("the credentials from %s (user %s)", from, creds.User)
		}
		return fmt.Errorf("NATS at %s refused %s: %w", redact.URL(cfg.NATSURL), what, redact.Error(refused))
	}
	if err != nil {
		return redact.Error(err)
	}
	return a.Run(ctx)
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
