package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The local cache keeps one directory per view (project, collection, query,
// shard). A directory holds an index (index.json) and one data file of
// records. The index names its data file and the collection counter it was
// filled at; it is written last, by rename, so a crash mid-fill leaves the
// previous cache (or none), never a torn one. A cache is used only while the
// counter is unchanged and settled: a new sample, a deletion or an insert in
// flight makes the next read go to the server and refill it.

const cacheVersion = 1

type cacheEntry struct {
	Key string `json:"k"`
	Seq int64  `json:"s"`
	Off int64  `json:"o"`
	Len int64  `json:"n"`
}

type cacheIndex struct {
	Version int          `json:"version"`
	Counter Counter      `json:"counter"`
	Data    string       `json:"data"`
	Filled  time.Time    `json:"filled"`
	Entries []cacheEntry `json:"entries"`
}

// loadCache returns the cache index in dir, or nil when there is none or it
// cannot be used (which only costs a refill).
func (c *Collection) loadCache(dir string) *cacheIndex {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("dataset: cache index unreadable; refilling", "dir", dir, "err", err)
		}
		return nil
	}
	var idx cacheIndex
	if err := json.Unmarshal(b, &idx); err != nil || idx.Version != cacheVersion || idx.Data == "" {
		c.log.Warn("dataset: cache index invalid; refilling", "dir", dir, "err", err)
		return nil
	}
	st, err := os.Stat(filepath.Join(dir, idx.Data))
	if err != nil {
		c.log.Warn("dataset: cache data missing; refilling", "dir", dir, "err", err)
		return nil
	}
	for _, e := range idx.Entries {
		if e.Off < 0 || e.Len < 0 || e.Off+e.Len > st.Size() {
			c.log.Warn("dataset: cache data truncated; refilling", "dir", dir)
			return nil
		}
	}
	return &idx
}

// cacheWriter fills a new cache data file during a pass over the server.
type cacheWriter struct {
	c       *Collection
	dir     string
	name    string
	f       *os.File
	w       *bufio.Writer
	off     int64
	counter Counter
	entries []cacheEntry
}

func (c *Collection) newCacheWriter(dir string, k Counter) (*cacheWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset: cache dir: %w", err)
	}
	name := fmt.Sprintf("data-%d.bin", time.Now().UnixNano())
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("dataset: cache file: %w", err)
	}
	return &cacheWriter{c: c, dir: dir, name: name, f: f, w: bufio.NewWriterSize(f, 1<<20), counter: k}, nil
}

func (w *cacheWriter) add(s *Sample) error {
	rec, err := w.c.encodeRecord(s)
	if err != nil {
		return err
	}
	if _, err := w.w.Write(rec); err != nil {
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	w.entries = append(w.entries, cacheEntry{Key: s.Key, Seq: s.Seq, Off: w.off, Len: int64(len(rec))})
	w.off += int64(len(rec))
	return nil
}

// commit makes the new data file the cache and removes older ones.
func (w *cacheWriter) commit() error {
	if err := w.w.Flush(); err != nil {
		w.abort()
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.abort()
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	idx := cacheIndex{Version: cacheVersion, Counter: w.counter, Data: w.name, Filled: time.Now().UTC(), Entries: w.entries}
	b, err := json.Marshal(idx)
	if err != nil {
		w.abort()
		return fmt.Errorf("dataset: cache index: %w", err)
	}
	tmp := filepath.Join(w.dir, "index.json.tmp-"+strings.TrimSuffix(w.name, ".bin"))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		w.abort()
		return fmt.Errorf("dataset: cache index: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, "index.json")); err != nil {
		os.Remove(tmp)
		w.abort()
		return fmt.Errorf("dataset: cache index: %w", err)
	}
	// Old data files are garbage now. A reader that still has one open keeps
	// reading it (POSIX); Windows refuses and we retry next time.
	old, _ := filepath.Glob(filepath.Join(w.dir, "data-*.bin"))
	for _, p := range old {
		if filepath.Base(p) != w.name {
			os.Remove(p)
		}
	}
	return nil
}

func (w *cacheWriter) abort() {
	w.f.Close()
	os.Remove(filepath.Join(w.dir, w.name))
}

// Record flags.
const (
	recPlain byte = 0
	recZstd  byte = 1
)

// encodeRecord stores a resolved sample as an inline document, zstd
// compressed when the collection compresses.
func (c *Collection) encodeRecord(s *Sample) ([]byte, error) {
	kind, shape, raw := s.payload()
	d := bson.D{
		{Key: fID, Value: docID(s.Project, s.Key)},
		{Key: fKey, Value: s.Key},
		{Key: fProject, Value: s.Project},
		{Key: fSeq, Value: s.Seq},
		{Key: fKind, Value: kind},
		{Key: fSize, Value: int64(len(raw))},
		{Key: fData, Value: bson.Binary{Data: raw}},
		{Key: fLabel, Value: int64(s.Label)},
		{Key: fLabelName, Value: s.LabelName},
		{Key: fTags, Value: append([]string{}, s.Tags...)},
	}
	if shape != nil {
		sh := make([]int64, len(shape))
		for j, v := range shape {
			sh[j] = int64(v)
		}
		d = append(d, bson.E{Key: fShape, Value: sh})
	}
	if len(s.Fields) > 0 {
		d = append(d, bson.E{Key: fFields, Value: s.Fields})
	}
	b, err := bson.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("dataset: encode cache record of %q: %w", s.Key, err)
	}
	if c.opts.Compress && len(raw) >= c.opts.CompressMin {
		return c.enc.EncodeAll(b, []byte{recZstd}), nil
	}
	return append([]byte{recPlain}, b...), nil
}

func (c *Collection) decodeRecord(rec []byte) (Sample, error) {
	if len(rec) == 0 {
		return Sample{}, fmt.Errorf("dataset: empty cache record: %w", ErrCorrupt)
	}
	b := rec[1:]
	switch rec[0] {
	case recPlain:
	case recZstd:
		var err error
		if b, err = c.dec.DecodeAll(b, nil); err != nil {
			return Sample{}, fmt.Errorf("dataset: cache record: zstd: %w: %w", ErrCorrupt, err)
		}
	default:
		return Sample{}, fmt.Errorf("dataset: cache record flag %d: %w", rec[0], ErrCorrupt)
	}
	st, err := decodeDoc("cache of "+c.name, bson.Raw(b))
	if err != nil {
		return Sample{}, err
	}
	return st.finish("cache of "+c.name, st.data)
}

// cacheDir is the directory of one view's cache.
func (d *Dataset) cacheDir(shard, shards int) string {
	return filepath.Join(d.c.opts.CacheDir, d.c.project, d.c.name, d.key(fmt.Sprintf("shard %d/%d", shard, shards)))
}

// Invalidate removes the local cache of the dataset's collection (all
// views and shards), so the next read goes to the server. Reads refill
// the cache by themselves when samples are added or deleted; this is for
// caches made stale behind the library's back.
func (d *Dataset) Invalidate(ctx context.Context) error {
	if d.c.opts.CacheDir == "" {
		return nil
	}
	base := filepath.Join(d.c.opts.CacheDir, d.c.project, d.c.name)
	// Shard layouts are not recorded, so the whole collection's cache goes.
	if err := os.RemoveAll(base); err != nil {
		return fmt.Errorf("dataset: invalidate cache %s: %w", base, err)
	}
	return ctx.Err()
}
