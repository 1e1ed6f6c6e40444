package agent_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/agent"
	"github.com/tlgo/tl/agents/builtin"
	"github.com/tlgo/tl/agents/task"
)

func TestMainUsage(t *testing.T) {
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_NATS_URL", "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "SIGTERM stops pulling"},
		{[]string{"--kinds"}, 0, "fail\nnoop\nsleep"},
		{[]string{"--help"}, 0, "--home"},
		{[]string{"--help"}, 0, "[TL_NATS_URL]"},
		{[]string{"-kinds"}, 0, "noop"}, // Go-style single-dash long flags still work
		{[]string{"--slots"}, 2, "flag needs an argument"},
		{[]string{"--frobnicate"}, 2, "unknown flag: --frobnicate"},
		{[]string{"--slots", "many"}, 2, `invalid argument "many"`},
		{[]string{"--home", "/nonexistent/tl-home"}, 2, "/nonexistent/tl-home/endpoints.json"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--log-level", "loud"}, 2, `--log-level "loud"`},
		{nil, 2, "no local master"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--queues", "gpu.0"}, 2, `queue "gpu.0"`},
		{[]string{"--nats", "nats://127.0.0.1:1", "--connect-wait", "300ms"}, 1, "connect to nats at nats://127.0.0.1:1"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--mongo", "mongodb://127.0.0.1:1", "--connect-wait", "300ms"}, 1, "nothing answers at mongodb://127.0.0.1:1 (the store)"},
	} {
		var out bytes.Buffer
		code := agent.Main(context.Background(), "tl-agent", c.args, reg, &out)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("tl-agent %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, out.String(), c.code, c.want)
		}
	}
}

// A URL's password shows neither in --help nor in errors.
func TestMainHidesPasswords(t *testing.T) {
	reg := task.NewRegistry()
	if err := builtin.Register(reg); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TL_HOME", t.TempDir())
	t.Setenv("TL_NATS_URL", "nats://tl:s3cret@127.0.0.1:1")
	for _, args := range [][]string{{"--help"}, {"--connect-wait", "200ms"}} {
		var out bytes.Buffer
		code := agent.Main(context.Background(), "tl-agent", args, reg, &out)
		if strings.Contains(out.String(), "s3cret") {
			t.Errorf("tl-agent %v (exit %d) shows the password:\n%s", args, code, out.String())
		}
		if args[0] != "--help" && (code != 1 || !strings.Contains(out.String(), "127.0.0.1:1")) {
			t.Errorf("tl-agent %v: exit %d, %q; want exit 1 naming the address", args, code, out.String())
		}
	}
}
