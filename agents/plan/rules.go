package plan

// Status is the state of a task, or of a plan, as the master records it.
type Status string

// Task states. Pending waits for its dependencies; Queued is on a task queue;
// Running has an agent; Blocked cannot run because a dependency failed.
const (
	Pending   Status = "pending"
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Blocked   Status = "blocked"
	Cancelled Status = "cancelled"
)

// Terminal reports whether no more events can change s without a retry.
func (s Status) Terminal() bool {
	return s == Succeeded || s == Failed || s == Blocked || s == Cancelled
}

// Ready returns, in plan order, the pending tasks whose dependencies all succeeded.
func Ready(s *Spec, states map[string]Status) []string {
	var ready []string
	for _, t := range s.Tasks {
		if states[t.ID] != Pending {
			continue
		}
		ok := true
		for _, d := range t.Deps {
			if states[d] != Succeeded {
				ok = false
				break
			}
		}
		if ok {
			ready = append(ready, t.ID)
		}
	}
	return ready
}

// Downstream returns, in plan order, every task that depends on id directly or not.
func Downstream(s *Spec, id string) []string {
	down := map[string]bool{id: true}
	// Plans are small and deps may point forward, so iterate to a fixed point.
	for changed := true; changed; {
		changed = false
		for _, t := range s.Tasks {
			if down[t.ID] {
				continue
			}
			for _, d := range t.Deps {
				if down[d] {
					down[t.ID] = true
					changed = true
					break
				}
			}
		}
	}
	var out []string
	for _, t := range s.Tasks {
		if t.ID != id && down[t.ID] {
			out = append(out, t.ID)
		}
	}
	return out
}

// PlanStatus derives a plan's status from its tasks': running while any task can
// still make progress, then succeeded, failed, or cancelled.
func PlanStatus(s *Spec, states map[string]Status) Status {
	all := true
	failed, cancelled := false, false
	for _, t := range s.Tasks {
		st := states[t.ID]
		if !st.Terminal() {
			return Running
		}
		all = all && st == Succeeded
		failed = failed || st == Failed || st == Blocked
		cancelled = cancelled || st == Cancelled
	}
	switch {
	case all:
		return Succeeded
	case failed:
		return Failed
	case cancelled:
		return Cancelled
	}
	return Running
}
