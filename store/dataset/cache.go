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
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The local cache keeps one directory per view (project, collection, query,
// shard). A directory holds an index (index.json) and data files of records.
// The index names its data files and the collection counter it was filled
// at; it is written last, by rename, so a crash mid-fill leaves the previous
// cache (or none), never a torn one. A cache is used as is while the counter
// is unchanged and settled. When only new samples arrived (seq grew, no
// deletion, nothing in flight), the next read fetches just the samples after
// the cached sequence range into a new data file (a segment); a deletion, or
// too many segments, makes it refill from scratch.

// cacheVersion is the format of index.json and its records; a cache of
// another version is refilled. 2: records keep the sample's target.
const cacheVersion = 2

// maxSegments bounds the data files of one cache before a full refill.
const maxSegments = 8

type cacheEntry struct {
	F   int    `json:"f"` // index in cacheIndex.Files
	Key string `json:"k"`
	Seq int64  `json:"s"`
	Off int64  `json:"o"`
	Len int64  `json:"n"`
}

type cacheIndex struct {
	Version int          `json:"version"`
	Counter Counter      `json:"counter"`
	Files   []string     `json:"files"`
	Filled  time.Time    `json:"filled"`
	Entries []cacheEntry `json:"entries"`

	files []*os.File // Files, opened by loadCache
}

// close closes the data files loadCache opened.
func (idx *cacheIndex) close() {
	for _, f := range idx.files {
		f.Close()
	}
	idx.files = nil
}

// loadCache returns the cache index in dir with its data files open, or nil
// when there is none or it cannot be used (which only costs a refill). The
// files are opened at once, under the fill lock, because a later fill's
// commit removes the data files its index no longer names: an open file
// stays readable (POSIX), a name does not. The caller closes idx.
func (c *Collection) loadCache(dir string) *cacheIndex {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("dataset: cache index unreadable; refilling", "dir", dir, "err", err)
		}
		return nil
	}
	var idx cacheIndex
	if err := json.Unmarshal(b, &idx); err != nil || idx.Version != cacheVersion || len(idx.Files) == 0 {
		c.log.Warn("dataset: cache index invalid; refilling", "dir", dir, "err", err)
		return nil
	}
	sizes := make([]int64, len(idx.Files))
	for i, name := range idx.Files {
		f, err := os.Open(filepath.Join(dir, name))
		var st fs.FileInfo
		if err == nil {
			idx.files = append(idx.files, f)
			st, err = f.Stat()
		}
		if err != nil {
			idx.close()
			c.log.Warn("dataset: cache data missing; refilling", "dir", dir, "err", err)
			return nil
		}
		sizes[i] = st.Size()
	}
	for _, e := range idx.Entries {
		if e.F < 0 || e.F >= len(sizes) || e.Off < 0 || e.Len < 0 || e.Off+e.Len > sizes[e.F] {
			idx.close()
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
	base    *cacheIndex     // the cache being extended, or nil for a full fill
	have    map[string]bool // keys in base
}

// newCacheWriter starts a data file for a full fill (base nil) or for an
// extension of base with newer samples.
func (c *Collection) newCacheWriter(dir string, k Counter, base *cacheIndex) (*cacheWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dataset: cache dir: %w", err)
	}
	// Written as .part and renamed at commit: another fill's clean-up of
	// data-*.bin never removes a file still being written.
	c.fills.Add(1)
	name := fmt.Sprintf("data-%d.bin", time.Now().UnixNano())
	f, err := os.Create(filepath.Join(dir, name+".part"))
	if err != nil {
		return nil, fmt.Errorf("dataset: cache file: %w", err)
	}
	w := &cacheWriter{c: c, dir: dir, name: name, f: f, w: bufio.NewWriterSize(f, 1<<20), counter: k, base: base}
	if base != nil {
		w.have = make(map[string]bool, len(base.Entries))
		for _, e := range base.Entries {
			w.have[e.Key] = true
		}
	}
	return w, nil
}

func (w *cacheWriter) add(s *Sample) error {
	if w.have[s.Key] {
		return nil // inserted while the previous fill ran; cached already
	}
	rec, err := w.c.encodeRecord(s)
	if err != nil {
		return err
	}
	if _, err := w.w.Write(rec); err != nil {
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	fi := 0
	if w.base != nil {
		fi = len(w.base.Files)
	}
	w.entries = append(w.entries, cacheEntry{F: fi, Key: s.Key, Seq: s.Seq, Off: w.off, Len: int64(len(rec))})
	w.off += int64(len(rec))
	return nil
}

// commit makes the new data file the cache and removes older ones. The
// caller holds the fill lock: loadCache opens the files an index names under
// it, so the clean-up never removes a file between the two.
func (w *cacheWriter) commit() error {
	if err := w.w.Flush(); err != nil {
		w.abort()
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.abort()
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	if err := os.Rename(filepath.Join(w.dir, w.name+".part"), filepath.Join(w.dir, w.name)); err != nil {
		w.abort()
		return fmt.Errorf("dataset: write cache: %w", err)
	}
	idx := cacheIndex{Version: cacheVersion, Counter: w.counter, Files: []string{w.name}, Filled: time.Now().UTC(), Entries: w.entries}
	if w.base != nil {
		idx.Files = append(append([]string{}, w.base.Files...), w.name)
		idx.Entries = append(append([]cacheEntry{}, w.base.Entries...), w.entries...)
	}
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
	// Unreferenced data files are garbage now. A reader that still has one
	// open keeps reading it (POSIX); Windows refuses and we retry next time.
	old, _ := filepath.Glob(filepath.Join(w.dir, "data-*.bin"))
	for _, p := range old {
		if !slices.Contains(idx.Files, filepath.Base(p)) {
			os.Remove(p)
		}
	}
	return nil
}

func (w *cacheWriter) abort() {
	w.f.Close()
	os.Remove(filepath.Join(w.dir, w.name+".part"))
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
	if s.Target != nil {
		d = append(d, bson.E{Key: fTarget, Value: targetDoc(s.Target)})
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
		// Records are written by EncodeAll, which writes the content size in
		// the frame header unless it is under 256 bytes: decompression stops
		// there (the decoder's cap limit).
		var h zstd.Header
		if err := h.Decode(b); err != nil {
			return Sample{}, fmt.Errorf("dataset: cache record: zstd header: %w: %w", ErrCorrupt, err)
		}
		size := uint64(255)
		if h.HasFCS {
			size = h.FrameContentSize
		}
		if size > uint64(len(b))*maxZstdRatio {
			return Sample{}, fmt.Errorf("dataset: cache record: zstd frame of %d bytes claims %d: %w", len(b), size, ErrCorrupt)
		}
		var err error
		if b, err = c.dec.DecodeAll(b, make([]byte, 0, size)); err != nil {
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
