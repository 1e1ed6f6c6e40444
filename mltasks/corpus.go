package mltasks

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store/dataset"
)

// A token corpus in the store, as 'tl import ptb' and 'tl import text8' write
// it (cmd/tl/import_text.go): windows of consecutive word ids, int32 tensors
// (n,), with the fields offset (of the window's first word in its split),
// split and vocab (the key of the vocabulary sample); the vocabulary sample
// holds "word\tcount\n" by id and the field unk.
//
// A view of windows is opened from an index the server computes without
// reading a payload (each window's offset, length and insertion sequence).
// The language model streams it (tokenStream, one cursor per batch row);
// word2vec reads it whole, 4 bytes a word (text8, 17M words, is 68 MB), since
// its pairs are drawn from all over the text.

// corpusView is a view of windows of a token corpus, and its vocabulary.
type corpusView struct {
	name   string
	coll   *dataset.Collection
	query  dataset.Query
	wins   []window // in text order, contiguous
	words  int
	Vocab  []string // by id
	Counts []int    // by id
	Unk    int      // the unknown-word id, or -1
	// VocabKey is the vocabulary sample's key: two views with the same one
	// give their ids the same meaning.
	VocabKey string
}

// window is a stored window of the view.
type window struct {
	Key    string
	Offset int
	Len    int
	Seq    int64
}

// ID returns a word's id, or -1.
func (c *corpusView) ID(word string) int { return slices.Index(c.Vocab, word) }

// openCorpus opens dataset name as a corpus view: the windows' index from the
// server and the vocabulary. A missing dataset, a sample that is not a window
// of a corpus, windows of two vocabularies or a gap in the text fail
// permanently, naming the sample.
func openCorpus(ctx context.Context, coll *dataset.Collection, name string) (*corpusView, error) {
	ds, err := coll.Dataset(ctx, name)
	if errors.Is(err, dataset.ErrNotFound) {
		have, _ := coll.Datasets(ctx)
		return nil, task.Permanent(fmt.Errorf("dataset %q not found in project %q (the datasets there: %s; tl import ptb|text8 DIR --define NAME makes NAME-train, ...): %w",
			name, coll.Project(), strings.Join(have, ", "), err))
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	c := &corpusView{name: name, coll: coll, query: ds.Query()}
	// The index: no payload is read. The vocabulary, in a view of a whole
	// --prefix, is not a window.
	filter := bson.D{{Key: "$and", Value: bson.A{ds.Filter(), bson.D{{Key: "tags", Value: bson.D{{Key: "$ne", Value: "vocab"}}}}}}}
	cur, err := coll.Mongo().Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0},
		{Key: "key", Value: 1}, {Key: "seq", Value: 1}, {Key: "kind", Value: 1}, {Key: "shape", Value: 1},
		{Key: "fields.offset", Value: 1}, {Key: "fields.vocab", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("dataset %q: index of its windows: %w", name, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d struct {
			Key    string  `bson:"key"`
			Seq    int64   `bson:"seq"`
			Kind   string  `bson:"kind"`
			Shape  []int64 `bson:"shape"`
			Fields struct {
				Offset any    `bson:"offset"`
				Vocab  string `bson:"vocab"`
			} `bson:"fields"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("dataset %q: index of its windows: %w", name, err)
		}
		off, ok := intField(d.Fields.Offset)
		if d.Kind != "int32" || len(d.Shape) != 1 || !ok || d.Fields.Vocab == "" {
			return nil, task.Permanent(fmt.Errorf("dataset %q sample %q is not a window of a token corpus (want an int32 tensor (n,) with the fields offset and vocab, as tl import ptb|text8 stores them; it is %s %v)", name, d.Key, d.Kind, d.Shape))
		}
		if c.VocabKey == "" {
			c.VocabKey = d.Fields.Vocab
		} else if d.Fields.Vocab != c.VocabKey {
			return nil, task.Permanent(fmt.Errorf("dataset %q mixes two corpora: sample %q has vocabulary %q, others %q (give the view one --prefix)", name, d.Key, d.Fields.Vocab, c.VocabKey))
		}
		c.wins = append(c.wins, window{Key: d.Key, Offset: off, Len: int(d.Shape[0]), Seq: d.Seq})
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("dataset %q: index of its windows: %w", name, err)
	}
	if len(c.wins) == 0 {
		return nil, task.Permanent(fmt.Errorf("dataset %q has no samples", name))
	}
	slices.SortFunc(c.wins, func(a, b window) int { return a.Offset - b.Offset })
	for _, w := range c.wins {
		if w.Offset != c.words {
			return nil, task.Permanent(fmt.Errorf("dataset %q: sample %q starts at word %d, the windows before it end at %d (a window missing, or two splits in one view)", name, w.Key, w.Offset, c.words))
		}
		c.words += w.Len
	}
	if err := c.readVocab(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *corpusView) readVocab(ctx context.Context) error {
	v, err := c.coll.Get(ctx, c.VocabKey)
	if errors.Is(err, dataset.ErrNotFound) {
		return task.Permanent(fmt.Errorf("dataset %q: its vocabulary %q is not in the store (rerun the import)", c.name, c.VocabKey))
	}
	if err != nil {
		return fmt.Errorf("dataset %q: vocabulary: %w", c.name, err)
	}
	c.Unk = -1
	if u, ok := intField(v.Fields["unk"]); ok {
		c.Unk = u
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(v.Bytes), "\n"), "\n") {
		word, count, ok := strings.Cut(line, "\t")
		n, err := strconv.Atoi(count)
		if !ok || err != nil || word == "" {
			return task.Permanent(fmt.Errorf("vocabulary %q line %d: %q, want \"word<TAB>count\"", c.VocabKey, i+1, line))
		}
		c.Vocab, c.Counts = append(c.Vocab, word), append(c.Counts, n)
	}
	return nil
}

// windowStart is the offset of the window that holds word at.
func (c *corpusView) windowStart(at int) int {
	i, found := slices.BinarySearchFunc(c.wins, at, func(w window, off int) int { return w.Offset - off })
	if !found {
		i--
	}
	return c.wins[i].Offset
}

// Words is the number of words of the view.
func (c *corpusView) Words() int { return c.words }

// checkIDs reports an id outside the vocabulary, naming the window.
func (c *corpusView) checkIDs(key string, ids []int32) error {
	for i, id := range ids {
		if id < 0 || int(id) >= len(c.Vocab) {
			return task.Permanent(fmt.Errorf("dataset %q sample %q: word %d has id %d, outside the vocabulary %q of %d words", c.name, key, i, id, c.VocabKey, len(c.Vocab)))
		}
	}
	return nil
}

// IDs reads the first limit words of the view (0: all) in text order.
func (c *corpusView) IDs(ctx context.Context, limit int) ([]int32, error) {
	n := c.words
	if limit > 0 {
		n = min(n, limit)
	}
	ids := make([]int32, 0, n)
	r := c.reader(ctx, 0, n)
	defer r.close()
	for len(ids) < n {
		w, err := r.next()
		if err != nil {
			return nil, err
		}
		ids = append(ids, w[:min(len(w), n-len(ids))]...)
	}
	return ids, nil
}

// windowReader reads the windows that cover words [from, to) of a view, in
// text order, through one cursor on the store.
type windowReader struct {
	c       *corpusView
	wins    []window
	pull    func() (dataset.Sample, error, bool)
	stop    func()
	pending map[string][]int32 // windows of the range read before their turn
}

// reader opens a cursor on the windows covering words [from, to). When the
// windows' insertion order is their text order (an import does that) the
// cursor reads just those, by sequence range; otherwise it reads the view
// and skips the others.
func (c *corpusView) reader(ctx context.Context, from, to int) *windowReader {
	i0, _ := slices.BinarySearchFunc(c.wins, from, func(w window, off int) int {
		if w.Offset+w.Len <= off {
			return -1
		}
		if w.Offset > off {
			return 1
		}
		return 0
	})
	i1 := i0
	for i1 < len(c.wins) && c.wins[i1].Offset < to {
		i1++
	}
	r := &windowReader{c: c, wins: c.wins[i0:i1]}
	q := c.query
	if len(r.wins) > 0 && slices.IsSortedFunc(r.wins, func(a, b window) int { return int(a.Seq - b.Seq) }) {
		q.MinSeq, q.MaxSeq = max(q.MinSeq, r.wins[0].Seq), r.wins[len(r.wins)-1].Seq
		if c.query.MaxSeq > 0 {
			q.MaxSeq = min(q.MaxSeq, c.query.MaxSeq)
		}
	}
	// Through the disk cache, when the collection has one: from the second
	// epoch on, a row reads its windows from disk.
	r.pull, r.stop = iter.Pull2(c.coll.View(q).Samples(ctx, dataset.ReadOptions{BatchSize: 4, Prefetch: 1, Cache: true}))
	return r
}

// next returns the ids of the next window.
func (r *windowReader) next() ([]int32, error) {
	if len(r.wins) == 0 {
		return nil, fmt.Errorf("dataset %q: read past its last window", r.c.name)
	}
	want := r.wins[0]
	r.wins = r.wins[1:]
	if ids, ok := r.pending[want.Key]; ok {
		delete(r.pending, want.Key)
		return ids, nil
	}
	for {
		s, err, ok := r.pull()
		if err != nil {
			return nil, fmt.Errorf("reading dataset %q: %w", r.c.name, err)
		}
		if !ok {
			return nil, fmt.Errorf("dataset %q: window %q (words %d to %d) is gone since the task started", r.c.name, want.Key, want.Offset, want.Offset+want.Len)
		}
		wl := want.Len
		if s.Key != want.Key {
			i := slices.IndexFunc(r.wins, func(w window) bool { return w.Key == s.Key })
			if i < 0 {
				continue // a window of the view outside this range
			}
			wl = r.wins[i].Len
		}
		if s.Tensor == nil || len(s.Tensor.Int32) != wl {
			return nil, task.Permanent(fmt.Errorf("dataset %q sample %q changed since the task started: want %d int32 ids", r.c.name, s.Key, wl))
		}
		if err := r.c.checkIDs(s.Key, s.Tensor.Int32); err != nil {
			return nil, err
		}
		if s.Key == want.Key {
			return s.Tensor.Int32, nil
		}
		// Read before its turn (the server's order is not the text's).
		if r.pending == nil {
			r.pending = map[string][]int32{}
		}
		r.pending[s.Key] = s.Tensor.Int32
	}
}

// close ends the cursor. One that read every window of its range reads on to
// the end of the range (nothing more, when the range is by sequence), so that
// the pass is complete and the cache keeps it.
func (r *windowReader) close() {
	if len(r.wins) == 0 {
		for {
			if _, err, ok := r.pull(); !ok || err != nil {
				break
			}
		}
	}
	r.stop()
}

// intField reads an integer field as the driver decodes it.
func intField(v any) (int, bool) {
	switch n := v.(type) {
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case int:
		return n, true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	}
	return 0, false
}
