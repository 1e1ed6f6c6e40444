package dataset

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"math/rand/v2"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Defaults for ReadOptions.
const (
	DefaultBatchSize     = 64
	DefaultPrefetch      = 2
	DefaultShuffleBuffer = 4096
	// replyBudget bounds the bytes of one server reply: FerretDB v1 counts
	// reply batches in documents, so many big documents overflow its wire
	// limit unless the driver asks for few at a time.
	replyBudget    = 8 << 20
	maxDriverBatch = 1000
)

// ReadOptions say how to read a dataset. The zero value reads everything
// once, in server order, in batches of DefaultBatchSize.
type ReadOptions struct {
	// BatchSize is the number of samples per batch; default DefaultBatchSize.
	BatchSize int
	// Prefetch is how many batches are read ahead, in a goroutine, while the
	// caller trains on the current one; default DefaultPrefetch.
	Prefetch int

	// Shard and Shards partition the dataset: with Shards > 1, only samples
	// with KeyHash(key) % Shards == Shard are read. n workers reading shards
	// 0..n-1 split a dataset exactly, without coordination.
	Shard, Shards int

	// Shuffle reads in a random order drawn from Seed (use a different Seed
	// per epoch). From the local cache the permutation is exact; from the
	// server it is a shuffle buffer of ShuffleBuffer samples (default
	// DefaultShuffleBuffer), since a full shuffle would need every sample in
	// memory.
	Shuffle       bool
	Seed          uint64
	ShuffleBuffer int

	// Fraction, in (0, 1), keeps a deterministic pseudo-random subset of
	// about that fraction of the samples, drawn from Seed and the keys.
	Fraction float64
	// Limit stops after that many samples (0: no limit).
	Limit int

	// Cache reads through the local on-disk cache (Options.CacheDir): a
	// complete pass fills it, and later passes read from disk while the
	// collection's counter is unchanged (no new, deleted or in-flight
	// samples), touching the server only to read the counter.
	Cache bool

	// DriverBatch is the number of documents per server reply; default
	// adapts to the document sizes seen, within an 8 MiB budget.
	DriverBatch int
}

func (o ReadOptions) normalized() (ReadOptions, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Prefetch <= 0 {
		o.Prefetch = DefaultPrefetch
	}
	if o.ShuffleBuffer <= 0 {
		o.ShuffleBuffer = DefaultShuffleBuffer
	}
	if o.Shards <= 1 {
		o.Shard, o.Shards = 0, 1
	}
	if o.Shard < 0 || o.Shard >= o.Shards {
		return o, fmt.Errorf("dataset: shard %d of %d: expected 0 <= shard < shards", o.Shard, o.Shards)
	}
	if o.Fraction < 0 || o.Fraction > 1 {
		return o, fmt.Errorf("dataset: fraction %v: expected a value in [0, 1]", o.Fraction)
	}
	if o.Limit < 0 {
		return o, fmt.Errorf("dataset: limit %d: expected >= 0", o.Limit)
	}
	return o, nil
}

// keep reports whether the sampling fraction keeps key.
func (o *ReadOptions) keep(key string) bool {
	if o.Fraction == 0 || o.Fraction == 1 {
		return true
	}
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], o.Seed)
	h.Write(b[:])
	h.Write([]byte(key))
	return float64(mix64(h.Sum64())>>11)/(1<<53) < o.Fraction
}

// errStop ends a pass early without an error (limit reached, consumer gone).
var errStop = errors.New("stop")

// Samples reads the dataset sample by sample. See Batches.
func (d *Dataset) Samples(ctx context.Context, o ReadOptions) iter.Seq2[Sample, error] {
	return func(yield func(Sample, error) bool) {
		for b, err := range d.Batches(ctx, o) {
			if err != nil {
				yield(Sample{}, err)
				return
			}
			for _, s := range b {
				if !yield(s, nil) {
					return
				}
			}
		}
	}
}

// Batches reads the dataset in batches of o.BatchSize samples, fetching
// ahead in a goroutine while the caller works on the current batch. The
// iteration ends at the first error (a corrupt document, a missing blob, a
// server gone, ctx done), which is yielded with a nil batch; breaking out of
// the loop stops the goroutine. Batches never modify stored data.
func (d *Dataset) Batches(ctx context.Context, o ReadOptions) iter.Seq2[[]Sample, error] {
	return func(yield func([]Sample, error) bool) {
		o, err := o.normalized()
		if err != nil {
			yield(nil, err)
			return
		}
		type item struct {
			b   []Sample
			err error
		}
		pctx, cancel := context.WithCancel(ctx)
		ch := make(chan item, o.Prefetch)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			err := d.produce(pctx, o, func(b []Sample) bool {
				select {
				case ch <- item{b: b}:
					return true
				case <-pctx.Done():
					return false
				}
			})
			if err != nil && !errors.Is(err, errStop) {
				select {
				case ch <- item{err: err}:
				case <-pctx.Done():
				}
			}
		}()
		defer func() { cancel(); wg.Wait() }()
		failed := false
		for it := range ch {
			failed = failed || it.err != nil
			if !yield(it.b, it.err) || it.err != nil {
				return
			}
		}
		if err := ctx.Err(); err != nil && !failed {
			yield(nil, fmt.Errorf("dataset: read %s: %w", d.label(), err))
		}
	}
}

// produce runs one pass and hands batches to emit, which returns false when
// the consumer is gone.
func (d *Dataset) produce(ctx context.Context, o ReadOptions, emit func([]Sample) bool) error {
	batch := make([]Sample, 0, o.BatchSize)
	n := 0
	sink := func(s Sample) error {
		if o.Limit > 0 && n >= o.Limit {
			return errStop
		}
		n++
		batch = append(batch, s)
		if len(batch) == o.BatchSize {
			if !emit(batch) {
				return errStop
			}
			batch = make([]Sample, 0, o.BatchSize)
		}
		return nil
	}
	flush := func() error {
		if len(batch) > 0 && !emit(batch) {
			return errStop
		}
		return nil
	}

	err := d.pass(ctx, o, sink)
	if errors.Is(err, errStop) && o.Limit > 0 && n >= o.Limit {
		err = nil // the limit ends the pass; what was read still goes out
	}
	if err != nil {
		return err
	}
	return flush()
}

// pass reads the samples, from the cache or the server, into sink.
func (d *Dataset) pass(ctx context.Context, o ReadOptions, sink func(Sample) error) error {
	var dir string
	if o.Cache && d.c.opts.CacheDir != "" {
		dir = d.cacheDir(o.Shard, o.Shards)
	}
	uncached := func() error {
		add, drain := d.shuffler(o, sink)
		if err := d.fromServer(ctx, o, 0, nil, add); err != nil {
			return err
		}
		if err := drain(); err != nil {
			return err
		}
		return nil
	}
	if dir == "" {
		return uncached()
	}

	// One fill at a time per cache: a reader that waited finds it filled.
	unlock, err := lockFill(ctx, dir)
	if err != nil {
		return fmt.Errorf("dataset: read %s: %w", d.label(), err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	k, err := d.c.Counter(ctx)
	if err != nil {
		return fmt.Errorf("dataset: read %s: %w", d.label(), err)
	}
	var loaded []*cacheIndex // each with its data files open
	defer func() {
		for _, idx := range loaded {
			idx.close()
		}
	}()
	load := func() *cacheIndex {
		idx := d.c.loadCache(dir)
		if idx != nil {
			loaded = append(loaded, idx)
		}
		return idx
	}
	idx := load()
	if idx != nil && k.Settled() && idx.Counter == k {
		unlock()
		locked = false
		return d.fromCache(ctx, o, dir, idx, sink)
	}
	if idx != nil && k.Settled() && idx.Counter.Settled() && idx.Counter.Gen == k.Gen &&
		k.Seq > idx.Counter.Seq && len(idx.Files) < maxSegments {
		// Only new samples: fetch the sequence range after the cached one.
		w, err := d.c.newCacheWriter(dir, k, idx)
		if err == nil {
			if err := d.fromServer(ctx, o, idx.Counter.Seq, w, func(Sample) error { return nil }); err != nil {
				w.abort()
				return err
			}
			if err := w.commit(); err != nil {
				return err
			}
			if idx = load(); idx != nil {
				unlock()
				locked = false
				return d.fromCache(ctx, o, dir, idx, sink)
			}
		}
		d.c.log.Warn("dataset: cache extension failed; refilling", "dir", dir, "err", err)
	}
	// A cold pass: read the server, fill a new cache, then serve the caller.
	// With Shuffle the caller gets an exact permutation from the new cache
	// instead of a shuffle buffer, at the cost of waiting for the fill.
	w, err := d.c.newCacheWriter(dir, k, nil)
	if err != nil {
		d.c.log.Warn("dataset: cache disabled for this read", "err", err)
		return uncached()
	}
	if o.Shuffle {
		if err := d.fromServer(ctx, o, 0, w, func(Sample) error { return nil }); err != nil {
			w.abort()
			return err
		}
		if err := w.commit(); err != nil {
			return err
		}
		idx = load()
		if idx == nil {
			return fmt.Errorf("dataset: read %s: cache %s unreadable right after filling it", d.label(), dir)
		}
		unlock()
		locked = false
		if err := d.fromCache(ctx, o, dir, idx, sink); err != nil {
			return err
		}
		return nil
	}
	// Unshuffled, the fill streams to the caller as it reads: the lock is
	// not held for the caller's time (the data file's name keeps it from
	// another fill's clean-up until it commits). It commits only if it gets
	// the lock at once: a fill that holds it makes a cache too.
	unlock()
	locked = false
	if err := d.fromServer(ctx, o, 0, w, sink); err != nil {
		w.abort()
		return err
	}
	release, ok, err := tryLockFill(dir)
	if err != nil || !ok {
		w.abort()
		d.c.log.Debug("dataset: cache not saved: another fill holds its lock", "dir", dir, "err", err)
		return nil
	}
	defer release()
	if err := w.commit(); err != nil {
		d.c.log.Warn("dataset: cache not saved", "dir", dir, "err", err)
	}
	return nil
}

// shuffler wraps sink in a seeded shuffle buffer when o.Shuffle is set; the
// returned drain must be called after the last sample.
func (d *Dataset) shuffler(o ReadOptions, sink func(Sample) error) (add func(Sample) error, drain func() error) {
	if !o.Shuffle {
		return sink, func() error { return nil }
	}
	b := &bufferShuffle{size: o.ShuffleBuffer, rng: rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15)), sink: sink}
	return b.add, b.drain
}

// bufferShuffle is a shuffle buffer: each incoming sample replaces a random
// buffered one, which goes out. fromServer drains it at the end.
type bufferShuffle struct {
	size int
	rng  *rand.Rand
	buf  []Sample
	sink func(Sample) error
}

func (b *bufferShuffle) add(s Sample) error {
	if len(b.buf) < b.size {
		b.buf = append(b.buf, s)
		return nil
	}
	j := b.rng.IntN(len(b.buf))
	out := b.buf[j]
	b.buf[j] = s
	return b.sink(out)
}

func (b *bufferShuffle) drain() error {
	b.rng.Shuffle(len(b.buf), func(i, j int) { b.buf[i], b.buf[j] = b.buf[j], b.buf[i] })
	for _, s := range b.buf {
		if err := b.sink(s); err != nil {
			return err
		}
	}
	b.buf = nil
	return nil
}

// serverFilter is the view's filter, restricted to the shard.
func (d *Dataset) serverFilter(o ReadOptions) bson.D {
	f := d.Filter()
	if o.Shards > 1 {
		f = append(f, bson.E{Key: fKeyHash, Value: bson.D{{Key: "$mod", Value: bson.A{int64(o.Shards), int64(o.Shard)}}}})
	}
	return f
}

// fromServer streams the view's samples with seq > after from the server.
// Every sample of the shard goes to the cache writer w (if any); those the
// fraction keeps go to sink.
func (d *Dataset) fromServer(ctx context.Context, o ReadOptions, after int64, w *cacheWriter, sink func(Sample) error) error {
	c := d.c
	batch := o.DriverBatch
	adapt := batch <= 0
	if adapt {
		batch = max(1, min(maxDriverBatch, replyBudget/c.opts.BlobThreshold))
	}
	filter := d.serverFilter(o)
	if after > 0 {
		filter = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: fSeq, Value: bson.D{{Key: "$gt", Value: after}}}}}}}
	}
	cur, err := c.coll.Find(ctx, filter, options.Find().SetBatchSize(int32(batch)))
	if err != nil {
		return fmt.Errorf("dataset: read %s: %w", d.label(), err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var biggest int
	for cur.Next(ctx) {
		if adapt {
			if biggest < len(cur.Current) {
				biggest = len(cur.Current)
			}
			if cur.RemainingBatchLength() == 0 {
				// Leave room for documents twice the biggest seen so far.
				cur.SetBatchSize(int32(max(1, min(maxDriverBatch, replyBudget/(2*biggest)))))
			}
		}
		st, err := decodeDoc(c.name, cur.Current)
		if err != nil {
			return fmt.Errorf("dataset: read %s: %w", d.label(), err)
		}
		if o.Shards > 1 && KeyHash(st.Key)%int64(o.Shards) != int64(o.Shard) {
			continue // a server that ignored $mod; cannot happen on MongoDB or FerretDB
		}
		keep := o.keep(st.Key)
		if w == nil && !keep {
			continue // skip fetching a blob nobody wants
		}
		s, err := c.resolve(ctx, st)
		if err != nil {
			return fmt.Errorf("dataset: read %s: %w", d.label(), err)
		}
		if w != nil {
			if err := w.add(&s); err != nil {
				return err
			}
		}
		if keep {
			if err := sink(s); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("dataset: read %s: %w", d.label(), err)
	}
	return nil
}

// fromCache reads the view from a valid local cache.
func (d *Dataset) fromCache(ctx context.Context, o ReadOptions, dir string, idx *cacheIndex, sink func(Sample) error) error {
	files := idx.files
	order := make([]int, 0, len(idx.Entries))
	for i, e := range idx.Entries {
		if o.keep(e.Key) {
			order = append(order, i)
		}
	}
	if o.Shuffle {
		rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	var buf []byte
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dataset: read %s: %w", d.label(), err)
		}
		e := idx.Entries[i]
		if cap(buf) < int(e.Len) {
			buf = make([]byte, e.Len)
		}
		buf = buf[:e.Len]
		if _, err := files[e.F].ReadAt(buf, e.Off); err != nil {
			return fmt.Errorf("dataset: read cache of %s, sample %q: %w", d.label(), e.Key, err)
		}
		s, err := d.c.decodeRecord(buf)
		if err != nil {
			return fmt.Errorf("dataset: read cache of %s, sample %q (remove %s to refill): %w", d.label(), e.Key, dir, err)
		}
		if err := sink(s); err != nil {
			return err
		}
	}
	return nil
}
