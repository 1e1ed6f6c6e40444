package mltasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tlgo/tl/agents/task"
	"github.com/tlgo/tl/store"
	"github.com/tlgo/tl/store/dataset"
)

// A token corpus in the store, as 'tl import ptb' and 'tl import text8' write
// it (cmd/tl/import_text.go): windows of consecutive word ids, int32 tensors
// (n,), with the fields offset (of the window's first word in its split),
// split and vocab (the key of the vocabulary sample); the vocabulary sample
// holds "word\tcount\n" by id and the field unk. The language-model and
// word2vec kinds read a view of windows back whole, in text order: a corpus
// is 4 bytes a word (text8, 17M words, is 68 MB), and the ptb_producer order
// needs batch rows that start far apart in the text.

// corpus is a split of a token corpus and its vocabulary.
type corpus struct {
	IDs      []int32
	Vocab    []string // by id
	Counts   []int    // by id
	Unk      int      // the unknown-word id, or -1
	VocabKey string
}

// ID returns a word's id, or -1.
func (c *corpus) ID(word string) int {
	return slices.Index(c.Vocab, word)
}

// readCorpus reads the windows of dataset name in order and their
// vocabulary. A missing dataset, a sample that is not a window of a corpus,
// windows of two vocabularies or a gap in the text fail permanently, naming
// the sample.
func readCorpus(ctx context.Context, db *store.DB, name string) (*corpus, error) {
	coll, err := dataset.FromStore(ctx, db, dataset.Options{})
	if err != nil {
		return nil, err
	}
	ds, err := coll.Dataset(ctx, name)
	if errors.Is(err, dataset.ErrNotFound) {
		have, _ := coll.Datasets(ctx)
		return nil, task.Permanent(fmt.Errorf("dataset %q not found in project %q (the datasets there: %s; tl import ptb|text8 DIR --define NAME makes NAME-train, ...): %w",
			name, db.Project(), strings.Join(have, ", "), err))
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", name, err)
	}
	type window struct {
		key    string
		offset int
		ids    []int32
	}
	var ws []window
	vocabKey := ""
	for s, err := range ds.Samples(ctx, dataset.ReadOptions{}) {
		if err != nil {
			return nil, fmt.Errorf("reading dataset %q: %w", name, err)
		}
		if s.Tensor == nil && slices.Contains(s.Tags, "vocab") {
			continue // the vocabulary, in a view of a whole --prefix
		}
		off, ok := intField(s.Fields["offset"])
		vk, _ := s.Fields["vocab"].(string)
		if s.Tensor == nil || s.Tensor.Int32 == nil || len(s.Tensor.Shape) != 1 || !ok || vk == "" {
			return nil, task.Permanent(fmt.Errorf("dataset %q sample %q is not a window of a token corpus (want an int32 tensor (n,) with the fields offset and vocab, as tl import ptb|text8 stores them)", name, s.Key))
		}
		if vocabKey == "" {
			vocabKey = vk
		} else if vk != vocabKey {
			return nil, task.Permanent(fmt.Errorf("dataset %q mixes two corpora: sample %q has vocabulary %q, others %q (give the view one --prefix)", name, s.Key, vk, vocabKey))
		}
		ws = append(ws, window{s.Key, off, s.Tensor.Int32})
	}
	if len(ws) == 0 {
		return nil, task.Permanent(fmt.Errorf("dataset %q has no samples", name))
	}
	slices.SortFunc(ws, func(a, b window) int { return a.offset - b.offset })
	c := &corpus{VocabKey: vocabKey}
	for _, w := range ws {
		if w.offset != len(c.IDs) {
			return nil, task.Permanent(fmt.Errorf("dataset %q: sample %q starts at word %d, the windows before it end at %d (a window missing, or two splits in one view)", name, w.key, w.offset, len(c.IDs)))
		}
		c.IDs = append(c.IDs, w.ids...)
	}
	v, err := coll.Get(ctx, vocabKey)
	if errors.Is(err, dataset.ErrNotFound) {
		return nil, task.Permanent(fmt.Errorf("dataset %q: its vocabulary %q is not in the store (rerun the import)", name, vocabKey))
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %q: vocabulary: %w", name, err)
	}
	c.Unk = -1
	if u, ok := intField(v.Fields["unk"]); ok {
		c.Unk = u
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(v.Bytes), "\n"), "\n") {
		word, count, ok := strings.Cut(line, "\t")
		n, err := strconv.Atoi(count)
		if !ok || err != nil || word == "" {
			return nil, task.Permanent(fmt.Errorf("vocabulary %q line %d: %q, want \"word<TAB>count\"", vocabKey, i+1, line))
		}
		c.Vocab, c.Counts = append(c.Vocab, word), append(c.Counts, n)
	}
	for i, id := range c.IDs {
		if id < 0 || int(id) >= len(c.Vocab) {
			return nil, task.Permanent(fmt.Errorf("dataset %q: word %d has id %d, outside the vocabulary %q of %d words", name, i, id, vocabKey, len(c.Vocab)))
		}
	}
	return c, nil
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
