package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/blob"
)

// Errors tested with errors.Is.
var (
	// ErrNotFound: no such model, version or alias.
	ErrNotFound = errors.New("models: not found")
	// ErrChecksum: the weights read back do not hash to the saved SHA-256.
	ErrChecksum = errors.New("models: weights checksum mismatch")
	// ErrCorrupt: a stored model document or its weights are damaged
	// (wrong types, missing fields, missing or misshapen GridFS chunks).
	ErrCorrupt = errors.New("models: corrupt model record")
	// ErrAliased: a version still named by an alias cannot be deleted.
	ErrAliased = errors.New("models: version is aliased")
)

// Collection and bucket names, shared by every project of a database.
const (
	ModelsCollection   = "models"
	CountersCollection = "model_counters"
	AliasesCollection  = "model_aliases"
	WeightsBucket      = "model_weights"
)

// Model is a saved model version: its description and where its weights are.
type Model struct {
	ID      string `bson:"_id"`
	Project string `bson:"project"`
	Name    string `bson:"name"`
	Version int64  `bson:"version"`
	// Architecture is the network's description as JSON (layers, shapes),
	// from which the layers package rebuilds it.
	Architecture json.RawMessage `bson:"architecture"`
	// Params are hyper-parameters and any user metadata.
	Params map[string]any `bson:"params,omitempty"`
	// Metrics are numbers to rank versions by (accuracy, loss).
	Metrics map[string]float64 `bson:"metrics,omitempty"`
	Lineage Lineage            `bson:"lineage"`
	Created time.Time          `bson:"created"`
	Weights Weights            `bson:"weights"`
}

// Lineage says what produced a model.
type Lineage struct {
	Dataset string `bson:"dataset,omitempty"` // dataset name (or view) trained on
	Task    string `bson:"task,omitempty"`    // workflow task ID
	Run     string `bson:"run,omitempty"`     // training run ID (see package events)
	Parent  string `bson:"parent,omitempty"`  // ID of the model it was fine-tuned from
}

// Weights locates a model's weights in GridFS.
type Weights struct {
	FileID bson.ObjectID `bson:"file_id"`
	Size   int64         `bson:"size"`
	SHA256 string        `bson:"sha256"` // lower-case hex
	Format string        `bson:"format"` // "safetensors"
}

// Spec is what a caller gives to Save besides the weights.
type Spec struct {
	Name         string
	Architecture json.RawMessage // must be valid JSON (or empty, stored as null)
	Params       map[string]any
	Metrics      map[string]float64
	Lineage      Lineage
	// Format of the weights; default "safetensors".
	Format string
}

// Ref names a model version: by Version, by Alias, or the latest when both
// are zero.
type Ref struct {
	Name    string
	Version int64
	Alias   string
}

func (r Ref) String() string {
	switch {
	case r.Alias != "":
		return fmt.Sprintf("%s@%s", r.Name, r.Alias)
	case r.Version > 0:
		return fmt.Sprintf("%s v%d", r.Name, r.Version)
	}
	return r.Name + " (latest)"
}

// Options configure a Store.
type Options struct {
	// CacheDir keeps downloaded weights, one file per SHA-256, so a reload
	// reads the disk instead of the server. Empty disables the cache.
	CacheDir string
	// CacheMaxBytes bounds the cache: after each fill, the least recently
	// used files go until the rest fit. 0 means no bound.
	CacheMaxBytes int64
	// ChunkSize of the weights' GridFS chunks; default blob.DefaultChunkSize.
	ChunkSize int
}

// Store saves, finds and loads models of one project. Safe for concurrent use.
type Store struct {
	db       *store.DB
	models   *mongo.Collection
	counters *mongo.Collection
	aliases  *mongo.Collection
	bucket   *blob.Bucket
	cacheDir string
	cacheMax int64
}

// New returns a Store over db's project and creates the indexes it needs.
func New(ctx context.Context, db *store.DB, opts Options) (*Store, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	bucket, err := blob.NewBucket(ctx, db, WeightsBucket, opts.ChunkSize)
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	d := db.Database()
	s := &Store{
		db:       db,
		models:   d.Collection(ModelsCollection),
		counters: d.Collection(CountersCollection),
		aliases:  d.Collection(AliasesCollection),
		bucket:   bucket,
		cacheDir: opts.CacheDir,
		cacheMax: opts.CacheMaxBytes,
	}
	// Versions, aliases and counters are looked up by _id.
	if err := db.IndexIDs(ctx, ModelsCollection, CountersCollection, AliasesCollection, CheckpointsCollection); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	// This one serves listing and ranking (on servers that use indexes).
	_, err = s.models.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "project", Value: 1}, {Key: "name", Value: 1}, {Key: "version", Value: 1}},
	})
	if err != nil {
		return nil, fmt.Errorf("models: create index on %s: %w", ModelsCollection, err)
	}
	if s.cacheDir != "" {
		if err := os.MkdirAll(s.cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("models: cache directory: %w", err)
		}
	}
	return s, nil
}

// Project is the project this Store reads and writes.
func (s *Store) Project() string { return s.db.Project() }

// modelID is the _id of a model version. The project is length-prefixed and
// the version is the digits after the last ":v", so distinct (project, name,
// version) never share an ID. Using it as _id makes versions unique without
// transactions and makes a lookup by version an _id lookup.
func modelID(project, name string, version int64) string {
	return strconv.Itoa(len(project)) + ":" + project + ":" + name + ":v" + strconv.FormatInt(version, 10)
}

func nameKey(project, name string) string {
	return strconv.Itoa(len(project)) + ":" + project + ":" + name
}

func aliasID(project, name, alias string) string {
	return nameKey(project, name) + ":" + strconv.Itoa(len(name)) + ":" + alias
}

// Save streams weights to GridFS while hashing them, then records the model
// under the next version of spec.Name. The document is written only after
// the weights are whole, so a save that fails or dies half-way leaves no
// visible model (only unreferenced chunks, which GC removes).
func (s *Store) Save(ctx context.Context, spec Spec, weights io.Reader) (*Model, error) {
	if err := store.ValidateName("model", spec.Name); err != nil {
		return nil, err
	}
	arch := spec.Architecture
	if len(arch) == 0 {
		arch = json.RawMessage("null")
	}
	if !json.Valid(arch) {
		return nil, fmt.Errorf("models: save %s: architecture is not valid JSON", spec.Name)
	}
	for k, v := range spec.Metrics {
		if k == "" || strings.ContainsAny(k, ".$") {
			return nil, fmt.Errorf("models: save %s: metric name %q: expected no '.' or '$'", spec.Name, k)
		}
		if v != v {
			return nil, fmt.Errorf("models: save %s: metric %q is NaN", spec.Name, k)
		}
	}
	if weights == nil {
		return nil, fmt.Errorf("models: save %s: nil weights reader", spec.Name)
	}
	format := spec.Format
	if format == "" {
		format = "safetensors"
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()

	info, err := s.bucket.Put(ctx, s.Project()+"/"+spec.Name,
		bson.D{{Key: "project", Value: s.Project()}, {Key: "name", Value: spec.Name}}, weights)
	if err != nil {
		return nil, fmt.Errorf("models: save %s: weights: %w", spec.Name, err)
	}
	fileID, size, sum := info.ID, info.Length, info.SHA256
	m := &Model{
		Project:      s.Project(),
		Name:         spec.Name,
		Architecture: arch,
		Params:       spec.Params,
		Metrics:      spec.Metrics,
		Lineage:      spec.Lineage,
		Created:      time.Now().UTC().Truncate(time.Millisecond),
		Weights:      Weights{FileID: fileID, Size: size, SHA256: sum, Format: format},
	}
	// The counter makes versions increase; the _id makes them unique even
	// if two writers were handed the same number, in which case one retries.
	for attempt := 0; ; attempt++ {
		v, err := s.nextVersion(ctx, spec.Name)
		if err != nil {
			_ = s.bucket.Delete(context.WithoutCancel(ctx), fileID)
			return nil, fmt.Errorf("models: save %s: allocate version: %w", spec.Name, err)
		}
		m.Version = v
		m.ID = modelID(m.Project, m.Name, v)
		_, err = s.models.InsertOne(ctx, m)
		if err == nil {
			return m, nil
		}
		if !mongo.IsDuplicateKeyError(err) || attempt >= 20 {
			_ = s.bucket.Delete(context.WithoutCancel(ctx), fileID)
			return nil, fmt.Errorf("models: save %s v%d: %w", spec.Name, v, err)
		}
	}
}

func (s *Store) nextVersion(ctx context.Context, name string) (int64, error) {
	id := nameKey(s.Project(), name)
	for attempt := 0; ; attempt++ {
		var c struct {
			Seq int64 `bson:"seq"`
		}
		err := s.counters.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: id}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}},
				{Key: "$set", Value: bson.D{{Key: "project", Value: s.Project()}, {Key: "name", Value: name}}},
			},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
		).Decode(&c)
		if err == nil {
			return c.Seq, nil
		}
		// Two first saves of a name race to insert the counter; the loser retries.
		if !mongo.IsDuplicateKeyError(err) || attempt >= 20 {
			return 0, err
		}
	}
}

// Get returns the model a Ref names, or an error wrapping ErrNotFound.
func (s *Store) Get(ctx context.Context, ref Ref) (*Model, error) {
	if err := store.ValidateName("model", ref.Name); err != nil {
		return nil, err
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	switch {
	case ref.Alias != "":
		v, err := s.aliasVersion(ctx, ref.Name, ref.Alias)
		if err != nil {
			return nil, err
		}
		m, err := s.byID(ctx, modelID(s.Project(), ref.Name, v))
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("models: alias %s points at v%d, which is gone: %w", ref, v, ErrNotFound)
		}
		return m, err
	case ref.Version > 0:
		return s.byID(ctx, modelID(s.Project(), ref.Name, ref.Version))
	case ref.Version < 0:
		return nil, fmt.Errorf("models: %s: version %d, expected > 0 (or 0 for the latest)", ref.Name, ref.Version)
	}
	ms, err := s.find(ctx, bson.D{{Key: "name", Value: ref.Name}},
		options.Find().SetSort(bson.D{{Key: "version", Value: -1}}).SetLimit(1))
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("models: %s in project %q: %w", ref, s.Project(), ErrNotFound)
	}
	return ms[0], nil
}

func (s *Store) byID(ctx context.Context, id string) (*Model, error) {
	raw, err := s.models.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, fmt.Errorf("models: model %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("models: read model %q: %w", id, err)
	}
	return decode(raw)
}

// decode turns a raw document into a Model, rejecting damaged ones.
func decode(raw bson.Raw) (*Model, error) {
	id := raw.Lookup("_id").String()
	var m Model
	if err := bson.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: document %s: %v", ErrCorrupt, id, err)
	}
	var problems []string
	if m.Name == "" {
		problems = append(problems, "no name")
	}
	if m.Version <= 0 {
		problems = append(problems, fmt.Sprintf("version %d, expected > 0", m.Version))
	}
	if m.Weights.FileID.IsZero() {
		problems = append(problems, "no weights.file_id")
	}
	if b, err := hex.DecodeString(m.Weights.SHA256); err != nil || len(b) != sha256.Size {
		problems = append(problems, fmt.Sprintf("weights.sha256 %q, expected 64 hex digits", m.Weights.SHA256))
	}
	if m.Weights.Size < 0 {
		problems = append(problems, fmt.Sprintf("weights.size %d, expected a byte count (>= 0)", m.Weights.Size))
	}
	if len(m.Architecture) > 0 && !json.Valid(m.Architecture) {
		problems = append(problems, fmt.Sprintf("architecture is not JSON (%d bytes)", len(m.Architecture)))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: document %s: %s", ErrCorrupt, id, strings.Join(problems, "; "))
	}
	return &m, nil
}

// find runs a project-scoped query and decodes every result.
func (s *Store) find(ctx context.Context, filter bson.D, opts ...options.Lister[options.FindOptions]) ([]*Model, error) {
	cur, err := s.models.Find(ctx, s.db.Scope(filter), opts...)
	if err != nil {
		return nil, fmt.Errorf("models: query %v: %w", filter, err)
	}
	defer cur.Close(ctx)
	var out []*Model
	for cur.Next(ctx) {
		m, err := decode(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("models: %w", err)
		}
		out = append(out, m)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("models: query %v: %w", filter, err)
	}
	return out, nil
}

// List returns every version of name, oldest first.
func (s *Store) List(ctx context.Context, name string) ([]*Model, error) {
	if err := store.ValidateName("model", name); err != nil {
		return nil, err
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	return s.find(ctx, bson.D{{Key: "name", Value: name}}, options.Find().SetSort(bson.D{{Key: "version", Value: 1}}))
}

// Names returns the model names of the project, sorted.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	var names []string
	if err := s.models.Distinct(ctx, "name", s.db.Scope(nil)).Decode(&names); err != nil {
		return nil, fmt.Errorf("models: list names: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

// TopQuery selects and ranks models: the paper's find_top_model.
type TopQuery struct {
	Name   string // only this model name; empty for all
	Metric string // rank by Metrics[Metric]; models without it are left out
	// Ascending ranks the smallest first (for a loss); default largest first.
	Ascending bool
	K         int    // how many; 0 means 1
	Filter    bson.D // more conditions, e.g. {"params.lr": 0.01}, {"lineage.dataset": "mnist"}
}

// Top returns the K best models by a metric among those matching the query.
func (s *Store) Top(ctx context.Context, q TopQuery) ([]*Model, error) {
	if q.Metric == "" || strings.ContainsAny(q.Metric, ".$") {
		return nil, fmt.Errorf("models: top: metric %q, expected a non-empty name without '.' or '$'", q.Metric)
	}
	k := q.K
	if k == 0 {
		k = 1
	}
	if k < 0 {
		return nil, fmt.Errorf("models: top: K %d, expected >= 0", q.K)
	}
	for _, e := range q.Filter {
		if e.Key == "project" || e.Key == "_id" {
			return nil, fmt.Errorf("models: top: filter on %q, expected fields of the model (name, params.*, metrics.*, lineage.*)", e.Key)
		}
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	field := "metrics." + q.Metric
	filter := bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	if q.Name != "" {
		filter = append(filter, bson.E{Key: "name", Value: q.Name})
	}
	filter = append(filter, q.Filter...)
	dir := -1
	if q.Ascending {
		dir = 1
	}
	return s.find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: field, Value: dir}, {Key: "created", Value: -1}}).
		SetLimit(int64(k)))
}

// SetMetrics adds or replaces metrics of a saved version (for example a test
// accuracy measured after training).
func (s *Store) SetMetrics(ctx context.Context, name string, version int64, metrics map[string]float64) error {
	set := bson.D{}
	for k, v := range metrics {
		if k == "" || strings.ContainsAny(k, ".$") || v != v {
			return fmt.Errorf("models: set metrics of %s v%d: metric %q=%v, expected a name without '.' or '$' and a number", name, version, k, v)
		}
		set = append(set, bson.E{Key: "metrics." + k, Value: v})
	}
	if len(set) == 0 {
		return nil
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	res, err := s.models.UpdateOne(ctx, bson.D{{Key: "_id", Value: modelID(s.Project(), name, version)}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return fmt.Errorf("models: set metrics of %s v%d: %w", name, version, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("models: set metrics of %s v%d: %w", name, version, ErrNotFound)
	}
	return nil
}

// Alias points alias at a version of name, moving it if it pointed elsewhere.
func (s *Store) Alias(ctx context.Context, name, alias string, version int64) error {
	if err := store.ValidateName("alias", alias); err != nil {
		return err
	}
	if _, err := s.Get(ctx, Ref{Name: name, Version: version}); err != nil {
		return fmt.Errorf("models: alias %s@%s: %w", name, alias, err)
	}
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	_, err := s.aliases.ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: aliasID(s.Project(), name, alias)}},
		bson.D{
			{Key: "project", Value: s.Project()}, {Key: "name", Value: name},
			{Key: "alias", Value: alias}, {Key: "version", Value: version},
			{Key: "updated", Value: time.Now().UTC()},
		},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("models: alias %s@%s -> v%d: %w", name, alias, version, err)
	}
	return nil
}

// Unalias removes an alias; removing one that does not exist is not an error.
func (s *Store) Unalias(ctx context.Context, name, alias string) error {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	if _, err := s.aliases.DeleteOne(ctx, bson.D{{Key: "_id", Value: aliasID(s.Project(), name, alias)}}); err != nil {
		return fmt.Errorf("models: remove alias %s@%s: %w", name, alias, err)
	}
	return nil
}

// Aliases returns the aliases of name and the versions they point at.
func (s *Store) Aliases(ctx context.Context, name string) (map[string]int64, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	cur, err := s.aliases.Find(ctx, s.db.Scope(bson.D{{Key: "name", Value: name}}))
	if err != nil {
		return nil, fmt.Errorf("models: aliases of %s: %w", name, err)
	}
	var docs []struct {
		Alias   string `bson:"alias"`
		Version int64  `bson:"version"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("models: aliases of %s: %w", name, err)
	}
	out := make(map[string]int64, len(docs))
	for _, d := range docs {
		out[d.Alias] = d.Version
	}
	return out, nil
}

func (s *Store) aliasVersion(ctx context.Context, name, alias string) (int64, error) {
	var a struct {
		Version int64 `bson:"version"`
	}
	err := s.aliases.FindOne(ctx, bson.D{{Key: "_id", Value: aliasID(s.Project(), name, alias)}}).Decode(&a)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fmt.Errorf("models: alias %s@%s in project %q: %w", name, alias, s.Project(), ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("models: alias %s@%s: %w", name, alias, err)
	}
	return a.Version, nil
}

// Delete removes a version: first its document (so it disappears at once),
// then its weights. A version that an alias names is refused with
// ErrAliased: move the alias first.
func (s *Store) Delete(ctx context.Context, name string, version int64) error {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	al, err := s.Aliases(ctx, name)
	if err != nil {
		return err
	}
	for a, v := range al {
		if v == version {
			return fmt.Errorf("models: delete %s v%d: alias %q points at it: %w", name, version, a, ErrAliased)
		}
	}
	id := modelID(s.Project(), name, version)
	// Read the file ID without full validation, so a corrupt document can
	// still be deleted.
	var doc struct {
		Weights struct {
			FileID bson.ObjectID `bson:"file_id"`
		} `bson:"weights"`
	}
	raw, err := s.models.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("models: delete %s v%d: %w", name, version, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("models: delete %s v%d: %w", name, version, err)
	}
	_ = bson.Unmarshal(raw, &doc)
	if _, err := s.models.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("models: delete %s v%d: %w", name, version, err)
	}
	if !doc.Weights.FileID.IsZero() {
		if err := s.bucket.Delete(ctx, doc.Weights.FileID); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("models: delete %s v%d: model removed, weights %s left for GC: %w", name, version, doc.Weights.FileID.Hex(), err)
		}
	}
	return nil
}

// Loaded is a model with its weights in memory.
type Loaded struct {
	*Model
	Weights   []byte
	FromCache bool // the weights came from the local cache, not the server
}

// Load finds a model and reads its weights, from the local cache when it
// holds them, otherwise from the server (then filling the cache). The bytes
// are always checked against the saved SHA-256.
func (s *Store) Load(ctx context.Context, ref Ref) (*Loaded, error) {
	m, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if b, ok := s.readCache(m); ok {
		return &Loaded{Model: m, Weights: b, FromCache: true}, nil
	}
	rc, err := s.OpenWeights(ctx, m)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytesWriter{b: make([]byte, 0, min(m.Weights.Size, maxPrealloc)), limit: m.Weights.Size}
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, err
	}
	s.writeCache(m, buf.b)
	return &Loaded{Model: m, Weights: buf.b}, nil
}

// maxPrealloc is the most Load allocates on the word of a model document
// before the bytes arrive: weights up to it take one allocation of their
// size; bigger ones grow as they are read, so that a document that claims
// 2^40 bytes cannot take the memory (or abort the process) on its own.
const maxPrealloc = 64 << 20

// bytesWriter collects what is written, doubling its buffer up to limit.
type bytesWriter struct {
	b     []byte
	limit int64
}

func (w *bytesWriter) Write(p []byte) (int, error) {
	if need := len(w.b) + len(p); need > cap(w.b) {
		grown := make([]byte, len(w.b), max(need, int(min(2*int64(cap(w.b)), w.limit))))
		copy(grown, w.b)
		w.b = grown
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// OpenWeights streams a model's weights from the server. The reader returns
// an error wrapping ErrChecksum at the end if the bytes do not match the
// saved SHA-256 and size, ErrCorrupt if chunks are missing or misshapen.
// It bypasses the cache.
func (s *Store) OpenWeights(ctx context.Context, m *Model) (io.ReadCloser, error) {
	r, err := s.bucket.Open(ctx, m.Weights.FileID)
	if err != nil {
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrCorrupt) {
			return nil, fmt.Errorf("%w: weights of %s v%d: %v", ErrCorrupt, m.Name, m.Version, err)
		}
		return nil, fmt.Errorf("models: open weights of %s v%d: %w", m.Name, m.Version, err)
	}
	if r.Info().Length != m.Weights.Size {
		r.Close()
		return nil, fmt.Errorf("%w: weights of %s v%d: stored blob is %d bytes, model says %d", ErrCorrupt, m.Name, m.Version, r.Info().Length, m.Weights.Size)
	}
	return &verifyingReader{r: r, m: m}, nil
}

type verifyingReader struct {
	r   *blob.Reader
	m   *Model
	n   int64
	err error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	switch {
	case err == io.EOF:
		if sum := v.r.Sum(); sum != v.m.Weights.SHA256 || v.n != v.m.Weights.Size {
			v.err = fmt.Errorf("%w: weights of %s v%d: read %d bytes hashing to %s, saved %d bytes hashing to %s",
				ErrChecksum, v.m.Name, v.m.Version, v.n, sum, v.m.Weights.Size, v.m.Weights.SHA256)
			return n, v.err
		}
		v.err = io.EOF
	case errors.Is(err, blob.ErrCorrupt):
		v.err = fmt.Errorf("%w: weights of %s v%d after %d bytes: %v", ErrCorrupt, v.m.Name, v.m.Version, v.n, err)
	case err != nil:
		v.err = fmt.Errorf("models: read weights of %s v%d after %d bytes: %w", v.m.Name, v.m.Version, v.n, err)
	}
	return n, v.err
}

func (v *verifyingReader) Close() error { return v.r.Close() }

func (s *Store) cachePath(m *Model) string {
	return filepath.Join(s.cacheDir, m.Weights.SHA256+".bin")
}

// readCache returns the cached weights if present and intact; a damaged
// cache file is removed so the caller fetches again.
func (s *Store) readCache(m *Model) ([]byte, bool) {
	if s.cacheDir == "" {
		return nil, false
	}
	p := s.cachePath(m)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != m.Weights.SHA256 {
		s.db.Logger().Warn("models: damaged cache file removed", "path", p)
		_ = os.Remove(p)
		return nil, false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // recently used: pruned last
	return b, true
}

// writeCache stores weights under their checksum, atomically (temp file and
// rename), so a crash never leaves a half file under the final name.
func (s *Store) writeCache(m *Model, b []byte) {
	if s.cacheDir == "" {
		return
	}
	f, err := os.CreateTemp(s.cacheDir, ".tmp-*")
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), s.cachePath(m))
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}
	if err != nil {
		s.db.Logger().Warn("models: cannot cache weights", "model", m.ID, "err", err)
		return
	}
	if s.cacheMax > 0 {
		if _, err := s.PruneCache(s.cacheMax); err != nil {
			s.db.Logger().Warn("models: cannot prune cache", "err", err)
		}
	}
}

// PruneCache removes the least recently used cached weights until the
// cache holds at most maxBytes, and returns how many files it removed.
// Several processes may share a cache directory: a file removed under
// another's feet is only fetched again.
func (s *Store) PruneCache(maxBytes int64) (int, error) {
	if s.cacheDir == "" {
		return 0, nil
	}
	ents, err := os.ReadDir(s.cacheDir)
	if err != nil {
		return 0, fmt.Errorf("models: prune cache: %w", err)
	}
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".bin") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		files = append(files, file{filepath.Join(s.cacheDir, e.Name()), info.Size(), info.ModTime()})
		total += info.Size()
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	removed := 0
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("models: prune cache: %w", err)
		}
		total -= f.size
		removed++
	}
	return removed, nil
}

// CacheDir is the local cache directory ("" when caching is off).
func (s *Store) CacheDir() string { return s.cacheDir }
