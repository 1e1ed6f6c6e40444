package formats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// EOS is the token the PTB reader puts at the end of every line.
const EOS = "<eos>"

// UNK is the token text8's vocabulary maps rare words to.
const UNK = "UNK"

// Vocab maps words to ids: id i is Words[i], ordered by decreasing frequency
// (ties by the words' byte order), so that the same text always gives the same
// ids.
type Vocab struct {
	Words  []string // id -> word
	Counts []int    // id -> occurrences in the text the vocabulary was built from
	Unk    int32    // the id unknown words map to, or -1 if none
	index  map[string]int32
}

// NewVocab builds a vocabulary from word counts. size > 0 keeps the size most
// frequent entries; when unk is not empty it takes id 0, counts every dropped
// occurrence, and is where Encode sends unknown words (a word equal to unk in
// the counts is merged into it).
func NewVocab(counts map[string]int, size int, unk string) *Vocab {
	words := make([]string, 0, len(counts))
	for w := range counts {
		if unk == "" || w != unk {
			words = append(words, w)
		}
	}
	slices.SortFunc(words, func(a, b string) int {
		if ca, cb := counts[a], counts[b]; ca != cb {
			return cb - ca
		}
		return strings.Compare(a, b)
	})
	v := &Vocab{Unk: -1, index: map[string]int32{}}
	keep := len(words)
	if unk != "" {
		v.Unk = 0
		v.Words = append(v.Words, unk)
		v.Counts = append(v.Counts, counts[unk])
		if size > 0 {
			keep = min(keep, size-1)
		}
		for _, w := range words[max(keep, 0):] {
			v.Counts[0] += counts[w]
		}
	} else if size > 0 {
		keep = min(keep, size)
	}
	keep = max(keep, 0)
	for _, w := range words[:keep] {
		v.Words = append(v.Words, w)
		v.Counts = append(v.Counts, counts[w])
	}
	for i, w := range v.Words {
		v.index[w] = int32(i)
	}
	return v
}

// Len is the number of ids.
func (v *Vocab) Len() int { return len(v.Words) }

// ID returns the id of word and whether it is in the vocabulary.
func (v *Vocab) ID(word string) (int32, bool) {
	id, ok := v.index[word]
	return id, ok
}

// Encode maps words to ids; unknown words map to Unk, or are an error when the
// vocabulary has none.
func (v *Vocab) Encode(words []string) ([]int32, error) {
	ids := make([]int32, len(words))
	for i, w := range words {
		id, ok := v.index[w]
		if !ok {
			if v.Unk < 0 {
				return nil, fmt.Errorf("formats: word %d (%q) is not in the vocabulary of %d words, which has no unknown-word token", i, w, v.Len())
			}
			id = v.Unk
		}
		ids[i] = id
	}
	return ids, nil
}

// encodeText maps every token of a checked text to its id.
func (v *Vocab) encodeText(name string, data []byte, eos string) ([]int32, error) {
	ids := make([]int32, 0, len(data)/6)
	var bad error
	eachToken(data, eos, func(w []byte, off int) bool {
		id, ok := v.index[string(w)]
		if !ok {
			if v.Unk < 0 {
				bad = &FormatError{File: name, Offset: int64(off), Want: fmt.Sprintf("a word of the vocabulary (it has no unknown-word token), got %q", w)}
				return false
			}
			id = v.Unk
		}
		ids = append(ids, id)
		return true
	})
	return ids, bad
}

// eachToken calls fn for every space-separated word, and for eos at every
// newline when eos is not empty (as TensorFlow's PTB reader replaces "\n" by
// "<eos>"). fn returns false to stop.
func eachToken(data []byte, eos string, fn func(word []byte, offset int) bool) {
	eosB := []byte(eos)
	start := -1
	for i, c := range data {
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			if start >= 0 {
				if !fn(data[start:i], start) {
					return
				}
				start = -1
			}
			if c == '\n' && eos != "" && !fn(eosB, i) {
				return
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		fn(data[start:], start)
	}
}

// CountWords counts the tokens of a text as eachToken splits it.
func CountWords(data []byte, eos string) map[string]int {
	// Counting through pointers makes a known word's lookup free of allocation
	// (m[string(b)] does not copy b); only new words allocate.
	ptrs := map[string]*int{}
	eachToken(data, eos, func(w []byte, _ int) bool {
		if p := ptrs[string(w)]; p != nil {
			*p++
		} else {
			one := 1
			ptrs[string(w)] = &one
		}
		return true
	})
	counts := make(map[string]int, len(ptrs))
	for w, p := range ptrs {
		counts[w] = *p
	}
	return counts
}

// readText reads a whole text file and checks that it is text: UTF-8 without NUL
// bytes (a binary or wrongly decompressed file fails here, with the offset).
func readText(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapCtx(path, err)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("formats: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("formats: %w", err)
	}
	// The size is the file's own: one allocation of it, no growing copies.
	data := make([]byte, st.Size())
	n, err := io.ReadFull(ctxReader{ctx, fh}, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, wrapCtx(path, err)
	}
	data = data[:n] // a file that shrank since Stat is read as it is now
	if err := checkText(path, data); err != nil {
		return nil, err
	}
	return data, nil
}

func checkText(name string, data []byte) error {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &FormatError{File: name, Offset: int64(i), Want: "text, got a NUL byte (a binary or compressed file?)"}
	}
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				return &FormatError{File: name, Offset: int64(i), Want: fmt.Sprintf("UTF-8 text, got byte 0x%02x (a binary or compressed file?)", data[i])}
			}
			i += n
		}
	}
	return nil
}

// PTB is the Penn Treebank language-model data as word ids.
type PTB struct {
	Train, Valid, Test []int32
	Vocab              *Vocab // built from the training file
}

// ReadPTB reads ptb.train.txt, ptb.valid.txt and ptb.test.txt from dir (the
// simple-examples/data folder of Mikolov's archive). Lines end with an EOS
// token; the vocabulary is every word of the training file, most frequent
// first. A validation or test word missing from it maps to "<unk>" (the data
// set's own unknown-word token) when the vocabulary has that token.
func ReadPTB(ctx context.Context, dir string) (*PTB, error) {
	var texts [3][]byte
	var names [3]string
	for i, name := range []string{"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"} {
		names[i] = filepath.Join(dir, name)
		b, err := readText(ctx, names[i])
		if err != nil {
			return nil, err
		}
		texts[i] = b
	}
	return decodePTB(texts, names)
}

// decodePTB builds the vocabulary of the training text and encodes the three
// texts (checked by checkText); names name them in errors.
func decodePTB(texts [3][]byte, names [3]string) (*PTB, error) {
	counts := CountWords(texts[0], EOS)
	if len(counts) == 0 {
		return nil, &FormatError{File: names[0], Offset: 0, Want: "at least one word"}
	}
	v := NewVocab(counts, 0, "")
	if id, ok := v.ID("<unk>"); ok {
		v.Unk = id
	}
	out := &PTB{Vocab: v}
	for i, dst := range []*[]int32{&out.Train, &out.Valid, &out.Test} {
		ids, err := v.encodeText(names[i], texts[i], EOS)
		if err != nil {
			return nil, err
		}
		*dst = ids
	}
	return out, nil
}

// Corpus is a text as word ids and its vocabulary.
type Corpus struct {
	IDs   []int32
	Vocab *Vocab
}

// ReadText8 reads text8 (one line of lower-case words) and keeps the
// vocabSize-1 most common words; the others map to UNK, id 0, as in
// TensorFlow's word2vec_basic. vocabSize <= 0 keeps every word; where every
// word is kept there is no UNK (Vocab.Unk is -1).
func ReadText8(ctx context.Context, path string, vocabSize int) (*Corpus, error) {
	data, err := readText(ctx, path)
	if err != nil {
		return nil, err
	}
	return decodeText8(data, path, vocabSize)
}

// decodeText8 is ReadText8 on a text checked by checkText.
func decodeText8(data []byte, name string, vocabSize int) (*Corpus, error) {
	counts := CountWords(data, "")
	if len(counts) == 0 {
		return nil, &FormatError{File: name, Offset: 0, Want: "at least one word"}
	}
	// UNK only where some word maps to it: with every word kept, an
	// unused UNK would take id 0 and a row of every embedding.
	unk := UNK
	if vocabSize <= 0 || vocabSize > len(counts) {
		unk = ""
	}
	v := NewVocab(counts, vocabSize, unk)
	ids, err := v.encodeText(name, data, "")
	if err != nil {
		return nil, err
	}
	return &Corpus{IDs: ids, Vocab: v}, nil
}
