package ui

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/models"
)

// The models page without a scan of the versions: FerretDB over SQLite
// answers any query on the models collection but a lookup by _id by reading
// and parsing every version (0.2-1 s for 1,000 versions on a loaded laptop).
// The page reads each name's version counter (one small document per name),
// looks the latest version up by _id, and takes the number of versions from
// a count made in the background and kept while the counters do not move.

// maxLookupNames bounds the names read by lookups: beyond, one scan is
// cheaper than a lookup per name.
const maxLookupNames = 64

// countsMaxAge is how long a count of the versions is trusted when no
// counter moved (a deleted version moves none).
const countsMaxAge = time.Minute

// modelCounts is the number of versions of each model, counted in the
// background by one scan of the versions' names.
type modelCounts struct {
	mu      sync.Mutex
	counts  map[string]int // by model name
	seqs    map[string]int64
	at      time.Time // of the last count
	filling bool
}

// get returns the counts of the names whose counter is where it was when
// they were counted; when some differ or the count is old, it starts a new
// count in the background.
func (c *modelCounts) get(db *store.DB, seqs map[string]int64) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	stale := time.Since(c.at) > countsMaxAge
	for name, seq := range seqs {
		if n, ok := c.counts[name]; ok && c.seqs[name] == seq {
			out[name] = n
		} else {
			stale = true
		}
	}
	if stale && !c.filling {
		c.filling = true
		go c.fill(db, maps.Clone(seqs))
	}
	return out
}

func (c *modelCounts) fill(db *store.DB, seqs map[string]int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts, err := countVersions(ctx, db)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.filling = false
	if err != nil {
		db.Logger().Warn("ui: count the model versions", "err", err)
		return
	}
	c.counts, c.seqs, c.at = counts, seqs, time.Now()
}

// countVersions counts each model's versions: one scan, names only.
func countVersions(ctx context.Context, db *store.DB) (map[string]int, error) {
	ctx, cancel := store.Detach(ctx)
	defer cancel()
	cur, err := db.Collection(models.ModelsCollection).Find(ctx, db.Scope(nil),
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "name", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("count the versions of project %q: %w", db.Project(), err)
	}
	defer cur.Close(ctx)
	out := map[string]int{}
	for cur.Next(ctx) {
		if name, ok := cur.Current.Lookup("name").StringValueOK(); ok {
			out[name]++
		}
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("count the versions of project %q: %w", db.Project(), err)
	}
	return out, nil
}

// modelCounters reads each model name's version counter: the number of its
// latest version (or of a save in flight).
func modelCounters(ctx context.Context, db *store.DB) (map[string]int64, error) {
	cur, err := db.Collection(models.CountersCollection).Find(ctx, db.Scope(nil))
	if err != nil {
		return nil, fmt.Errorf("read the model counters of project %q: %w", db.Project(), err)
	}
	var docs []struct {
		Name string `bson:"name"`
		Seq  int64  `bson:"seq"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read the model counters of project %q: %w", db.Project(), err)
	}
	out := map[string]int64{}
	for _, d := range docs {
		if d.Name != "" {
			out[d.Name] = d.Seq
		}
	}
	return out, nil
}

// latestVersion finds a model's latest version by lookups by _id from its
// counter down (the counter is ahead of the versions while a save is in
// flight, and a deleted version leaves a gap); after a few misses it asks
// models.Store, which scans.
func latestVersion(ctx context.Context, ms *models.Store, name string, seq int64) (*models.Model, error) {
	for v := seq; v >= 1 && v > seq-8; v-- {
		m, err := ms.Get(ctx, models.Ref{Name: name, Version: v})
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, models.ErrNotFound) {
			return nil, fmt.Errorf("read %s v%d: %w", name, v, err)
		}
	}
	m, err := ms.Get(ctx, models.Ref{Name: name})
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil // every version deleted
	}
	if err != nil {
		return nil, fmt.Errorf("read the latest version of %s: %w", name, err)
	}
	return m, nil
}

// listModelsFast is listModels by counters and lookups by _id; ok is false
// when the project has too many names for it to be faster.
func (s *Server) listModelsFast(ctx context.Context, c conns) ([]modelRow, bool, error) {
	dctx, cancel := store.Detach(ctx)
	defer cancel()
	seqs, err := modelCounters(dctx, c.db)
	if err != nil {
		return nil, false, err
	}
	if len(seqs) > maxLookupNames {
		return nil, false, nil
	}
	as, err := allAliases(dctx, c.db)
	if err != nil {
		return nil, false, err
	}
	counts := s.counts.get(c.db, seqs)
	rows := make([]modelRow, 0, len(seqs))
	for _, name := range slices.Sorted(maps.Keys(seqs)) {
		m, err := latestVersion(dctx, c.ms, name, seqs[name])
		if err != nil {
			return nil, false, err
		}
		if m == nil {
			continue
		}
		r := modelRow{Name: name, Latest: m.Version, Created: m.Created, Size: m.Weights.Size,
			Metrics: sortedMetrics(m.Metrics), Aliases: sortedAliases(as[name])}
		if n, ok := counts[name]; ok {
			r.Versions = n
		} else {
			r.Versions, r.Approx = int(m.Version), true
		}
		rows = append(rows, r)
	}
	return rows, true, nil
}

// models is the models page's rows: by lookups when the project has few
// names, else by one scan.
func (s *Server) models(ctx context.Context, c conns) ([]modelRow, error) {
	rows, ok, err := s.listModelsFast(ctx, c)
	if err != nil || ok {
		return rows, err
	}
	return listModels(ctx, c.db)
}
