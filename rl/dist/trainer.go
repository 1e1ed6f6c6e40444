package dist

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlgo/tl/agents/queue"
	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/mltasks/netstore"
	"github.com/tlgo/tl/rl/a2c"
	"github.com/tlgo/tl/rl/env"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/events"
	"github.com/tlgo/tl/store/models"
)

// TrainerParams are the params of an rl-trainer task.
type TrainerParams struct {
	// Run names the run: the model the versions are saved as, the stream's
	// subjects, the training events' run.
	Run string `json:"run"`
	// Env is cartpole or pong.
	Env string `json:"env"`
	// Unroll is the steps per trajectory (default 16), Batch the trajectories
	// per update (default 16).
	Unroll int `json:"unroll"`
	Batch  int `json:"batch"`
	// LR, Entropy and Discount are the learner's (defaults 3e-3, 0.01, 0.99).
	LR       float64 `json:"lr"`
	Entropy  float64 `json:"entropy"`
	Discount float64 `json:"discount"`
	Seed     uint64  `json:"seed"`
	// SaveEvery: a version is saved (and the trajectories in it acked) every
	// SaveEvery updates (default 10).
	SaveEvery int `json:"save_every"`
	// The run ends at Updates updates, after Duration, or when the mean
	// return of the last 100 episodes reaches Target (0: no such limit; one
	// is required).
	Updates  int           `json:"updates"`
	Duration task.Duration `json:"duration"`
	Target   float64       `json:"target"`
	// Drain bounds the wait, at the end, for the players to stop and their
	// last trajectories to arrive (default 2m).
	Drain task.Duration `json:"drain"`
	// Threads are the learner's kernel threads (default 1).
	Threads int `json:"threads"`
	// Device is where the learner runs: "cpu" or "cuda" (GPU 0, or the
	// emulator TL_CUDA_EMULATOR names). Default: cuda on the "cuda" queue,
	// else cpu.
	Device string `json:"device"`
}

// TrainerOutput is an rl-trainer task's output.
type TrainerOutput struct {
	Run       string           `json:"run"`
	Version   int64            `json:"version"`      // the model store's last version
	Updates   int64            `json:"updates"`      // the learner's version
	Published int64            `json:"published"`    // by all players, from their records
	Trained   int64            `json:"trained"`      // trajectories in the last version
	Rejected  int64            `json:"rejected"`     // malformed or from an unknown version
	Repeats   int64            `json:"repeats"`      // delivered again after a restart, not trained again
	Gaps      int64            `json:"gaps"`         // sequence numbers skipped (0 unless a message was lost)
	PerPlayer map[string]int64 `json:"per_player"`   // trained per player: its next sequence number
	Episodes  int64            `json:"episodes"`     // finished episodes trained on
	Return100 float64          `json:"return_100"`   // mean return of the last 100
	Reached   float64          `json:"reached"`      // that mean when the end was decided
	Resumed   int64            `json:"resumed_from"` // the version this attempt started from
	// Rate is the samples (steps) per second this attempt trained on, from
	// its first update to the end's decision.
	Rate    float64 `json:"samples_per_s"`
	Stopped string  `json:"stopped"`          // why the run ended
	Pending int64   `json:"pending,omitzero"` // published but not trained (the drain timed out)
	// Undrained is set when params.drain ran out before every player had
	// stopped and been trained on: published then counts what the players
	// had recorded, which may be behind.
	Undrained bool `json:"undrained,omitzero"`
}

// check sets the defaults of the params left zero and says what is wrong
// with them, if anything.
func (p *TrainerParams) check(id string) error {
	p.Unroll, p.Batch, p.SaveEvery, p.Threads = cmp.Or(p.Unroll, 16), cmp.Or(p.Batch, 16), cmp.Or(p.SaveEvery, 10), cmp.Or(p.Threads, 1)
	p.LR, p.Entropy, p.Discount = cmp.Or(p.LR, 3e-3), cmp.Or(p.Entropy, 0.01), cmp.Or(p.Discount, 0.99)
	p.Drain = cmp.Or(p.Drain, task.Duration(2*time.Minute))
	switch {
	case !task.ValidName(p.Run):
		return badRunName("rl-trainer", id, p.Run)
	case p.Unroll < 1 || p.Batch < 1 || p.SaveEvery < 1 || p.Updates < 0 || p.Duration < 0 || p.Threads < 0:
		return fmt.Errorf("rl/dist: rl-trainer %s: unroll %d, batch %d, save_every %d (≥1 each), updates %d, duration %s, threads %d (≥0 each)",
			id, p.Unroll, p.Batch, p.SaveEvery, p.Updates, time.Duration(p.Duration), p.Threads)
	case p.Device != "" && p.Device != "cpu" && p.Device != "cuda":
		return fmt.Errorf("rl/dist: rl-trainer %s: params.device %q, want cpu or cuda", id, p.Device)
	case p.Updates == 0 && p.Duration == 0 && p.Target == 0:
		return fmt.Errorf("rl/dist: rl-trainer %s: give params updates, duration or target: the run would never end", id)
	}
	_, err := gameOf(p.Env)
	return err
}

type origin struct {
	player string
	seq    int64
	msg    jetstream.Msg
}

// trainer is one attempt of an rl-trainer task.
type trainer struct {
	p     TrainerParams
	db    *store.DB
	ms    *models.Store
	l     *a2c.Learner
	osz   int
	nact  int
	st    *trainerState
	ev    *events.Writer
	log   *slog.Logger
	task  string
	batch []*a2c.Trajectory
	// from says which player and sequence number each batch item is.
	from []origin
	// unacked are the messages taken into account since the last saved
	// version (trained on, repeats): acked once the next version is saved.
	unacked []jetstream.Msg
	version int64 // the model store's
	resumed int64 // the version this attempt started from
	reached float64
	first   time.Time // this attempt's first update
	trained int64     // trajectories this attempt trained on, until the end's decision
	rate    float64
	decided bool // the run's end
	// undrained: the drain timed out.
	undrained bool
	start     time.Time
}

// Trainer runs an rl-trainer task.
//
// Exactly once: the trainer acks a trajectory only after saving a version
// whose weights include it, and the version records, per player, the next
// sequence number it expects. An attempt starts from the last saved version
// and replaces the durable consumer by a fresh one that delivers everything
// still in the stream (a work queue: what was acked is gone) in stream
// order, so each player's trajectories arrive in sequence: those below the
// version's count were trained on before the crash and are acked as
// repeats, the rest are trained on now.
func Trainer(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	var p TrainerParams
	db, js, err := prepare(run, &p, p.check)
	if err != nil {
		return nil, err
	}
	t := &trainer{p: p, db: db, log: run.Logger().With("run", p.Run), task: run.Task.Key(), start: time.Now()}
	if t.ms, err = models.New(ctx, db, models.Options{}); err != nil {
		return nil, fmt.Errorf("rl/dist: model store: %w", err)
	}
	g, _ := gameOf(p.Env)
	t.osz, t.nact = env.Size(g.obsShape), g.numActions
	cfg := a2c.Config{ObsShape: g.obsShape, NumActions: g.numActions, Net: g.net, Unroll: p.Unroll, Batch: p.Batch,
		LR: float32(p.LR), EntropyCost: float32(p.Entropy), Discount: float32(p.Discount), Seed: p.Seed, Threads: p.Threads}
	if p.Device == "cuda" || (p.Device == "" && run.Task.Queue == "cuda") {
		dev, err := cuda.Open(cuda.Config{})
		if err != nil {
			return nil, task.Permanent(fmt.Errorf("rl/dist: rl-trainer %s asks for the GPU (params.device %q, queue %s), and this agent has none: %w", run.Task.ID, p.Device, run.Task.Queue, err))
		}
		defer dev.Close()
		cfg.Device = dev
		t.log.Info("the learner runs on the GPU", "device", dev.Name())
	}
	if t.l, err = a2c.New(cfg); err != nil {
		return nil, task.Permanent(fmt.Errorf("rl/dist: rl-trainer %s: %w", run.Task.ID, err))
	}
	defer t.l.Close()
	if err := t.resume(ctx); err != nil {
		return nil, err
	}
	state, err := runState(ctx, db, p.Run)
	if err != nil {
		return nil, err
	}
	if state == stateDone {
		return t.output(ctx, "the run had ended")
	}
	if state != stateStopping {
		if err := setRunState(ctx, db, p.Run, stateRunning); err != nil {
			return nil, err
		}
	}
	if t.ev, err = events.NewWriter(db, events.Options{Model: p.Run, Run: p.Run}); err != nil {
		return nil, fmt.Errorf("rl/dist: training events: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := t.ev.Close(cctx); err != nil {
			t.log.Warn("training events not all written", "err", err)
		}
	}()
	t.ev.Log(events.Event{Phase: "config", Fields: map[string]any{"env": p.Env, "unroll": p.Unroll, "batch": p.Batch,
		"lr": p.LR, "entropy": p.Entropy, "discount": p.Discount, "save_every": p.SaveEvery, "task": t.task, "resumed_from": t.version}})

	// A fresh consumer: everything unacked, in stream order (see above).
	name := queue.RLConsumer(p.Run)
	if err := js.DeleteConsumer(ctx, queue.RLStream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("rl/dist: no stream %s: the master creates it (queue.Setup): %w", queue.RLStream, err)
		}
		return nil, fmt.Errorf("rl/dist: replacing consumer %s of %s: %w", name, queue.RLStream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, queue.RLStream, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: queue.RLRunSubjects(p.Run), DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour, MaxDeliver: -1,
		MaxAckPending: max(10000, 4*p.SaveEvery*p.Batch),
	})
	if err != nil {
		return nil, fmt.Errorf("rl/dist: consumer %s of %s: %w", name, queue.RLStream, err)
	}
	// Pulled continuously, a few batches ahead of training.
	it, err := cons.Messages(jetstream.PullMaxMessages(4 * p.Batch))
	if err != nil {
		return nil, fmt.Errorf("rl/dist: consumer %s of %s: %w", name, queue.RLStream, err)
	}
	defer it.Stop()
	t.log.Info("trainer started", "version", t.version, "updates", t.st.Learner, "trained", t.st.Trained)

	why := ""
	if state == stateStopping {
		why = "the run was ending when this attempt started"
	}
	for why == "" {
		if err := t.take(ctx, it); err != nil {
			return nil, err
		}
		why = t.ended()
	}
	// The end: players stop at their next refresh; train on what they sent.
	if err := setRunState(ctx, db, p.Run, stateStopping); err != nil {
		return nil, err
	}
	t.reached, t.decided = mean(t.st.Returns), true
	if el := time.Since(t.first).Seconds(); t.trained > 0 && el > 0 {
		t.rate = float64(t.trained*int64(t.p.Unroll)) / el
	}
	t.log.Info("run ending; draining the players", "why", why, "return_100", t.reached)
	deadline := time.Now().Add(time.Duration(p.Drain))
	for {
		ps, err := players(ctx, db, p.Run)
		if err != nil {
			return nil, err
		}
		done := true
		for _, pd := range ps {
			done = done && pd.Stopped && t.st.Next[pd.Player] >= pd.Next
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.log.Warn("players not drained within params.drain", "drain", time.Duration(p.Drain), "partial_batch", len(t.batch))
			t.undrained = true
			break
		}
		if err := t.take(ctx, it); err != nil {
			return nil, err
		}
	}
	// A partial batch is not trained on: its trajectories stay out of the
	// last version (and unacked), counted as pending.
	for _, o := range t.from {
		t.st.Next[o.player] = min(t.st.Next[o.player], o.seq)
	}
	t.batch, t.from = t.batch[:0], t.from[:0]
	if err := t.save(ctx); err != nil {
		return nil, err
	}
	if err := setRunState(ctx, db, p.Run, stateDone); err != nil {
		return nil, err
	}
	return t.output(ctx, why)
}

// resume loads the last saved version, or saves version 1 from the
// initialisation.
func (t *trainer) resume(ctx context.Context) error {
	m, err := latest(ctx, t.ms, t.p.Run)
	if err != nil {
		return err
	}
	if m == nil {
		t.st = &trainerState{Env: t.p.Env, Unroll: t.p.Unroll, Next: map[string]int64{}}
		return t.save(ctx)
	}
	if t.st, err = decodeState(m.Params); err != nil {
		return task.Permanent(fmt.Errorf("rl/dist: resuming from model %s v%d: %w", t.p.Run, m.Version, err))
	}
	if t.st.Env != t.p.Env || t.st.Unroll != t.p.Unroll {
		return task.Permanent(fmt.Errorf("rl/dist: model %s v%d plays %s with unroll %d, the task asks for %s with unroll %d: use another run name",
			t.p.Run, m.Version, t.st.Env, t.st.Unroll, t.p.Env, t.p.Unroll))
	}
	net, _, err := netstore.Load(ctx, t.ms, models.Ref{Name: t.p.Run, Version: m.Version}, graph.New(0))
	if err != nil {
		return fmt.Errorf("rl/dist: resuming: %w", err)
	}
	if err := t.l.Load(a2c.ParamsOf(net, t.st.Learner)); err != nil {
		return fmt.Errorf("rl/dist: resuming from model %s v%d: %w", t.p.Run, m.Version, err)
	}
	t.version, t.resumed = m.Version, m.Version
	return nil
}

// save stores a version with the trainer's state, moves the alias, then
// acks what the version includes.
func (t *trainer) save(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)   // a version half saved is worse than a late one
	if err := t.l.Pull(); err != nil { // a learner on a GPU: its weights to the host
		return fmt.Errorf("rl/dist: saving a version of %s: %w", t.p.Run, err)
	}
	m, err := netstore.Save(ctx, t.ms, models.Spec{Name: t.p.Run,
		Params:  map[string]any{"env": t.p.Env, "unroll": t.p.Unroll, "batch": t.p.Batch, "rl_state": t.st.encode()},
		Metrics: map[string]float64{"return_100": mean(t.st.Returns)},
		Lineage: models.Lineage{Task: t.task, Run: t.p.Run}}, t.l.Network())
	if err != nil {
		return fmt.Errorf("rl/dist: saving a version of %s: %w", t.p.Run, err)
	}
	if err := t.ms.Alias(ctx, t.p.Run, Alias, m.Version); err != nil {
		return fmt.Errorf("rl/dist: moving %s@%s to v%d: %w", t.p.Run, Alias, m.Version, err)
	}
	t.version = m.Version
	for _, msg := range t.unacked {
		if err := msg.Ack(); err != nil {
			// Redelivered to the next attempt, which counts it a repeat.
			t.log.Warn("ack of a trajectory in a saved version failed", "subject", msg.Subject(), "err", err)
		}
	}
	t.unacked = t.unacked[:0]
	return nil
}

// take waits a moment for the next message and handles it.
func (t *trainer) take(ctx context.Context, it jetstream.MessagesContext) error {
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	msg, err := it.Next(jetstream.NextContext(wctx))
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return nil
	case err != nil:
		return fmt.Errorf("rl/dist: receiving trajectories: %w", err)
	}
	return t.handle(ctx, msg)
}

func (t *trainer) reject(msg jetstream.Msg, why string, err error) {
	t.st.Rejected++
	t.log.Warn("trajectory rejected", "subject", msg.Subject(), "why", why, "err", err, "rejected", t.st.Rejected)
	if err := msg.Term(); err != nil {
		t.log.Warn("term of a rejected trajectory failed", "subject", msg.Subject(), "err", err)
	}
}

// handle takes one message: rejected, a repeat, or into the batch; a full
// batch is an update, and every SaveEvery updates a version.
func (t *trainer) handle(ctx context.Context, msg jetstream.Msg) error {
	player := msg.Headers().Get(HeaderPlayer)
	seq, err := strconv.ParseInt(msg.Headers().Get(HeaderSeq), 10, 64)
	if !task.ValidName(player) || err != nil || seq < 0 || !strings.HasSuffix(msg.Subject(), "."+player) {
		t.reject(msg, fmt.Sprintf("headers %s %q and %s %q on subject %s, want the publishing player's id and a sequence number ≥ 0",
			HeaderPlayer, player, HeaderSeq, msg.Headers().Get(HeaderSeq), msg.Subject()), err)
		return nil
	}
	var tr a2c.Trajectory
	if err := tr.UnmarshalBinary(msg.Data()); err != nil {
		t.reject(msg, "malformed", err)
		return nil
	}
	if err := tr.Validate(t.p.Unroll, t.osz, t.nact); err != nil {
		t.reject(msg, "invalid", err)
		return nil
	}
	if tr.Version > t.l.Version() {
		t.reject(msg, "unknown policy version", fmt.Errorf("policy version %d, newer than the trainer's %d", tr.Version, t.l.Version()))
		return nil
	}
	next := t.st.Next[player]
	switch {
	case seq < next:
		// In a saved version already: the crash came between the save and
		// the acks.
		t.st.Repeats++
		t.unacked = append(t.unacked, msg)
		return nil
	case seq > next:
		t.st.Gaps += seq - next
		t.log.Warn("trajectories missing", "player", player, "want", next, "got", seq)
	}
	t.st.Next[player] = seq + 1
	t.batch = append(t.batch, &tr)
	t.from = append(t.from, origin{player, seq, msg})
	if len(t.batch) < t.p.Batch {
		return nil
	}
	s, err := t.l.Update(t.batch)
	if err != nil {
		return fmt.Errorf("rl/dist: update %d: %w", t.l.Version()+1, err)
	}
	t.st.Trained += int64(len(t.batch))
	if t.first.IsZero() {
		t.first = time.Now()
	} else if !t.decided {
		t.trained += int64(len(t.batch)) // the first batch starts the clock
	}
	for _, tr := range t.batch {
		for _, r := range tr.Returns {
			t.st.Episodes++
			t.st.Returns = append(t.st.Returns, float64(r))
		}
	}
	if n := len(t.st.Returns); n > 100 {
		t.st.Returns = append(t.st.Returns[:0], t.st.Returns[n-100:]...)
	}
	for _, o := range t.from {
		t.unacked = append(t.unacked, o.msg)
	}
	t.batch, t.from = t.batch[:0], t.from[:0]
	t.st.Learner = t.l.Version()
	vals := map[string]float64{"policy_loss": float64(s.PolicyLoss), "value_loss": float64(s.ValueLoss),
		"entropy": float64(s.Entropy), "grad_norm": float64(s.GradNorm), "mean_rho": float64(s.MeanRho), "lag": s.MeanLag,
		"trained": float64(t.st.Trained), "rejected": float64(t.st.Rejected), "episodes": float64(t.st.Episodes),
		"samples": float64(t.st.Trained * int64(t.p.Unroll))}
	if len(t.st.Returns) > 0 {
		vals["return_100"] = mean(t.st.Returns)
	}
	t.ev.Step(t.l.Version(), vals)
	if t.l.Version()%int64(t.p.SaveEvery) == 0 {
		return t.save(ctx)
	}
	return nil
}

// ended says why the run should end, or "".
func (t *trainer) ended() string {
	switch {
	case t.p.Updates > 0 && t.l.Version() >= int64(t.p.Updates):
		return "updates"
	case t.p.Duration > 0 && time.Since(t.start) >= time.Duration(t.p.Duration):
		return "duration"
	case t.p.Target != 0 && len(t.st.Returns) >= 100 && mean(t.st.Returns) >= t.p.Target:
		return "target"
	}
	return ""
}

func (t *trainer) output(ctx context.Context, why string) (json.RawMessage, error) {
	ps, err := players(ctx, t.db, t.p.Run)
	if err != nil {
		return nil, err
	}
	out := TrainerOutput{Run: t.p.Run, Version: t.version, Updates: t.st.Learner, Trained: t.st.Trained, Rejected: t.st.Rejected,
		Repeats: t.st.Repeats, Gaps: t.st.Gaps, PerPlayer: t.st.Next, Episodes: t.st.Episodes, Return100: mean(t.st.Returns), Stopped: why,
		Reached: t.reached, Resumed: t.resumed, Rate: t.rate, Undrained: t.undrained}
	for _, pd := range ps {
		out.Published += pd.Next
		out.Pending += max(0, pd.Next-t.st.Next[pd.Player])
	}
	t.log.Info("run ended", "why", why, "published", out.Published, "trained", out.Trained, "rejected", out.Rejected,
		"repeats", out.Repeats, "version", out.Version, "return_100", out.Return100)
	return json.Marshal(out)
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
