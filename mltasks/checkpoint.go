package mltasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/modelio"
	"github.com/tlgo/tl/store/models"
	"github.com/tlgo/tl/train"
)

// DefaultCheckpointMinutes is how often a train task checkpoints when its
// params say nothing. Five minutes bounds the training a kill -9 costs (plus
// the queue's redelivery delay) to under a tenth of an hour-long run, while a
// checkpoint (every variable of the graph, three times the weights with Adam,
// written to GridFS) takes well under a second for the paper's models: less
// than 0.3% of the time.
const DefaultCheckpointMinutes = 5.0

// epochEndShare is the most of the training time that checkpoints at the end
// of epochs may cost: one is saved at an epoch's end when the previous save
// took at most this share of the time trained since. Epochs of minutes get
// one each (a resume then starts at a clean epoch boundary); epochs of a few
// seconds over a big state are left to the step and minute policies.
const epochEndShare = 0.02

// checkpointer saves a train task's state into the model store every so
// often, and reads it back when the task starts again (another attempt, after
// the agent died), so that it resumes there rather than at step 0.
//
// What is saved: every variable of the graph (weights, the optimizer's slots
// and step count, the learning rate) as one safetensors blob; the position
// (step, epoch, batches done in the epoch) and the epoch's running metrics;
// the run ID of the training events, so the resumed run continues the curve;
// the seed and a hash of the task's params. The data order is a function of
// the seed and the epoch, and augmentation draws from a generator seeded by
// them, consumed in batch order, so skipping the batches done replays them.
// Dropout's masks are a hash of the graph's seed, the node and the global
// step (train.Loop sets graph.Options.Step), so they replay too: a task
// resumed on the CPU ends with bitwise the weights of an uninterrupted run.
// On a GPU the masks come from the device plan's own counter, which starts
// again at 0: a network with dropout resumes there with other masks (the
// same distribution); one without resumes bitwise.
type checkpointer struct {
	ms     *models.Store
	key    string // the task's key: stable across attempts
	model  string
	vars   []*graph.Node
	every  int           // steps between saves; 0: none by steps
	period time.Duration // time between saves; 0: none by time
	meta   map[string]string
	log    *slog.Logger

	run      string // the events' run ID
	lastAt   time.Time
	lastStep int
	lastCost time.Duration
	saves    int
	buf      bytes.Buffer
}

// checkpointPolicy turns the params' checkpoint_every and checkpoint_minutes
// into a step count and a period (nil minutes: the default; 0: off).
func checkpointPolicy(t *task.Task, every int, minutes *float64) (int, time.Duration, error) {
	m := DefaultCheckpointMinutes
	if minutes != nil {
		m = *minutes
	}
	if every < 0 || m < 0 || m != m {
		return 0, 0, task.Permanent(fmt.Errorf("mltasks: train task %s: params checkpoint_every %d and checkpoint_minutes %v must not be negative (0 turns either off)", t.ID, every, m))
	}
	return every, time.Duration(m * float64(time.Minute)), nil
}

// newCheckpointer prepares the checkpoints of run's task: vars are every
// variable the run changes (the graph's Variables), seed and params what the
// run replays from.
func newCheckpointer(ms *models.Store, run *task.Run, vars []*graph.Node, every int, period time.Duration, seed uint64, params any) (*checkpointer, error) {
	// The params as decoded (defaults filled in), not as sent: a master that
	// queues the task again may lay out the same params differently.
	js, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("mltasks: train task %s: params: %w", run.Task.ID, err)
	}
	sum := sha256.Sum256(js)
	return &checkpointer{
		ms: ms, key: run.Task.Key(), model: run.Task.Model, vars: vars, every: every, period: period, log: run.Logger(),
		meta: map[string]string{"seed": strconv.FormatUint(seed, 10), "params_sha256": hex.EncodeToString(sum[:]), "kind": run.Task.Kind},
	}, nil
}

// enabled says whether the task checkpoints at all.
func (c *checkpointer) enabled() bool { return c.every > 0 || c.period > 0 }

// resume loads the task's checkpoint, if it has one, into the variables and
// returns where to start (the zero Position and false when there is none).
// A checkpoint that cannot be used (damaged, or made for other params or
// another network) is logged as a warning, removed, and the task starts
// over: training again is slower but right, failing would be neither. An
// error reading it is returned (the attempt is retried).
func (c *checkpointer) resume(ctx context.Context) (train.Position, bool, error) {
	ck, state, err := c.ms.LoadCheckpoint(ctx, c.key)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return train.Position{}, false, nil
	case errors.Is(err, models.ErrCorrupt) || errors.Is(err, models.ErrChecksum):
		c.discard(ctx, err)
		return train.Position{}, false, nil
	case err != nil:
		return train.Position{}, false, fmt.Errorf("mltasks: train task %s: reading its checkpoint: %w", c.key, err)
	}
	if ck.Meta["params_sha256"] != c.meta["params_sha256"] || ck.Meta["seed"] != c.meta["seed"] {
		c.discard(ctx, fmt.Errorf("checkpoint of task %q at step %d was made with other params (params sha256 %s, seed %s; now %s, %s)",
			c.key, ck.Step, ck.Meta["params_sha256"], ck.Meta["seed"], c.meta["params_sha256"], c.meta["seed"]))
		return train.Position{}, false, nil
	}
	// DecodeWeights checks every variable before it copies any: a mismatch
	// leaves the fresh network as it was.
	if _, err := modelio.DecodeWeights(state, c.vars); err != nil {
		c.discard(ctx, fmt.Errorf("checkpoint of task %q at step %d does not fit the network: %w", c.key, ck.Step, err))
		return train.Position{}, false, nil
	}
	c.run, c.lastStep, c.lastAt = ck.Run, int(ck.Step), time.Now()
	return train.Position{Epoch: int(ck.Epoch), Batch: int(ck.Batch), Step: int(ck.Step), Examples: int(ck.Examples), Values: ck.Values}, true, nil
}

// discard drops an unusable checkpoint, saying why.
func (c *checkpointer) discard(ctx context.Context, why error) {
	c.log.Warn("checkpoint unusable: starting over from step 0", "task", c.key, "err", why)
	if err := c.ms.DeleteCheckpoint(ctx, c.key); err != nil {
		c.log.Warn("unusable checkpoint not removed (the next save replaces it)", "task", c.key, "err", err)
	}
}

// hook saves a checkpoint when one is due after a step: every c.every steps,
// or when c.period has passed since the last; and at the end of an epoch
// (not the last) when that is cheap (epochEndShare). run is the events' run ID.
func (c *checkpointer) hook(run string) train.Hook {
	c.run = run
	return train.Hook{
		Name: "checkpoint",
		TrainStart: func(_ context.Context, s *train.State) error {
			if c.lastAt.IsZero() {
				c.lastAt, c.lastStep = time.Now(), s.Step
			}
			return nil
		},
		StepEnd: func(ctx context.Context, s *train.State) error {
			if s.Stopped {
				return nil // the version is saved next
			}
			due := (c.every > 0 && s.Step-c.lastStep >= c.every) || (c.period > 0 && time.Since(c.lastAt) >= c.period)
			if !due || (s.StepsPerEpoch > 0 && s.StepInEpoch == s.StepsPerEpoch) {
				return nil // the epoch's end saves it, at the boundary
			}
			return c.save(ctx, s, s.Epoch, s.StepInEpoch, s.Examples, s.Values)
		},
		EpochEnd: func(ctx context.Context, s *train.State) error {
			if s.Epoch+1 >= s.Epochs || s.Stopped || s.Step == c.lastStep {
				return nil // the version is saved next
			}
			due := (c.every > 0 && s.Step-c.lastStep >= c.every) || (c.period > 0 && time.Since(c.lastAt) >= c.period)
			cheap := float64(c.lastCost) <= epochEndShare*float64(time.Since(c.lastAt))
			if !due && !(cheap && c.enabled()) {
				return nil
			}
			return c.save(ctx, s, s.Epoch+1, 0, 0, nil)
		},
	}
}

// save writes the variables and the position. A failed save is logged and
// training goes on: the previous checkpoint is still whole, and the next
// save may succeed; only the time a kill would cost grows.
func (c *checkpointer) save(ctx context.Context, s *train.State, epoch, batch, examples int, values map[string]float64) error {
	start := time.Now()
	if err := s.Pull(); err != nil {
		return err
	}
	c.buf.Reset()
	if err := modelio.WriteWeights(&c.buf, c.vars, nil); err != nil {
		return fmt.Errorf("mltasks: checkpoint of task %s: %w", c.key, err)
	}
	_, err := c.ms.SaveCheckpoint(ctx, models.Checkpoint{
		Task: c.key, Model: c.model, Step: int64(s.Step), Epoch: int64(epoch), Batch: int64(batch), Examples: int64(examples),
		Values: maps.Clone(values), Run: c.run, Meta: c.meta,
	}, bytes.NewReader(c.buf.Bytes()))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("checkpoint not saved; training goes on", "step", s.Step, "err", err)
		return nil
	}
	c.lastAt, c.lastStep, c.lastCost = time.Now(), s.Step, time.Since(start)
	c.saves++
	c.log.Debug("checkpoint saved", "step", s.Step, "epoch", epoch, "batch", batch, "bytes", c.buf.Len(), "took", c.lastCost.Round(time.Millisecond))
	if f, ok := ctx.Value(afterCheckpointKey{}).(func(step int) error); ok {
		return f(s.Step)
	}
	return nil
}

// afterCheckpointKey carries, in tests, a function called after every
// checkpoint saved with its step: an error ends the run there, as a kill
// right after the save would.
type afterCheckpointKey struct{}

// clear removes the task's checkpoint once its version is saved; a failure
// only leaves it for the master's GC.
func (c *checkpointer) clear(ctx context.Context) {
	if err := c.ms.DeleteCheckpoint(ctx, c.key); err != nil {
		c.log.Warn("checkpoint of a finished task not removed: the master's GC removes it", "task", c.key, "err", err)
	}
}

// savedVersion returns the version of model that a previous attempt of the
// task saved (it died before its result was acknowledged), or nil.
func savedVersion(ctx context.Context, ms *models.Store, model, key string) (*models.Model, error) {
	m, err := ms.ByTask(ctx, model, key)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	return m, err
}

// resume sets up the task's checkpoints and, when the task has a usable one,
// loads it: the variables (pushed to the device when the run is on one), the
// epochs completed, and where the loop starts. The checkpointer's run is the
// checkpoint's events run ("" when starting afresh).
func (j *trainJob) resume(ctx context.Context) (*checkpointer, train.Position, bool, error) {
	every, period, err := checkpointPolicy(j.t, j.p.CheckpointEvery, j.p.CheckpointMinutes)
	if err != nil {
		return nil, train.Position{}, false, err
	}
	ck, err := newCheckpointer(j.ms, j.run, j.g.Variables(), every, period, j.p.Seed, j.p)
	if err != nil {
		return nil, train.Position{}, false, err
	}
	at, ok, err := ck.resume(ctx)
	if err != nil || !ok {
		return ck, train.Position{}, false, err
	}
	if at.Epoch > j.epochs {
		ck.discard(ctx, fmt.Errorf("checkpoint of task %q is at epoch %d, past the %d epochs of the run", j.t.Key(), at.Epoch, j.epochs))
		return ck, train.Position{}, false, nil
	}
	if j.cfg.Device != nil {
		if err := j.cfg.Device.Push(); err != nil {
			return nil, train.Position{}, false, j.fail(err)
		}
	}
	j.completed = at.Epoch
	j.log.Info(fmt.Sprintf("resuming from checkpoint at step %d (epoch %d, batch %d)", at.Step, at.Epoch+1, at.Batch),
		"run", ck.run, "attempt", j.run.Attempt)
	return ck, at, true, nil
}

// savedBefore is the output of a task whose previous attempt saved its
// version and died before its result was acknowledged: that version, not a
// second one.
func (j *trainJob) savedBefore(ctx context.Context, m *models.Model) (json.RawMessage, error) {
	j.log.Info("the model version of this task is already saved (by an earlier attempt): not training again",
		"model", m.Name, "version", m.Version, "run", m.Lineage.Run)
	if err := j.ms.DeleteCheckpoint(ctx, j.t.Key()); err != nil {
		j.log.Warn("checkpoint of a finished task not removed: the master's GC removes it", "err", err)
	}
	if p := j.p.Alias; p != "" {
		if err := j.ms.Alias(ctx, m.Name, p, m.Version); err != nil {
			return nil, j.fail(err)
		}
	}
	out := map[string]any{"model": m.Name, "version": m.Version, "run": m.Lineage.Run, "saved_before": true,
		"metrics": m.Metrics, "loss": m.Metrics["train_loss"]}
	if j.p.Loss == lossMSE { // as execute says it
		out[metricMAE] = m.Metrics["train_"+metricMAE]
	} else {
		out["accuracy"] = m.Metrics["train_accuracy"]
	}
	return json.Marshal(out)
}
