package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
)

// The paper's two-stage plan: train A, then train B on A's output.
func TestTwoStagePlan(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		e.runMaster()
		e.agent("solo")
		id := e.submit(`
name: caption
tasks:
  - {id: cnn, kind: work, queue: QUEUE, input: images, model: cnn, output: features, params: {ms: 50, value: 1}}
  - {id: rnn, kind: work, queue: QUEUE, deps: [cnn], input: features, model: rnn, output: captions, params: {ms: 50, value: 10}}
`)
		p, ts := e.waitPlan(id)
		if p.Status != plan.Succeeded {
			t.Fatalf("plan %s: %s (%s); tasks: %s", id, p.Status, p.Note, e.describe(id))
		}
		a, b := output(t, ts["cnn"]), output(t, ts["rnn"])
		if a["output"] != "features" || b["input"] != "features" || b["model"] != "rnn" {
			t.Errorf("stage outputs: cnn %v, rnn %v", a, b)
		}
		// B received A's output and built on it: 10 + A's 1.
		if fmt.Sprint(b["upstream"]) != "[cnn]" || b["value"] != 11.0 {
			t.Errorf("rnn did not get cnn's result: %v", b)
		}
		if !ts["rnn"].Started.After(ts["cnn"].Updated) && !ts["rnn"].Started.Equal(ts["cnn"].Updated) {
			t.Errorf("rnn started %v before cnn finished %v", ts["rnn"].Started, ts["cnn"].Updated)
		}
		for _, k := range []string{"cnn", "rnn"} {
			if n := e.count(effectsColl, "task", id+"/"+k); n != 1 {
				t.Errorf("task %s has %d effects, want 1", k, n)
			}
		}
	})
}

// Eight tasks over three agents, and a gather task that sums their results.
func TestFanOutPlan(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		e.runMaster()
		for _, n := range []string{"a1", "a2", "a3"} {
			e.agent(n)
		}
		e.waitAgents(3)
		var b strings.Builder
		b.WriteString("name: fan\ntasks:\n")
		var deps []string
		for i := range 8 {
			fmt.Fprintf(&b, "  - {id: part%d, kind: work, queue: QUEUE, params: {ms: 400, value: %d}}\n", i, i+1)
			deps = append(deps, fmt.Sprintf("part%d", i))
		}
		fmt.Fprintf(&b, "  - {id: gather, kind: work, queue: QUEUE, deps: [%s], params: {ms: 1}}\n", strings.Join(deps, ", "))
		id := e.submit(b.String())
		p, ts := e.waitPlan(id)
		if p.Status != plan.Succeeded {
			t.Fatalf("plan %s: %s (%s); tasks: %s", id, p.Status, p.Note, e.describe(id))
		}
		g := output(t, ts["gather"])
		if g["value"] != 36.0 || len(g["upstream"].([]any)) != 8 {
			t.Errorf("gather = %v; want the sum 1+...+8 = 36 from 8 upstream results", g)
		}
		agents := map[string]int{}
		for _, d := range deps {
			agents[ts[d].Agent]++
			if n := e.count(runsColl, "task", id+"/"+d); n != 1 {
				t.Errorf("task %s ran %d times, want once", d, n)
			}
		}
		if len(agents) < 2 {
			t.Errorf("the 8 tasks ran on %v; want them spread over the agents", agents)
		}
		t.Logf("tasks per agent: %v", agents)
	})
}

// Routing by capability: tasks on the cuda queue go only to the agent that announces
// cuda; cpu tasks may go to either.
func TestRoutingByCapability(t *testing.T) {
	e := newEnv(t, false)
	e.runMaster()
	cpuQ, cudaQ := e.queue, e.queue+"cuda"
	e.agent("cpu-node", "TL_QUEUES="+cpuQ)
	e.agent("gpu-node", "TL_QUEUES="+cudaQ+","+cpuQ)
	e.waitAgents(2)
	agents, err := queue.ListAgents(context.Background(), e.js)
	if err != nil {
		t.Fatal(err)
	}
	announced := map[string]string{}
	for _, a := range agents {
		announced[a.ID] = strings.Join(a.Queues, ",")
	}
	if announced["gpu-node"] != cudaQ+","+cpuQ || announced["cpu-node"] != cpuQ {
		t.Errorf("announced queues %v", announced)
	}
	var b strings.Builder
	b.WriteString("name: routed\ntasks:\n")
	for i := range 3 {
		fmt.Fprintf(&b, "  - {id: gpu%d, kind: work, queue: %s, params: {ms: 200}}\n", i, cudaQ)
		fmt.Fprintf(&b, "  - {id: cpu%d, kind: work, queue: %s, params: {ms: 200}}\n", i, cpuQ)
	}
	id := e.submit(b.String())
	p, ts := e.waitPlan(id)
	if p.Status != plan.Succeeded {
		t.Fatalf("plan %s: %s; tasks: %s", id, p.Status, e.describe(id))
	}
	for i := range 3 {
		if a := ts[fmt.Sprintf("gpu%d", i)].Agent; a != "gpu-node" {
			t.Errorf("gpu%d ran on %s; cuda tasks must run on gpu-node", i, a)
		}
	}
}
