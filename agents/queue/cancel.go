package queue

import (
	"strconv"
	"strings"
)

// CancelMessage is the broadcast on CancelSubject that cancels plan: tasks of
// the plan stored in the task stream at sequence upTo or before are dropped
// by the agents that get them. A retry after the cancel publishes its tasks
// later, with higher sequences, so the agents run them.
func CancelMessage(plan string, upTo uint64) []byte {
	return []byte(plan + " " + strconv.FormatUint(upTo, 10))
}

// ParseCancel reads a CancelMessage. A message of a plan id alone (from a
// master before sequences were sent) cancels every task of the plan: upTo 0.
func ParseCancel(data []byte) (plan string, upTo uint64) {
	plan, seq, ok := strings.Cut(string(data), " ")
	if !ok {
		return plan, 0
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return plan, 0
	}
	return plan, n
}
