// Command tl runs and follows training plans (the master and the workflow CLI)
// and shows what the store holds: saved models, training curves and datasets.
//
//	tl master              run the master (embedded NATS and store unless given URLs)
//	tl submit PLAN.yaml    send a plan to the master; --wait follows it to the end
//	tl status [PLAN]       list plans, or show one plan's tasks; also the agents
//	tl cancel PLAN         cancel a plan: queued tasks are removed, running ones stopped
//	tl retry PLAN [TASK]   run failed, blocked or cancelled tasks again
//	tl doctor              what this machine offers: CPU kernels, OpenBLAS, GPU, NVRTC
//	tl models [NAME]       list the saved models, or one model's versions
//	tl runs MODEL          a model's training runs: steps, time span, last metrics
//	tl curve MODEL         draw a model's training curves to a PNG (--csv: the series)
//	tl datasets [NAME]     list the datasets (views) and their sample counts, or show one
//	tl import idx|folder   import IDX files or an image folder as samples (--define NAME)
//	tl export idx DATASET  write a dataset to IDX images and labels files
//
// Every command takes --help. Without --nats/--mongo (or TL_NATS_URL/TL_MONGO_URL),
// the commands use the local master's servers, found in $TL_HOME/endpoints.json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: tl COMMAND [flags] [args]

Runs training plans on the workflow module: a master schedules each plan's tasks
(a DAG) on NATS JetStream queues, agents (tl-agent) run them, and the master
records progress in MongoDB. It also shows what the store holds per project:
model versions and their metrics, training runs and their curves, samples and
the datasets defined over them.

Commands:
  master              run the master; with no URLs it starts NATS and the store itself
  submit PLAN         submit a plan file (YAML or JSON); --wait follows it to the end
  status [PLAN]       list plans, or show one plan's tasks, attempts, errors; and agents
  cancel PLAN         cancel a plan
  retry PLAN [TASK...] run a plan's failed, blocked or cancelled tasks again
  doctor              report the CPU kernels, OpenBLAS, the GPU (or why none), NVRTC
  models [NAME]       list the saved models, or one model's versions and metrics
  runs MODEL          list a model's training runs: events, steps, last metric values
  curve MODEL         draw a model's training curves to a PNG; --csv writes the series
  datasets [NAME]     list the datasets and their sample counts, or one dataset's
                      query, counts per label and tag, first keys
  import idx IMAGES LABELS | import folder ROOT
                      import IDX files or ROOT/CLASS/IMAGE files as samples;
                      --tags, --prefix, --define NAME; rerunning skips them
  export idx DATASET IMAGES LABELS
                      write a dataset of uint8 images to IDX files

Run 'tl COMMAND --help' for a command's flags.
`

// errUsage marks a usage error: exit code 2, the message already printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program, so that tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "master":
		err = cmdMaster(ctx, rest, stdout, stderr)
	case "submit":
		err = cmdSubmit(ctx, rest, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, rest, stdout, stderr)
	case "cancel":
		err = cmdCancel(ctx, rest, stdout, stderr)
	case "retry":
		err = cmdRetry(ctx, rest, stdout, stderr)
	case "doctor":
		err = cmdDoctor(ctx, rest, stdout, stderr)
	case "models":
		err = cmdModels(ctx, rest, stdout, stderr)
	case "runs":
		err = cmdRuns(ctx, rest, stdout, stderr)
	case "curve":
		err = cmdCurve(ctx, rest, stdout, stderr)
	case "datasets":
		err = cmdDatasets(ctx, rest, stdout, stderr)
	case "import":
		err = cmdImport(ctx, rest, stdout, stderr)
	case "export":
		err = cmdExport(ctx, rest, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "tl: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errPlanFailed):
		fmt.Fprintln(stderr, "tl:", err)
		return 1
	}
	fmt.Fprintln(stderr, "tl:", err)
	return 1
}

// newFlags returns a flag set for a command whose usage line and description are given.
func newFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tl %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fmt.Fprintf(fs.Output(), "%s: expected %s, got %d argument(s)\n", fs.Name(), argCount(minArgs, maxArgs), n)
		fs.Usage()
		return errUsage
	}
	return nil
}

func argCount(lo, hi int) string {
	switch {
	case lo == hi:
		return fmt.Sprintf("%d argument(s)", lo)
	case hi < 0:
		return fmt.Sprintf("at least %d argument(s)", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}
