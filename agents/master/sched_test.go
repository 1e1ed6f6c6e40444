package master

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/status"
)

// The incremental state (counts, waiting dependencies, ready queue) agrees with
// the rules of package plan, which look at the whole plan, through random
// changes of random plans.
func TestPlanStateMatchesRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := []plan.Status{plan.Pending, plan.Queued, plan.Running, plan.Succeeded, plan.Failed, plan.Blocked, plan.Cancelled}
	for trial := range 200 {
		n := 1 + rng.IntN(12)
		spec := &plan.Spec{Name: "p"}
		for i := range n {
			ts := plan.TaskSpec{ID: fmt.Sprintf("t%d", i), Kind: "k"}
			for j := range i { // deps point backwards: no cycles
				if rng.IntN(3) == 0 {
					ts.Deps = append(ts.Deps, fmt.Sprintf("t%d", j))
				}
			}
			spec.Tasks = append(spec.Tasks, ts)
		}
		ps := newPlanState(&status.Plan{ID: "p"}, spec)
		for _, ts := range spec.Tasks {
			ps.adopt(&status.Task{ID: ts.ID, Status: plan.Pending})
		}
		for step := range 30 {
			id := spec.Tasks[rng.IntN(n)].ID
			ps.adopt(&status.Task{ID: id, Status: all[rng.IntN(len(all))]})
			if got, want := ps.status(), plan.PlanStatus(spec, ps.st); got != want {
				t.Fatalf("trial %d step %d: status %s, plan.PlanStatus %s (%v)", trial, step, got, want, ps.st)
			}
			if got, want := ps.active(), countOf(ps.st, plan.Queued, plan.Running); got != want {
				t.Fatalf("trial %d step %d: active %d, want %d", trial, step, got, want)
			}
			if rng.IntN(4) == 0 {
				want := plan.Ready(spec, ps.st)
				got := ps.takeReady(n)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("trial %d step %d: ready %v, plan.Ready %v (%v)", trial, step, got, want, ps.st)
				}
				for _, id := range got { // taken: back in the queue, as a failed dispatch does
					ps.push(ps.index[id])
				}
			}
		}
		for _, ts := range spec.Tasks {
			want := plan.Downstream(spec, ts.ID)
			if got := ps.downstream(ts.ID); !slices.Equal(got, want) {
				t.Fatalf("trial %d: downstream(%s) = %v, plan.Downstream %v", trial, ts.ID, got, want)
			}
		}
	}
}

func countOf(st map[string]plan.Status, of ...plan.Status) int {
	n := 0
	for _, s := range st {
		if slices.Contains(of, s) {
			n++
		}
	}
	return n
}
