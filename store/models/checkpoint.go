package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
)

// CheckpointsCollection holds one document per task with a checkpoint; the
// state it points to is a blob of the weights bucket (WeightsBucket), so that
// GC sees every blob of the bucket and who references it.
const CheckpointsCollection = "model_checkpoints"

// Checkpoint is where a training task stood when it last saved its state: the
// position, and a blob (State) that holds the graph's variables (weights and
// optimizer slots). One per task key; each save replaces the previous one.
type Checkpoint struct {
	ID      string `bson:"_id"`
	Project string `bson:"project"`
	// Task is the workflow task's key ("plan/task"), stable across attempts.
	Task string `bson:"task"`
	// Model is the name the task will save its version under (for listings).
	Model string `bson:"model,omitempty"`
	// Step is the number of steps taken; Epoch the epoch under way (from 0);
	// Batch and Examples what of that epoch is done.
	Step     int64 `bson:"step"`
	Epoch    int64 `bson:"epoch"`
	Batch    int64 `bson:"batch"`
	Examples int64 `bson:"examples"`
	// Values are the epoch's running metrics (loss, accuracy) at Step.
	Values map[string]float64 `bson:"values,omitempty"`
	// Run is the training events' run ID, so a resumed run continues its curve.
	Run string `bson:"run,omitempty"`
	// Meta is what else the caller needs to replay the run (its seeds, a
	// fingerprint of its parameters).
	Meta    map[string]string `bson:"meta,omitempty"`
	Updated time.Time         `bson:"updated"`
	State   Weights           `bson:"state"`
}

func checkpointID(project, task string) string {
	return strconv.Itoa(len(project)) + ":" + project + ":" + task
}

// SaveCheckpoint stores c (its Task, position, values, run and meta; ID,
// Project, Updated and State are set here) with state as its blob, replacing
// the task's previous checkpoint. The blob is written whole before the
// document that points to it is replaced, and the previous blob is removed
// only after: a save that fails or dies half-way leaves the previous
// checkpoint readable (and stray chunks, which GC removes).
func (s *Store) SaveCheckpoint(ctx context.Context, c Checkpoint, state io.Reader) (*Checkpoint, error) {
	if err := checkCheckpoint(&c); err != nil {
		return nil, fmt.Errorf("models: save checkpoint of task %q: %w", c.Task, err)
	}
	if state == nil {
		return nil, fmt.Errorf("models: save checkpoint of task %q: nil state reader", c.Task)
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	info, err := s.bucket.Put(ctx, s.Project()+"/checkpoint/"+c.Task,
		bson.D{{Key: "project", Value: s.Project()}, {Key: "task", Value: c.Task}, {Key: "checkpoint", Value: true}}, state)
	if err != nil {
		return nil, fmt.Errorf("models: save checkpoint of task %q: state: %w", c.Task, err)
	}
	c.ID = checkpointID(s.Project(), c.Task)
	c.Project = s.Project()
	c.Updated = time.Now().UTC().Truncate(time.Millisecond)
	c.State = Weights{FileID: info.ID, Size: info.Length, SHA256: info.SHA256, Format: "safetensors"}
	// The document before the replacement names the blob that is now garbage.
	raw, err := s.checkpoints().FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: c.ID}}, &c,
		options.FindOneAndReplace().SetUpsert(true).SetReturnDocument(options.Before)).Raw()
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		_ = s.bucket.Delete(context.WithoutCancel(ctx), info.ID)
		return nil, fmt.Errorf("models: save checkpoint of task %q at step %d: %w", c.Task, c.Step, err)
	}
	if err == nil {
		if old := stateFileID(raw); !old.IsZero() && old != info.ID {
			if err := s.bucket.Delete(ctx, old); err != nil && !errors.Is(err, blob.ErrNotFound) {
				s.db.Logger().Warn("models: previous checkpoint state left for GC", "task", c.Task, "blob", old.Hex(), "err", err)
			}
		}
	}
	return &c, nil
}

func checkCheckpoint(c *Checkpoint) error {
	var problems []string
	if c.Task == "" {
		problems = append(problems, "no task key")
	}
	if c.Step < 0 || c.Epoch < 0 || c.Batch < 0 || c.Examples < 0 {
		problems = append(problems, fmt.Sprintf("step %d, epoch %d, batch %d, examples %d: expected none negative", c.Step, c.Epoch, c.Batch, c.Examples))
	}
	for k, v := range c.Values {
		if k == "" || strings.ContainsAny(k, ".$") || math.IsNaN(v) {
			problems = append(problems, fmt.Sprintf("value %q=%v: expected a name without '.' or '$' and a number", k, v))
		}
	}
	for k := range c.Meta {
		if k == "" || strings.ContainsAny(k, ".$") {
			problems = append(problems, fmt.Sprintf("meta key %q: expected a name without '.' or '$'", k))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (s *Store) checkpoints() *mongo.Collection {
	return s.db.Database().Collection(CheckpointsCollection)
}

// stateFileID reads a checkpoint document's blob ID without validating the
// rest, so a damaged document can still be replaced and deleted.
func stateFileID(raw bson.Raw) bson.ObjectID {
	if v, err := raw.LookupErr("state", "file_id"); err == nil {
		if id, ok := v.ObjectIDOK(); ok {
			return id
		}
	}
	return bson.ObjectID{}
}

// GetCheckpoint returns the task's checkpoint document (an error wrapping
// ErrNotFound if it has none, ErrCorrupt naming the task if it is damaged).
func (s *Store) GetCheckpoint(ctx context.Context, task string) (*Checkpoint, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	raw, err := s.checkpoints().FindOne(ctx, bson.D{{Key: "_id", Value: checkpointID(s.Project(), task)}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("models: checkpoint of task %q in project %q: %w", task, s.Project(), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("models: read checkpoint of task %q: %w", task, err)
	}
	return decodeCheckpoint(raw, task)
}

func decodeCheckpoint(raw bson.Raw, task string) (*Checkpoint, error) {
	var c Checkpoint
	if err := bson.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: checkpoint of task %q: %v", ErrCorrupt, task, err)
	}
	problems := []string{}
	if err := checkCheckpoint(&c); err != nil {
		problems = append(problems, err.Error())
	}
	if c.State.FileID.IsZero() {
		problems = append(problems, "no state.file_id")
	}
	if b, err := hex.DecodeString(c.State.SHA256); err != nil || len(b) != sha256.Size {
		problems = append(problems, fmt.Sprintf("state.sha256 %q, expected 64 hex digits", c.State.SHA256))
	}
	if c.State.Size < 0 {
		problems = append(problems, fmt.Sprintf("state.size %d, expected a byte count (>= 0)", c.State.Size))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: checkpoint of task %q: %s", ErrCorrupt, task, strings.Join(problems, "; "))
	}
	return &c, nil
}

// LoadCheckpoint returns the task's checkpoint and its state's bytes, checked
// against the saved size and SHA-256: an error wrapping ErrNotFound when the
// task has none, ErrCorrupt or ErrChecksum, naming the task, when the
// document or its blob is damaged.
func (s *Store) LoadCheckpoint(ctx context.Context, task string) (*Checkpoint, []byte, error) {
	c, err := s.GetCheckpoint(ctx, task)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	r, err := s.bucket.Open(ctx, c.State.FileID)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt) {
			return nil, nil, fmt.Errorf("%w: state of the checkpoint of task %q (step %d): %v", ErrCorrupt, task, c.Step, err)
		}
		return nil, nil, fmt.Errorf("models: open the state of the checkpoint of task %q: %w", task, err)
	}
	defer r.Close()
	if r.Info().Length != c.State.Size {
		return nil, nil, fmt.Errorf("%w: state of the checkpoint of task %q: stored blob is %d bytes, checkpoint says %d", ErrCorrupt, task, r.Info().Length, c.State.Size)
	}
	buf := bytesWriter{b: make([]byte, 0, min(c.State.Size, maxPrealloc)), limit: c.State.Size}
	if _, err := io.Copy(&buf, r); err != nil {
		if errors.Is(err, blob.ErrCorrupt) {
			return nil, nil, fmt.Errorf("%w: state of the checkpoint of task %q: %v", ErrCorrupt, task, err)
		}
		return nil, nil, fmt.Errorf("models: read the state of the checkpoint of task %q: %w", task, err)
	}
	if sum := r.Sum(); sum != c.State.SHA256 || int64(len(buf.b)) != c.State.Size {
		return nil, nil, fmt.Errorf("%w: state of the checkpoint of task %q: read %d bytes hashing to %s, saved %d bytes hashing to %s",
			ErrChecksum, task, len(buf.b), sum, c.State.Size, c.State.SHA256)
	}
	return c, buf.b, nil
}

// DeleteCheckpoint removes the task's checkpoint: its document first, then
// its blob. A task without one is not an error.
func (s *Store) DeleteCheckpoint(ctx context.Context, task string) error {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	raw, err := s.checkpoints().FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: checkpointID(s.Project(), task)}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("models: delete checkpoint of task %q: %w", task, err)
	}
	if id := stateFileID(raw); !id.IsZero() {
		if err := s.bucket.Delete(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("models: delete checkpoint of task %q: document removed, state %s left for GC: %w", task, id.Hex(), err)
		}
	}
	return nil
}

// Checkpoints lists the project's checkpoints, oldest update first. Damaged
// documents are listed with what could be read (at least their task).
func (s *Store) Checkpoints(ctx context.Context) ([]*Checkpoint, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	cur, err := s.checkpoints().Find(ctx, s.db.Scope(nil), options.Find().SetSort(bson.D{{Key: "updated", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("models: list checkpoints: %w", err)
	}
	defer cur.Close(ctx)
	var out []*Checkpoint
	for cur.Next(ctx) {
		var c Checkpoint
		if err := bson.Unmarshal(cur.Current, &c); err != nil {
			id, _ := cur.Current.Lookup("_id").StringValueOK()
			task, _ := cur.Current.Lookup("task").StringValueOK()
			c = Checkpoint{ID: id, Task: task}
			c.State.FileID = stateFileID(cur.Current)
		}
		out = append(out, &c)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("models: list checkpoints: %w", err)
	}
	return out, nil
}

// GCCheckpoints removes the checkpoints not updated for minAge whose task is
// over, as done says (the workflow knows; this package does not). A task that
// saved its version removes its own checkpoint; one left behind is from a
// task that died between the two, or failed or was cancelled: kept for
// minAge, so that a retry soon after still resumes. It returns how many it
// removed.
func (s *Store) GCCheckpoints(ctx context.Context, minAge time.Duration, done func(ctx context.Context, task string) (bool, error)) (int, error) {
	cs, err := s.Checkpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("models: gc: %w", err)
	}
	cutoff := time.Now().Add(-minAge)
	removed := 0
	for _, c := range cs {
		if !c.Updated.Before(cutoff) {
			continue
		}
		over, err := done(ctx, c.Task)
		if err != nil {
			return removed, fmt.Errorf("models: gc: is task %q over: %w", c.Task, err)
		}
		if !over {
			continue
		}
		if err := s.DeleteCheckpoint(ctx, c.Task); err != nil {
			return removed, fmt.Errorf("models: gc: %w", err)
		}
		removed++
	}
	return removed, nil
}

// checkpointBlobs adds the blobs checkpoints point to to used, for GC.
func (s *Store) checkpointBlobs(ctx context.Context, used map[bson.ObjectID]bool) error {
	cur, err := s.checkpoints().Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("models: gc: list checkpoints: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		if id := stateFileID(cur.Current); !id.IsZero() {
			used[id] = true
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("models: gc: list checkpoints: %w", err)
	}
	return nil
}

// ByTask returns the version of name whose lineage names task (the workflow
// task that saved it; the latest if there are several), or an error wrapping
// ErrNotFound. A train task asks before it saves, so that an attempt after
// one that saved and died before reporting returns that version instead of
// saving a second.
func (s *Store) ByTask(ctx context.Context, name, task string) (*Model, error) {
	if err := store.ValidateName("model", name); err != nil {
		return nil, err
	}
	if task == "" {
		return nil, fmt.Errorf("models: %s by task: empty task key", name)
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	ms, err := s.find(ctx, bson.D{{Key: "name", Value: name}, {Key: "lineage.task", Value: task}},
		options.Find().SetSort(bson.D{{Key: "version", Value: -1}}).SetLimit(1))
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("models: %s saved by task %q in project %q: %w", name, task, s.Project(), ErrNotFound)
	}
	return ms[0], nil
}
