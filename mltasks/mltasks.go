package mltasks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/cuda"
	"github.com/tlgo/tl/graph"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
	"github.com/tlgo/tl/store/events"
)

// GPUQueue is the queue whose tasks run on the GPU.
const GPUQueue = "cuda"

// Options configure the kinds.
type Options struct {
	// OpenDevice opens the device for tasks on GPUQueue; nil means GPU 0
	// through cuda.Open (or the emulator named by TL_CUDA_EMULATOR).
	OpenDevice func() (graph.Device, error)
	// Archs are network builders params.arch may name, beside the built-in
	// "mlp" and "cnn" (a name given here replaces a built-in).
	Archs map[string]Builder
	// CacheDir holds the local disk cache of the datasets read (the
	// dataset module's cache: the second epoch reads it instead of the
	// server), in a folder per store. Empty: the user's cache folder
	// (os.UserCacheDir()/tl/samples); "-": no cache.
	CacheDir string
}

// Kinds are the train and evaluate kinds of one agent: the network builders
// they know and the device their GPU tasks share.
type Kinds struct {
	open     func() (graph.Device, error)
	archs    archs
	cacheDir string
	// mu serialises GPU tasks: they share one stream, and a plan captured while
	// another task launches would record that task's work.
	mu     sync.Mutex
	dev    graph.Device
	devErr error
	tried  bool
}

// New returns the kinds with options; register more builders with
// RegisterArch, then add the kinds to a registry with Register.
func New(o Options) *Kinds {
	k := &Kinds{open: o.OpenDevice, archs: builtinArchs(), cacheDir: o.CacheDir}
	if k.open == nil {
		k.open = openGPU
	}
	for name, b := range o.Archs {
		k.archs[name] = b
	}
	return k
}

// RegisterArch makes params.arch name accept b. Call it before the agent
// starts.
func (k *Kinds) RegisterArch(name string, b Builder) error {
	if name == "" || b == nil {
		return fmt.Errorf("mltasks: RegisterArch(%q): want a name and a builder", name)
	}
	k.archs[name] = b
	return nil
}

// Register adds the kinds "train" and "evaluate" to r, with their params
// types (the master refuses a plan with a param they do not take).
func (k *Kinds) Register(r *task.Registry) error {
	if err := r.RegisterWithParams("train", k.train, TrainParams{}); err != nil {
		return err
	}
	if err := k.registerText(r); err != nil { // train-lm, word2vec (lm.go)
		return err
	}
	return r.RegisterWithParams("evaluate", k.evaluate, EvalParams{})
}

// Register adds the kinds "train" and "evaluate" to r.
func Register(r *task.Registry) error { return RegisterWith(r, Options{}) }

// RegisterWith adds the kinds with options.
func RegisterWith(r *task.Registry, o Options) error { return New(o).Register(r) }

// device returns the GPU for a task that asks for one (locking k.mu: call
// release), or nil.
func (k *Kinds) device(t *task.Task, want string) (graph.Device, func(), error) {
	if want == "cpu" || (want == "" && t.Queue != GPUQueue) {
		return nil, func() {}, nil
	}
	k.mu.Lock()
	if !k.tried {
		k.tried = true
		k.dev, k.devErr = k.open()
	}
	if k.devErr != nil {
		k.mu.Unlock()
		why := "is on the " + GPUQueue + " queue"
		if want == GPUQueue {
			why = "asks for params.device " + GPUQueue
		}
		return nil, nil, fmt.Errorf("mltasks: task %s %s but this agent has no usable GPU: %w", t.ID, why, k.devErr)
	}
	return k.dev, k.mu.Unlock, nil
}

// Train runs a train task on the CPU, or on a GPU opened for it when the task
// is on GPUQueue.
func Train(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	return New(Options{}).train(ctx, run)
}

// Evaluate runs an evaluate task, as Train.
func Evaluate(ctx context.Context, run *task.Run) (json.RawMessage, error) {
	return New(Options{}).evaluate(ctx, run)
}

// openGPU opens GPU 0; it returns a nil interface, not a nil *cuda.Device, on
// failure.
func openGPU() (graph.Device, error) {
	d, err := cuda.Open(cuda.Config{})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func storeOf(run *task.Run) (*store.DB, error) {
	db, ok := run.Services.(*store.DB)
	if !ok || db == nil {
		return nil, task.Permanent(fmt.Errorf("mltasks: task %s (%s) needs the agent's store: start the agent with --mongo or next to a local master", run.Task.ID, run.Task.Kind))
	}
	return db, nil
}

// samples opens the store's samples with the disk cache of that store. The
// cache folder is named after the store: its data folder, or its URL and
// database, and the creation time of its first sample, so that two stores
// never share a cache, not even a store that replaced another at the same
// address (the dataset module's cache knows a view by its collection's
// counters, which a fresh store can repeat). An embedded store without a
// data folder gets none.
func (k *Kinds) samples(ctx context.Context, db *store.DB) (*dataset.Collection, error) {
	o := dataset.Options{}
	if k.cacheDir != "-" {
		first, err := firstSampleTime(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("mltasks: opening the samples: %w", err)
		}
		o.CacheDir = k.cacheRoot(db, first)
	}
	c, err := dataset.Open(ctx, db, o)
	if err != nil {
		return nil, fmt.Errorf("mltasks: opening the samples: %w", err)
	}
	return c, nil
}

// firstSampleTime is when the project's first sample (lowest seq) was
// stored, as the dataset module's documents say ("" with none).
func firstSampleTime(ctx context.Context, db *store.DB) (string, error) {
	var row struct {
		Created time.Time `bson:"created"`
	}
	err := db.Collection(dataset.DefaultCollection).FindOne(ctx, bson.D{{Key: "project", Value: db.Project()}},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: 1}}).SetProjection(bson.D{{Key: "created", Value: 1}})).Decode(&row)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the first sample's creation time: %w", err)
	}
	return row.Created.UTC().Format(time.RFC3339Nano), nil
}

// cacheRoot is the cache folder of the store db whose first sample was
// stored at first, or "" for none.
func (k *Kinds) cacheRoot(db *store.DB, first string) string {
	root := k.cacheDir
	if root == "-" {
		return ""
	}
	if root == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		root = filepath.Join(uc, "tl", "samples")
	}
	id := db.DataDir()
	if db.Embedded() {
		if id == "" {
			return ""
		}
	} else {
		id = db.URL() + "\x00" + db.Database().Name()
	}
	h := sha256.Sum256([]byte(id + "\x00" + db.Project() + "\x00" + first))
	return filepath.Join(root, hex.EncodeToString(h[:8]))
}

// closeEvents writes the events still queued, even when the task was cancelled:
// the curve up to the interruption is worth keeping.
func closeEvents(ctx context.Context, w *events.Writer, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := w.Close(cctx); err != nil {
		log.Warn("training events not all written", "run", w.Run(), "err", err)
	}
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
