package master

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/plan"
	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/status"
)

// checkLost queues again the running tasks that nobody will finish: the agent
// that started the task has been gone from the roster for Config.LostGrace,
// and the task's message is no longer in its queue, so JetStream will not
// deliver it again either. That happens when the message was acknowledged
// without a result reaching the master: an agent that may pull from a shared
// queue may acknowledge another agent's delivery (the server cannot tell
// deliveries apart), and a forged or mistaken ack must not lose a task. A task
// whose message is still queued is left to the queue's redelivery; nothing is
// decided while events wait unread on the master's stream (a result may be
// among them) or while the roster cannot be read. The next dispatch continues
// the attempt count: a task lost on its last attempt fails.
func (m *Master) checkLost(ctx context.Context) {
	running := 0
	for _, ps := range m.plans {
		running += ps.count[plan.Running]
	}
	if running == 0 {
		clear(m.s.missingSince)
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	agents, err := queue.ListAgents(lctx, m.js)
	if err != nil {
		m.log.Debug("cannot read the agents' roster; lost tasks not checked", "err", err)
		return
	}
	present := make(map[string]bool, len(agents))
	for _, a := range agents {
		present[a.ID] = true
	}
	now := time.Now()
	seen := map[string]bool{}
	var suspects []*status.Task
	for _, ps := range m.plans {
		if ps.count[plan.Running] == 0 {
			continue
		}
		for _, t := range ps.tasks {
			if t.Status != plan.Running || present[t.Agent] {
				continue
			}
			seen[t.Key] = true
			since, ok := m.s.missingSince[t.Key]
			if !ok {
				m.s.missingSince[t.Key] = now
				continue
			}
			if now.Sub(since) >= m.cfg.LostGrace {
				suspects = append(suspects, t)
			}
		}
	}
	for k := range m.s.missingSince {
		if !seen[k] {
			delete(m.s.missingSince, k)
		}
	}
	if len(suspects) == 0 {
		return
	}
	cons, err := m.js.Consumer(lctx, queue.MasterStream, queue.MasterConsumer)
	if err != nil {
		return
	}
	info, err := cons.Info(lctx)
	if err != nil || info.NumPending > 0 {
		return // a result may wait among the unread events
	}
	stream, err := m.js.Stream(lctx, queue.TasksStream)
	if err != nil {
		return
	}
	for _, cur := range suspects {
		if cur.Seq > 0 {
			if _, err := stream.GetMsg(lctx, cur.Seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
				continue // still queued (redelivered after its ack deadline), or unknown
			}
		}
		ps := m.plans[cur.Plan]
		if ps == nil || ps.tasks[cur.ID] != cur {
			continue
		}
		why := fmt.Sprintf("lost: agent %s left %v ago and the task's message was acknowledged without a result", cur.Agent, now.Sub(m.s.missingSince[cur.Key]).Round(time.Second))
		delete(m.s.missingSince, cur.Key)
		if cur.Attempt >= cur.MaxAttempts {
			m.failTask(ps, cloneTask(cur), why+fmt.Sprintf(" (attempt %d of %d)", cur.Attempt, cur.MaxAttempts))
			continue
		}
		t := cloneTask(cur)
		t.Status = plan.Pending
		t.AttemptBase = t.Attempt
		t.Updated = now.UTC()
		t.Record(status.Change{Time: t.Updated, Status: plan.Pending, Attempt: t.Attempt, Agent: t.Agent, Note: why + "; queued again"})
		m.log.Warn("task lost; queued again", "task", t.Key, "agent", t.Agent, "attempt", t.Attempt)
		m.mark(ps, t)
		m.schedule(ps)
	}
}
