package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/tlgo/tl/agents/master"
	"github.com/tlgo/tl/agents/plan"
)

// A plan cancelled while its task runs on the only agent, then retried: the
// agent runs the retried task (it drops only what was queued before the cancel).
func TestRetryAfterCancelRuns(t *testing.T) {
	variants(t, func(t *testing.T, e *env) {
		e.runMaster()
		e.agent("w")
		ctx := context.Background()
		id := e.submit("name: cancel-retry\ntasks: [{id: a, kind: work, queue: QUEUE, params: {first_ms: 60000, ms: 10}}]\n")
		e.waitRunning(id, "a")
		if err := master.Cancel(ctx, e.js, id); err != nil {
			t.Fatal(err)
		}
		wait := func(want plan.Status) {
			e.eventually("plan "+id+" "+string(want), 60*time.Second, func() (bool, string) {
				p, err := e.status.Plan(ctx, id)
				if err != nil {
					return false, err.Error()
				}
				return p.Status == want, e.describe(id)
			})
		}
		wait(plan.Cancelled)
		if err := retryPlan(e, id); err != nil {
			t.Fatal(err)
		}
		wait(plan.Succeeded)
		if ts := e.tasks(id); ts["a"].Status != plan.Succeeded {
			t.Errorf("task a after the retry: %s; want succeeded", ts["a"].Status)
		}
	})
}
