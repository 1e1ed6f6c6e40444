// Package cli holds what the library's command-line programs (tl, tl-agent,
// tlbench) share beyond cobra itself.
package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// GoFlagStyle rewrites "-name" and "-name=value" as "--name..." wherever name
// is a long flag of root or of one of its subcommands, up to a "--", so that
// the single-dash long flags of the earlier flag-package command lines keep
// working. Anything else, a value such as "-x" or "-0.5" among them, is left
// as it is.
func GoFlagStyle(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(c *cobra.Command)
	add := func(f *pflag.Flag) {
		if len(f.Name) > 1 {
			long[f.Name] = true
		}
	}
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	long["help"] = true
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a[1:], "=")
			if long[name] {
				a = "-" + a
			}
		}
		out[i] = a
	}
	return out
}
