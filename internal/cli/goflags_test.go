package cli_test

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tlgo/tl/internal/cli"
)

func TestGoFlagStyle(t *testing.T) {
	root := &cobra.Command{Use: "tl"}
	root.PersistentFlags().String("home", "", "")
	sub := &cobra.Command{Use: "submit"}
	sub.Flags().Bool("wait", false, "")
	sub.Flags().StringP("output", "o", "", "")
	sub.Flags().String("tags", "", "")
	root.AddCommand(sub)
	in := []string{"submit", "-wait", "plan.yaml", "-home=/x", "-o", "f.png", "--tags", "-x", "-0.5", "-unknown", "--", "-wait"}
	want := []string{"submit", "--wait", "plan.yaml", "--home=/x", "-o", "f.png", "--tags", "-x", "-0.5", "-unknown", "--", "-wait"}
	if got := cli.GoFlagStyle(root, in); !slices.Equal(got, want) {
		t.Fatalf("GoFlagStyle:\n got %q\nwant %q", got, want)
	}
}
