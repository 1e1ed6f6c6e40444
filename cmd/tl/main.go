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
//	tl credentials ROLE    a credentials file for a remote agent or client (-o FILE)
//	tl stream define|list|pause|resume|delete  rules that start training on new samples
//	tl ui                  the web dashboard of the store and the workflow
//	tl completion SHELL    a completion script for bash, zsh, fish or powershell
//
// Flags go before or after the arguments. Every command takes --help. Without
// --nats/--mongo (or TL_NATS_URL/TL_MONGO_URL), the commands use the local
// master's servers, found in HOME/endpoints.json (--home, default $TL_HOME, else
// ~/.tl); with no master running, the store commands open HOME/store themselves.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tlgo/tl/internal/cli"
)

const rootAbout = `Runs training plans on the workflow module: a master schedules each plan's tasks
(a DAG) on NATS JetStream queues, agents (tl-agent) run them, and the master
records progress in MongoDB. It also shows what the store holds per project:
model versions and their metrics, training runs and their curves, samples and
the datasets defined over them.

Without --nats/--mongo (or TL_NATS_URL/TL_MONGO_URL), the commands use the local
master's servers, found in HOME/endpoints.json; HOME is --home, default $TL_HOME,
else ~/.tl. With no master running, the store commands (models, runs, curve,
datasets, import, export, status) open the store in HOME/store themselves.
An explicit URL is always used: a command given one never falls back to the
local master.`

// usageTemplate is the help of every command: the use line, the commands
// with their arguments, the flags.
const usageTemplate = `Usage:{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND [flags] [args]{{else if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Use 24}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Flags go before or after the arguments. Run '{{.CommandPath}} COMMAND --help' for a command's flags.{{end}}
`

// usageError marks a usage error (unknown command or flag, wrong number of
// arguments, a bad flag value): exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	interrupts(cancel, os.Stderr)
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// interrupts cancels the run on the first SIGINT or SIGTERM, so that a command
// stops cleanly (the master says what it waits for), and exits at once on the
// second: what the servers committed is on disk, the rest is let go.
func interrupts(cancel context.CancelFunc, stderr io.Writer) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(stderr, "tl: %v: stopping (interrupt again to stop at once)\n", s)
		cancel()
		s = <-sig
		fmt.Fprintf(stderr, "tl: %v again: stopping at once\n", s)
		os.Exit(130)
	}()
}

// run is the whole program, so that tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(cli.GoFlagStyle(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode("tl", cmd, err, stderr)
}

// exitCode prints err and returns the process's exit code: 0 on success, 2
// for a usage error (with a pointer to the command's help), 1 otherwise.
func exitCode(prog string, cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		path := prog
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", path, err, path)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	return 1
}

// newRoot builds the command tree; every call returns a fresh one.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tl",
		Short: "run training plans and look into the store",
		Long:  rootAbout,
		// A command name that is not one of ours: a usage error, not help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				hint := ""
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					hint = "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageErrorf("unknown command %q%s", args[0], hint)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Usage()
			return usageErrorf("no command given")
		},
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	setup(root, stdout, stderr)
	root.AddCommand(
		newMasterCmd(stdout, stderr),
		newSubmitCmd(stdout, stderr),
		newStatusCmd(stdout, stderr),
		newCancelCmd(stdout, stderr),
		newRetryCmd(stdout, stderr),
		newDoctorCmd(stdout, stderr),
		newModelsCmd(stdout, stderr),
		newRunsCmd(stdout, stderr),
		newCurveCmd(stdout, stderr),
		newDatasetsCmd(stdout, stderr),
		newImportCmd(stdout, stderr),
		newExportCmd(stdout, stderr),
		newUICmd(stdout, stderr),
		newCredentialsCmd(stdout, stderr),
		newStreamCmd(stdout, stderr),
		newSweepCmd(stdout, stderr),
		newCVCmd(stdout, stderr),
		newRLCmd(stdout, stderr),
	)
	root.SuggestionsMinimumDistance = 2
	root.InitDefaultCompletionCmd()
	// A command that only groups others ("completion") called with no or an
	// unknown subcommand: a usage error, not its help.
	for _, c := range root.Commands() {
		if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
			var names []string
			for _, sub := range c.Commands() {
				names = append(names, sub.Name())
			}
			c.Args = subcommandArgs(strings.Join(names, ", "))
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
	return root
}

// setup gives a root command the shared behaviour: output streams, the help
// template, usage errors for bad flags.
func setup(root *cobra.Command, stdout, stderr io.Writer) {
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetUsageTemplate(usageTemplate)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SilenceErrors, root.SilenceUsage = true, true
}

// nargs checks the number of positional arguments: from lo to hi (hi < 0:
// no limit).
func nargs(lo, hi int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if n := len(args); n < lo || (hi >= 0 && n > hi) {
			return usageErrorf("expected %s, got %d", argCount(lo, hi), n)
		}
		return nil
	}
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
