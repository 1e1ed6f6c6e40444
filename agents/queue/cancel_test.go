package queue_test

import (
	"testing"

	"github.com/tlgo/tl/agents/queue"
)

func TestCancelMessage(t *testing.T) {
	if plan, upTo := queue.ParseCancel(queue.CancelMessage("p-123", 42)); plan != "p-123" || upTo != 42 {
		t.Errorf("round trip: %q %d; want p-123 42", plan, upTo)
	}
	if plan, upTo := queue.ParseCancel([]byte("p-123")); plan != "p-123" || upTo != 0 {
		t.Errorf("a bare plan id: %q %d; want p-123 0 (everything)", plan, upTo)
	}
}
