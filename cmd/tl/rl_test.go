package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/plan"
)

// tl rl --print writes a plan that parses: one trainer and the players, with
// the game's defaults and the flags' values.
func TestRLPrint(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"rl", "pong", "--print", "--run", "r1", "--players", "3", "--minutes", "5"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	spec, err := plan.Parse(out.Bytes(), "printed")
	if err != nil {
		t.Fatalf("the printed plan: %v\n%s", err, out.String())
	}
	if len(spec.Tasks) != 4 || spec.Tasks[0].Kind != "rl-trainer" || spec.Tasks[3].Kind != "rl-player" {
		t.Fatalf("tasks %+v, want a trainer and 3 players", spec.Tasks)
	}
	p := spec.Tasks[0].Params
	if p["run"] != "r1" || p["env"] != "pong" || p["duration"] != "5m0s" || p["unroll"] != 20 || p["target"] != nil {
		t.Errorf("trainer params %v", p)
	}
	if d, err := rlPlan("cartpole", &rlFlags{queue: "cpu", players: 1, envs: 16, batch: 16, saveEvery: 10}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil ||
		!strings.Contains(d, "run: cartpole-20260102-030405") || !strings.Contains(d, "target: 195") {
		t.Errorf("cartpole defaults: %v\n%s", err, d)
	}
}

// Bad flags are usage errors (exit 2) that say what is wrong, and submit
// nothing (no server is reachable here).
func TestRLBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rl", "chess"}, `game "chess"`},
		{[]string{"rl"}, ""},
		{[]string{"rl", "cartpole", "--envs", "8"}, "not a multiple of --batch 16"},
		{[]string{"rl", "cartpole", "--run", "a.b"}, `--run "a.b"`},
		{[]string{"rl", "cartpole", "--players", "0"}, "--players 0"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb)
		if c.want == "" {
			if code == 0 {
				t.Errorf("%v: exit 0", c.args)
			}
			continue
		}
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}
