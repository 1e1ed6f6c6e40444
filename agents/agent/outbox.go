package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tlgo/tl/agents/task"
)

// outbox keeps the events of finished tasks on disk until the master has taken
// them (the event's publish was acknowledged by the stream), so that a result
// outlives an outage of the server, or of the agent, however long. Files are
// 0600 in a 0700 directory: results may name models and data. With no
// directory the outbox is memory only: it still outlives an outage, not a
// restart of the agent.
//
// It also remembers, in memory, the last events it delivered, so that a task
// delivered again after its result went out (the ack was lost) is settled with
// the same result instead of being run again.
type outbox struct {
	dir string // "" for memory only

	mu   sync.Mutex // guards sent and order
	sent map[string]*task.Event
	// order is the keys of sent, oldest first; at most maxSent.
	order []string
}

// maxSent bounds the events remembered after delivery.
const maxSent = 4096

func newOutbox(dir string) (*outbox, error) {
	o := &outbox{dir: dir, sent: map[string]*task.Event{}}
	if dir == "" {
		return o, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent outbox %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent outbox %s: %w", dir, err)
	}
	return o, nil
}

// dispatchKey names a task's dispatch: "plan/task/dN".
func dispatchKey(e *task.Event) string { return fmt.Sprintf("%s/%s/d%d", e.Plan, e.Task, e.Dispatch) }

func (o *outbox) file(e *task.Event) string {
	return filepath.Join(o.dir, strings.ReplaceAll(dispatchKey(e), "/", "~")+".json")
}

// put writes e before it is published. An agent that cannot write its outbox
// still publishes (and retries in memory): the file is a safeguard.
func (o *outbox) put(e *task.Event) error {
	if o.dir == "" {
		return nil
	}
	data, err := e.Encode()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(o.dir, ".event-*")
	if err != nil {
		return fmt.Errorf("agent outbox: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("agent outbox: write %s: %w", tmp, err)
	}
	// CreateTemp makes files 0600.
	if err := os.Rename(tmp, o.file(e)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("agent outbox: %w", err)
	}
	return nil
}

// done forgets e's file once the master has it, and remembers e in memory.
func (o *outbox) done(e *task.Event) {
	if o.dir != "" {
		_ = os.Remove(o.file(e))
	}
	k := dispatchKey(e)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.sent[k]; !ok {
		o.order = append(o.order, k)
	}
	o.sent[k] = e
	if len(o.order) > maxSent {
		delete(o.sent, o.order[0])
		o.order = o.order[1:]
	}
}

// delivered returns the final event already sent for dispatch (plan, id, d), or nil.
func (o *outbox) delivered(plan, id string, d int) *task.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sent[fmt.Sprintf("%s/%s/d%d", plan, id, d)]
}

// load returns the events left on disk by an earlier run and remembers them as
// delivered (they are, once drained: their publishing is idempotent).
// Unreadable files are logged and left for a person to look at.
func (o *outbox) load(log *slog.Logger) []*task.Event {
	evs, errs := o.pending()
	for _, err := range errs {
		log.Error("outbox entry not delivered", "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range evs {
		k := dispatchKey(e)
		if _, ok := o.sent[k]; !ok {
			o.order = append(o.order, k)
		}
		o.sent[k] = e
	}
	return evs
}

// pending reads the events on disk.
func (o *outbox) pending() ([]*task.Event, []error) {
	if o.dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("agent outbox %s: %w", o.dir, err)}
	}
	var out []*task.Event
	var errs []error
	for _, de := range ents {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		p := filepath.Join(o.dir, de.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("agent outbox: %w", err))
			continue
		}
		var e task.Event
		if err := json.Unmarshal(data, &e); err != nil {
			errs = append(errs, fmt.Errorf("agent outbox: %s is not an event: %w", p, err))
			continue
		}
		out = append(out, &e)
	}
	return out, errs
}
