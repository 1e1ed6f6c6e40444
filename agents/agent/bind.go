package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tlgo/tl/agents/queue"
)

// lateConsumer is the consumer of a queue that an agent with credentials may
// only bind to: the master creates it when it first dispatches to the queue
// (an agent's credentials do not allow creating one). Until then Next waits
// its FetchMaxWait and reports a timeout, binding again at most once per wait.
type lateConsumer struct {
	js   jetstream.JetStream
	q    string
	wait time.Duration

	c    atomic.Pointer[jetstream.Consumer]
	mu   sync.Mutex // one bind at a time
	last time.Time
}

// bindConsumer binds to queue q's consumer if it exists; if not, the returned
// consumer binds when the master has created it.
func bindConsumer(ctx context.Context, js jetstream.JetStream, q string, wait time.Duration) (jetstream.Consumer, error) {
	l := &lateConsumer{js: js, q: q, wait: wait}
	if err := l.bind(ctx); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("bind consumer %s of queue %s: %w", queue.ConsumerName(q), q, err)
	}
	return l, nil
}

func (l *lateConsumer) bind(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c.Load() != nil {
		return nil
	}
	l.last = time.Now()
	c, err := l.js.Consumer(ctx, queue.TasksStream, queue.ConsumerName(l.q))
	if err != nil {
		return err
	}
	l.c.Store(&c)
	return nil
}

// get returns the bound consumer, trying to bind if a wait has passed since the last try.
func (l *lateConsumer) get() jetstream.Consumer {
	if c := l.c.Load(); c != nil {
		return *c
	}
	l.mu.Lock()
	due := time.Since(l.last) >= l.wait
	l.mu.Unlock()
	if due {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = l.bind(ctx)
		cancel()
	}
	if c := l.c.Load(); c != nil {
		return *c
	}
	return nil
}

var errUnbound = fmt.Errorf("%w: the master has not set this queue up yet", jetstream.ErrConsumerNotFound)

func (l *lateConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if c := l.get(); c != nil {
		return c.Next(opts...)
	}
	time.Sleep(l.wait) // as a pull that found nothing
	return nil, nats.ErrTimeout
}

func (l *lateConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c := l.get(); c != nil {
		return c.Fetch(batch, opts...)
	}
	return nil, errUnbound
}

func (l *lateConsumer) FetchBytes(maxBytes int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c := l.get(); c != nil {
		return c.FetchBytes(maxBytes, opts...)
	}
	return nil, errUnbound
}

func (l *lateConsumer) FetchNoWait(batch int) (jetstream.MessageBatch, error) {
	if c := l.get(); c != nil {
		return c.FetchNoWait(batch)
	}
	return nil, errUnbound
}

func (l *lateConsumer) Consume(h jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	if c := l.get(); c != nil {
		return c.Consume(h, opts...)
	}
	return nil, errUnbound
}

func (l *lateConsumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	if c := l.get(); c != nil {
		return c.Messages(opts...)
	}
	return nil, errUnbound
}

func (l *lateConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	if c := l.get(); c != nil {
		return c.Info(ctx)
	}
	return nil, errUnbound
}

// CachedInfo is nil until bound (queue.AckWaitOf then says DefaultAckWait).
func (l *lateConsumer) CachedInfo() *jetstream.ConsumerInfo {
	if c := l.c.Load(); c != nil {
		return (*c).CachedInfo()
	}
	return nil
}
