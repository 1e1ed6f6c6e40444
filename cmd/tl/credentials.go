package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/agents/queue"
)

const credentialsAbout = `Writes a credentials file for the master's embedded NATS server, for an agent
or a client (tl submit, status, cancel, retry) on another machine. Run it on
the master's machine: it signs with the key in --home/credentials (created
with the home's first master, or here). Copy the file (mode 0600) to the other
machine and pass it with --credentials FILE (or TL_CREDENTIALS).

An agent's credentials name the queues it may pull from (--queues; * for all):
it can pull, acknowledge and report only on those, never publish a task. A
client's may send commands to the master and read the agents and the leader,
nothing else. Local agents and commands need no file: they read the ones the
master wrote in --home/credentials. The password is never printed.`

func newCredentialsCmd(stdout, _ io.Writer) *cobra.Command {
	var home, out, queues string
	cmd := &cobra.Command{
		Use:       "credentials agent|client -o FILE",
		Short:     "write a credentials file for an agent or a client on another machine",
		Long:      credentialsAbout,
		Example:   "  tl credentials agent --queues cuda,cpu -o gpu1.json\n  scp gpu1.json gpu1:\n  ssh gpu1 tl-agent --nats nats://master:7422 --credentials gpu1.json",
		Args:      nargs(1, 1),
		ValidArgs: []string{queue.RoleAgent, queue.RoleClient},
		RunE: func(_ *cobra.Command, args []string) error {
			role := args[0]
			if role != queue.RoleAgent && role != queue.RoleClient {
				return usageErrorf("credentials for %q: expected agent or client (the master's are in %s)", role, filepath.Join(home, queue.CredentialsDir))
			}
			if out == "" {
				return usageErrorf("no -o FILE: the credentials go to a file (mode 0600), never to the terminal")
			}
			var qs []string
			if role == queue.RoleAgent {
				if queues == "" {
					queues = defaultAgentQueues()
				}
				for _, q := range strings.Split(queues, ",") {
					if q = strings.TrimSpace(q); q != "" {
						qs = append(qs, q)
					}
				}
			} else if queues != "" {
				return usageErrorf("--queues is for agents' credentials")
			}
			if home == "" {
				return usageErrorf("no --home, no TL_HOME and no home directory: pass --home DIR")
			}
			auth, err := queue.LoadOrCreateAuth(home)
			if err != nil {
				return err
			}
			c, err := auth.New(role, qs)
			if err != nil {
				return usageError{err}
			}
			if err := queue.WriteCredentials(out, c); err != nil {
				return err
			}
			what := "a client"
			if role == queue.RoleAgent {
				what = "an agent of queues " + strings.Join(qs, ",")
			}
			fmt.Fprintf(stdout, "wrote the credentials of %s to %s (user %s, mode 0600)\n", what, out, c.User)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&out, "output", "o", "", "file to write (mode 0600)")
	fs.StringVar(&queues, "queues", "", "agent: comma-separated queues it may pull from, * for all (default: what tl-agent serves here, cpu or cuda,cpu)")
	fs.StringVar(&home, "home", defaultHome(), "the master's home, whose credentials/nats.key signs [TL_HOME]")
	cmd.AddCommand(newRevokeCmd(stdout))
	return cmd
}

func newRevokeCmd(stdout io.Writer) *cobra.Command {
	var home string
	var list bool
	cmd := &cobra.Command{
		Use:   "revoke FILE|ID...",
		Short: "revoke credentials: the master's server refuses them and drops their connections",
		Long: `Revokes credentials made by 'tl credentials' (a lost laptop, a retired agent):
the embedded NATS server of the master on --home refuses them from then on and
closes their open connections within a few seconds, while every other
credential keeps working. Name each by its file, its user name
(role:id[:queues]) or its id (the 16 hex digits after the role). The list is
HOME/credentials/revoked (mode 0600). --list prints the revoked ids.`,
		Example: "  tl credentials revoke gpu1.json\n  tl credentials revoke 1f2e3d4c5b6a7988\n  tl credentials revoke --list",
		RunE: func(_ *cobra.Command, args []string) error {
			if home == "" {
				return usageErrorf("no --home, no TL_HOME and no home directory: pass --home DIR")
			}
			if list {
				for _, id := range queue.Revoked(home) {
					fmt.Fprintln(stdout, id)
				}
				return nil
			}
			if len(args) == 0 {
				return usageErrorf("name the credentials to revoke: a file, a user name or an id")
			}
			var ids []string
			for _, a := range args {
				if c, err := queue.ReadCredentials(a); err == nil {
					ids = append(ids, c.User)
					continue
				} else if _, serr := os.Stat(a); serr == nil {
					return err // a file that is not credentials
				}
				if _, err := queue.CredentialsID(a); err != nil {
					return usageError{fmt.Errorf("%w (and no such file)", err)}
				}
				ids = append(ids, a)
			}
			added, err := queue.Revoke(home, ids...)
			if err != nil {
				return err
			}
			for _, id := range added {
				fmt.Fprintf(stdout, "revoked %s\n", id)
			}
			if len(added) < len(ids) {
				fmt.Fprintf(stdout, "%d already revoked\n", len(ids)-len(added))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", defaultHome(), "the master's home [TL_HOME]")
	cmd.Flags().BoolVar(&list, "list", false, "print the revoked ids")
	return cmd
}

// defaultAgentQueues is what tl-agent serves by default.
func defaultAgentQueues() string {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		return "cuda,cpu"
	}
	return "cpu"
}
