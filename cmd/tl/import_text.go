package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tlgo/tl/formats"
	"github.com/tlgo/tl/store/dataset"
)

// How a token corpus lives in the store (the language-model and word2vec task
// kinds read it back, mltasks/corpus.go):
//
//   - one sample per window of consecutive word ids, key PREFIX SPLIT/NNNNNN
//     (zero-padded, so keys sort in text order), an int32 tensor (n,) with
//     n = --window except in the last window of a split, tags SPLIT and --tags,
//     fields corpus, split, offset (of its first word in the split), window
//     and vocab (the key of the vocabulary sample);
//   - one vocabulary sample, key PREFIX vocab, tag "vocab" (in no split's
//     view), bytes "word\tcount\n" by id, fields corpus, words, unk (the
//     unknown-word id, or -1), window and vocab_hash.
//
// Ids mean the same words wherever a window is read: the windows name their
// vocabulary, and a rerun that would pair other windows with it fails.
const (
	tokenVocabKey = "vocab"
	tokenVocabTag = "vocab"
)

const tokenAbout = `Stores a token corpus as samples: each split's word ids in windows of
--window consecutive ids (int32 tensors keyed PREFIX SPLIT/000000,
PREFIX SPLIT/000001, ... in text order, tagged SPLIT and --tags, with the
fields corpus, split, offset, window and vocab), and the vocabulary as one
sample, key PREFIX vocab, tag vocab, bytes "word<TAB>count" per line by id
(most frequent first). The train-lm and word2vec task kinds read a split's
view back in order, with its vocabulary, so ids mean the same words at
training and evaluation.

--define NAME defines a dataset per split: NAME-train, NAME-valid, NAME-test
(PTB) or NAME-train (text8), each the samples with the split's tag (and
--tags) under --prefix. A rerun skips what is stored; a rerun with another
--window or other files under the same --prefix fails before writing.`

// tokenFlags are the flags of 'tl import ptb' and 'tl import text8'.
type tokenFlags struct {
	importFlags
	window int
}

func newImportPTBCmd(stdout, stderr io.Writer) *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "ptb DIR",
		Short: "import the Penn Treebank language-model corpus (ptb.train/valid/test.txt)",
		Long: `Imports DIR/ptb.train.txt, ptb.valid.txt and ptb.test.txt (the
simple-examples/data folder of Mikolov's archive): lines of space-separated
words, an <eos> token at each line's end, as TensorFlow's ptb_word_lm reads
them. The vocabulary is every word of the training file; a validation or test
word outside it maps to <unk>.

` + tokenAbout,
		Example: "  tl import ptb simple-examples/data --define ptb\n  tl submit examples/plans/ptb-lstm.yaml --wait",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return importPTB(cmd.Context(), &f, args[0], stdout, stderr)
		},
	}
	f.flags(cmd, "ptb/")
	return cmd
}

func newImportText8Cmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		f     tokenFlags
		vocab int
	)
	cmd := &cobra.Command{
		Use:   "text8 FILE",
		Short: "import the text8 corpus (one line of words) for word2vec",
		Long: `Imports FILE, text8 (Matt Mahoney's first 10^8 characters of Wikipedia,
cleaned: one line of lower-case words), as the split "train". The vocabulary
keeps the --vocab most common words, the others map to UNK (id 0), as
TensorFlow's word2vec_basic.

` + tokenAbout,
		Example: "  tl import text8 text8 --vocab 50000 --define text8\n  tl submit examples/plans/text8-word2vec.yaml --wait",
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if vocab < 0 {
				return usageErrorf("--vocab %d: expected a positive size, or 0 for every word", vocab)
			}
			return importText8(cmd.Context(), &f, args[0], vocab, stdout, stderr)
		},
	}
	f.flags(cmd, "text8/")
	cmd.Flags().IntVar(&vocab, "vocab", 50000, "vocabulary size, UNK included (0: every word, no UNK)")
	return cmd
}

// flags adds the import flags, with prefix as --prefix's default.
func (f *tokenFlags) flags(cmd *cobra.Command, prefix string) {
	f.importFlags.flags(cmd.Flags())
	setDefault(cmd, "prefix", prefix)
	cmd.Flags().IntVar(&f.window, "window", 2048, "word ids per sample")
}

// setDefault changes a flag's default value.
func setDefault(cmd *cobra.Command, name, value string) {
	fl := cmd.Flags().Lookup(name)
	fl.DefValue = value
	_ = fl.Value.Set(value)
}

// tokenSplit is a split of a corpus to import.
type tokenSplit struct {
	name string
	ids  []int32
}

func importPTB(ctx context.Context, f *tokenFlags, dir string, stdout, stderr io.Writer) error {
	if f.window <= 0 {
		return usageErrorf("--window %d: expected a positive number of words", f.window)
	}
	ptb, err := formats.ReadPTB(ctx, dir)
	if err != nil {
		return fmt.Errorf("read the PTB corpus in %s: %w", dir, err)
	}
	splits := []tokenSplit{{"train", ptb.Train}, {"valid", ptb.Valid}, {"test", ptb.Test}}
	return importTokens(ctx, f, "ptb", ptb.Vocab, splits, stdout, stderr)
}

func importText8(ctx context.Context, f *tokenFlags, path string, vocab int, stdout, stderr io.Writer) error {
	if f.window <= 0 {
		return usageErrorf("--window %d: expected a positive number of words", f.window)
	}
	c, err := formats.ReadText8(ctx, path, vocab)
	if err != nil {
		return fmt.Errorf("read text8 %s: %w", path, err)
	}
	return importTokens(ctx, f, filepath.Base(path), c.Vocab, []tokenSplit{{"train", c.IDs}}, stdout, stderr)
}

// importTokens stores the vocabulary and the splits' windows, and defines a
// dataset per split for --define.
func importTokens(ctx context.Context, f *tokenFlags, corpus string, v *formats.Vocab, splits []tokenSplit, stdout, stderr io.Writer) error {
	o, q, err := f.options(stderr)
	if err != nil {
		return err
	}
	return f.withSamples(ctx, func(c *dataset.Collection) error {
		vocabKey := f.prefix + tokenVocabKey
		var text strings.Builder
		for i, w := range v.Words {
			fmt.Fprintf(&text, "%s\t%d\n", w, v.Counts[i])
		}
		h := fnv.New64a()
		h.Write([]byte(text.String()))
		hash := fmt.Sprintf("%016x", h.Sum64())
		// A rerun under the same prefix must be the same corpus cut the same way:
		// other windows next to the stored ones would mix two texts.
		if old, err := c.Get(ctx, vocabKey); err == nil {
			if oh, ow := fmt.Sprint(old.Fields["vocab_hash"]), fmt.Sprint(old.Fields["window"]); oh != hash || ow != fmt.Sprint(f.window) {
				return fmt.Errorf("prefix %q holds another import (vocabulary %s, window %s; this one: vocabulary %s, window %d): give this corpus another --prefix, or the same --window",
					f.prefix, oh, ow, hash, f.window)
			}
		} else if !errors.Is(err, dataset.ErrNotFound) {
			return fmt.Errorf("look for an earlier import at %s: %w", vocabKey, err)
		}
		total := 1
		for _, s := range splits {
			total += (len(s.ids) + f.window - 1) / f.window
		}
		src := func(yield func(dataset.Sample, error) bool) {
			if !yield(dataset.Sample{Key: tokenVocabKey, Bytes: []byte(text.String()), Tags: []string{tokenVocabTag},
				Fields: map[string]any{"corpus": corpus, "words": v.Len(), "unk": int(v.Unk), "window": f.window, "vocab_hash": hash}}, nil) {
				return
			}
			for _, s := range splits {
				for i, off := 0, 0; off < len(s.ids); i, off = i+1, off+f.window {
					end := min(off+f.window, len(s.ids))
					smp := dataset.Sample{Key: fmt.Sprintf("%s/%06d", s.name, i),
						Tensor: dataset.Int32Tensor([]int{end - off}, s.ids[off:end]),
						Tags:   []string{s.name},
						Fields: map[string]any{"corpus": corpus, "split": s.name, "offset": off, "window": f.window, "vocab": vocabKey}}
					if !yield(smp, nil) {
						return
					}
				}
			}
		}
		o.Total, o.Label = total, "import "+corpus
		st, err := dataset.Import(ctx, c, iter.Seq2[dataset.Sample, error](src), o)
		if err != nil {
			return importFailed(ctx, c, st, corpus, err, stdout)
		}
		var words []string
		for _, s := range splits {
			words = append(words, fmt.Sprintf("%s %d", s.name, len(s.ids)))
		}
		fmt.Fprintf(stdout, "corpus %s: vocabulary of %d words (%s); words: %s\n", corpus, v.Len(), vocabKey, strings.Join(words, ", "))
		return finishSplits(ctx, c, st, f.define, q, splitNames(splits), stdout, stderr)
	})
}

func splitNames(splits []tokenSplit) []string {
	var names []string
	for _, s := range splits {
		names = append(names, s.name)
	}
	return names
}

// finishSplits is finishImport for an import of several splits: --define NAME
// defines NAME-SPLIT for each, the query q with the split's tag.
func finishSplits(ctx context.Context, c *dataset.Collection, st dataset.ImportStats, define string, q dataset.Query, splits []string, stdout, stderr io.Writer) error {
	if err := finishImport(ctx, c, st, "", q, stdout, stderr); err != nil {
		return err
	}
	if define == "" {
		return nil
	}
	for _, s := range splits {
		sq := q
		sq.Tags = append([]string{s}, q.Tags...)
		if err := defineDataset(ctx, c, define+"-"+s, sq, stdout); err != nil {
			return err
		}
	}
	return nil
}
