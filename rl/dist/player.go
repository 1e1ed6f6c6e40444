package dist

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// Headers of a trajectory message besides Nats-Msg-Id.
const (
	HeaderPlayer = "Tl-Player"
	HeaderSeq    = "Tl-Seq"
)

// PlayerParams are the params of an rl-player task. The environment and the
// unroll length are the trainer's, read from the model version it saved.
type PlayerParams struct {
	// Run names the run (a task name): the model, the stream's subjects.
	Run string `json:"run"`
	// Envs is the environments the player steps in lock-step (default 8).
	Envs int `json:"envs"`
	// Refresh: the player checks the run's state and the alias every Refresh
	// unrolls, and loads the new version when the alias moved (default 1).
	Refresh int `json:"refresh"`
	// Seed seeds the environments and the sampling (mixed with the player's
	// id and the attempt).
	Seed uint64 `json:"seed"`
	// MaxUnrolls and MaxDuration stop the player early (0: the run's end).
	MaxUnrolls  int           `json:"max_unrolls"`
	MaxDuration task.Duration `json:"max_duration"`
	// Wait bounds the wait for the trainer's first version (default 5m).
	Wait task.Duration `json:"wait"`
	// Backlog: the player waits while the trainer has this many
	// trajectories of the run not yet delivered (default 64), so that
	// players faster than the trainer do not fill the stream with ever
	// staler trajectories.
	Backlog int `json:"backlog"`
}

// check sets the defaults of the params left zero and says what is wrong
// with them, if anything.
func (p *PlayerParams) check(id string) error {
	p.Envs, p.Refresh, p.Backlog = cmp.Or(p.Envs, 8), cmp.Or(p.Refresh, 1), cmp.Or(p.Backlog, 64)
	p.Wait = cmp.Or(p.Wait, task.Duration(5*time.Minute))
	switch {
	case !task.ValidName(p.Run):
		return badRunName("rl-player", id, p.Run)
	case p.Envs < 1 || p.Envs > 4096 || p.Refresh < 1 || p.Backlog < 1 || p.MaxUnrolls < 0 || p.MaxDuration < 0:
		return fmt.Errorf("rl/dist: rl-player %s: envs %d (1..4096), refresh %d (≥1), max_unrolls %d and max_duration %s (≥0)",
			id, p.Envs, p.Refresh, p.MaxUnrolls, time.Duration(p.MaxDuration))
	}
	return nil
}

// badRunName is the error of a kind's task id whose params.run is not a
// task name.
func badRunName(kind, id, run string) error {
	return fmt.Errorf("rl/dist: %s %s: params.run %q, want a name of letters, digits, '-' and '_'", kind, id, run)
}

// PlayerOutput is an rl-player task's output.
type PlayerOutput struct {
	Player    string `json:"player"`
	Published int64  `json:"published"` // trajectories, over all attempts
	Unrolls   int64  `json:"unrolls"`   // of this attempt
	Episodes  int64  `json:"episodes"`  // of this attempt
	Version   int64  `json:"version"`   // the policy version last played
	Stopped   string `json:"stopped"`   // why
}

// prepare reads run's params into p and checks them with check (which sets
// their defaults), then returns the agent's services. Params that fail the
// check are a permanent error: a retry would not fix them.
func prepare(run *task.Run, p any, check func(id string) error) (*store.DB, jetstream.JetStream, error) {
	if err := run.Params(p); err != nil {
		return nil, nil, err
	}
	if err := check(run.Task.ID); err != nil {
		return nil, nil, task.Permanent(err)
	}
	return services(run)
}

func services(run *task.Run) (*store.DB, jetstream.JetStream, error) {
	db, ok := run.Services.(*store.DB)
	if !ok || db == nil {
		return nil, nil, task.Permanent(fmt.Errorf("rl/dist: task %s (%s) needs the agent's store: start the agent with --mongo or next to a local master", run.Task.ID, run.Task.Kind))
	}
	if run.NATS == nil {
		return nil, nil, task.Permanent(fmt.Errorf("rl/dist: task %s (%s) needs the agent's NATS connection (task.Run.NATS)", run.Task.ID, run.Task.Kind))
	}
	js, err := jetstream.New(run.NATS)
	if err != nil {
		return nil, nil, fmt.Errorf("rl/dist: task %s: jetstream: %w", run.Task.ID, err)
	}
	return db, js, nil
}

// follower keeps a player's policy at the version the alias names.
type follower struct {
	ms     *models.Store
	run    string
	policy *a2c.Policy
	stored int64 // the model store's version loaded (0: none)
}

// latestUnlessEnded is latest, or ended true when the run is stopping or
// done.
func latestUnlessEnded(ctx context.Context, db *store.DB, ms *models.Store, run string) (m *models.Model, ended bool, err error) {
	s, err := runState(ctx, db, run)
	if err != nil {
		return nil, false, err
	}
	if s == stateStopping || s == stateDone {
		return nil, true, nil
	}
	m, err = latest(ctx, ms, run)
	return m, false, err
}

// latest returns the version the alias names now, or nil when none yet.
func latest(ctx context.Context, ms *models.Store, run string) (*models.Model, error) {
	m, err := ms.Get(ctx, models.Ref{Name: run, Alias: Alias})
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rl/dist: model %s@%s: %w", run, Alias, err)
	}
	return m, nil
}

// refresh loads the alias's version if it moved.
func (f *follower) refresh(ctx context.Context, m *models.Model) error {
	if m == nil || m.Version == f.stored {
		return nil
	}
	st, err := decodeState(m.Params)
	if err != nil {
		return fmt.Errorf("rl/dist: model %s v%d: %w", f.run, m.Version, err)
	}
	net, _, err := netstore.Load(ctx, f.ms, models.Ref{Name: f.run, Version: m.Version}, graph.New(0))
	if err != nil {
		return fmt.Errorf("rl/dist: loading the policy: %w", err)
	}
	if err := f.policy.Load(a2c.ParamsOf(net, st.Learner)); err != nil {
		return fmt.Errorf("rl/dist: model %s v%d: %w", f.run, m.Version, err)
	}
	f.stored = m.Version
	return nil
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Player runs an rl-player task: it plays the run's latest policy and
// publishes every trajectory with a message id "run/player/seq", so that a
// trajectory republished after a crash (the player died between publishing
// and recording its count) is dropped by the stream's deduplication.
func Player(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	var p PlayerParams
	db, js, err := prepare(run, &p, p.check)
	if err != nil {
		return nil, err
	}
	log := run.Logger().With("run", p.Run, "player", run.Task.ID)
	ms, err := models.New(ctx, db, models.Options{})
	if err != nil {
		return nil, fmt.Errorf("rl/dist: model store: %w", err)
	}
	me := run.Task.ID
	doc, err := readPlayer(ctx, db, p.Run, me)
	if err != nil {
		return nil, err
	}
	out := PlayerOutput{Player: me, Published: doc.Next}
	finish := func(why string) (json.RawMessage, error) {
		doc.Stopped = true
		if err := writePlayer(context.WithoutCancel(ctx), db, doc); err != nil {
			return nil, err
		}
		out.Published, out.Stopped = doc.Next, why
		log.Info("player stopped", "why", why, "published", doc.Next)
		return json.Marshal(out)
	}

	// The trainer's first version says the environment and the unroll.
	var m *models.Model
	waitUntil := time.Now().Add(time.Duration(p.Wait))
	for {
		var ended bool
		if m, ended, err = latestUnlessEnded(ctx, db, ms, p.Run); err != nil {
			return nil, err
		} else if ended {
			return finish("the run ended")
		}
		if m != nil {
			break
		}
		if time.Now().After(waitUntil) {
			return nil, fmt.Errorf("rl/dist: rl-player %s: no version of model %s@%s after %s: is the trainer running?", me, p.Run, Alias, time.Duration(p.Wait))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	st, err := decodeState(m.Params)
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("rl/dist: model %s v%d: %w", p.Run, m.Version, err))
	}
	g, err := gameOf(st.Env)
	if err != nil {
		return nil, task.Permanent(err)
	}
	cfg := a2c.Config{ObsShape: g.obsShape, NumActions: g.numActions, Net: g.net, Unroll: st.Unroll, Batch: 1, Threads: 1}
	seed := env.Mix(p.Seed, hash(me), uint64(run.Attempt))
	vec, err := env.NewVec(p.Envs, seed, func(int) env.Env { return g.newEnv() })
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("rl/dist: rl-player %s: %w", me, err))
	}
	pl, err := a2c.NewPlayer(cfg, vec, env.Mix(seed, 1, 0))
	if err != nil {
		return nil, task.Permanent(fmt.Errorf("rl/dist: rl-player %s: %w", me, err))
	}
	defer pl.Close()
	fol := &follower{ms: ms, run: p.Run, policy: pl.Policy()}
	if err := fol.refresh(ctx, m); err != nil {
		return nil, err
	}
	// Recorded before the first trajectory, so that the trainer, at the
	// end, waits for this player to stop.
	doc.Stopped = false
	if err := writePlayer(ctx, db, doc); err != nil {
		return nil, err
	}
	log.Info("player started", "env", st.Env, "envs", p.Envs, "unroll", st.Unroll, "from", doc.Next, "version", pl.Policy().Version())

	start, recorded := time.Now(), time.Now()
	subject := queue.RLSubject(p.Run, me)
	for n := 0; ; n++ {
		if p.MaxUnrolls > 0 && n >= p.MaxUnrolls {
			return finish("max_unrolls")
		}
		if p.MaxDuration > 0 && time.Since(start) >= time.Duration(p.MaxDuration) {
			return finish("max_duration")
		}
		if n%p.Refresh == 0 && n > 0 {
			var ended bool
			if m, ended, err = latestUnlessEnded(ctx, db, ms, p.Run); err != nil {
				return nil, err
			} else if ended {
				return finish("the run ended")
			}
			if err := fol.refresh(ctx, m); err != nil {
				return nil, err
			}
		}
		if err := waitBacklog(ctx, js, p.Run, p.Backlog); err != nil {
			return nil, err
		}
		trs, err := pl.Unroll(func(env.Episode) { out.Episodes++ })
		if err != nil {
			return nil, fmt.Errorf("rl/dist: rl-player %s: %w", me, err)
		}
		acks := make([]jetstream.PubAckFuture, 0, len(trs))
		for _, tr := range trs {
			b, err := tr.MarshalBinary()
			if err != nil {
				return nil, fmt.Errorf("rl/dist: rl-player %s: %w", me, err)
			}
			seq := doc.Next
			msg := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}
			msg.Header.Set(HeaderPlayer, me)
			msg.Header.Set(HeaderSeq, strconv.FormatInt(seq, 10))
			f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("%s/%s/%d", p.Run, me, seq)))
			if err != nil {
				return nil, fmt.Errorf("rl/dist: rl-player %s: publishing trajectory %d on %s: %w", me, seq, subject, err)
			}
			acks = append(acks, f)
			doc.Next++
		}
		// Every trajectory of the unroll is in the stream before the count
		// is recorded.
		for i, f := range acks {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return nil, fmt.Errorf("rl/dist: rl-player %s: publishing trajectory %d on %s: %w", me, doc.Next-int64(len(acks)-i), subject, err)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		// The count goes to the store after the publishes, at most once a
		// second (a store write per unroll would bound every player's rate
		// together): a player restarted from an older count republishes
		// the same sequence numbers, which the stream drops as duplicates
		// (its dedup window is an hour; a restart takes the ack deadline).
		if time.Since(recorded) >= time.Second {
			if err := writePlayer(ctx, db, doc); err != nil {
				return nil, err
			}
			recorded = time.Now()
		}
		out.Unrolls++
		out.Version = pl.Policy().Version()
	}
}

// waitBacklog waits while the run's trainer has backlog trajectories or more
// not yet delivered. Without a consumer (the trainer not started) it does
// not wait: the first version, which players wait for, comes first anyway.
func waitBacklog(ctx context.Context, js jetstream.JetStream, run string, backlog int) error {
	for {
		c, err := js.Consumer(ctx, queue.RLStream, queue.RLConsumer(run))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rl/dist: the trainer's backlog (consumer %s of %s): %w", queue.RLConsumer(run), queue.RLStream, err)
		}
		if c.CachedInfo().NumPending < uint64(backlog) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
