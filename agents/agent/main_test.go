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
		{[]string{"--slots"}, 2, "flag needs an argument"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--log-level", "loud"}, 2, `--log-level "loud"`},
		{nil, 2, "no local master"},
		{[]string{"--nats", "nats://127.0.0.1:1", "--queues", "gpu.0"}, 2, `queue "gpu.0"`},
		{[]string{"--nats", "nats://127.0.0.1:1", "--connect-wait", "300ms"}, 1, "connect to nats at nats://127.0.0.1:1"},
	} {
		var out bytes.Buffer
		code := agent.Main(context.Background(), "tl-agent", c.args, reg, &out)
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("tl-agent %v: exit %d, output %q; want exit %d mentioning %q", c.args, code, out.String(), c.code, c.want)
		}
	}
}
