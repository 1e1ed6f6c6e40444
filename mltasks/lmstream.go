package mltasks

import (
	"context"
	"fmt"

	"github.com/tlgo/tl/feed"
	"github.com/tlgo/tl/tensor"
)

// tokenStream is a corpus view's batches for a language model, cut as
// feed.LanguageModel cuts them (TensorFlow's ptb_producer: batch rows of
// words/batch consecutive words, window i of every row in batch i, the
// target shifted by one) but read from the store as training goes: one
// cursor per row, each holding a stored window or two. No view has to fit in
// memory.
type tokenStream struct {
	c                 *corpusView
	batch, steps, row int
	windows           int
	specs             []feed.Spec
	cur               *tokenIter
}

// newTokenStream streams the first limit words of c (0: all).
func newTokenStream(c *corpusView, batch, steps, limit int) (*tokenStream, error) {
	words := c.Words()
	if limit > 0 {
		words = min(words, limit)
	}
	if batch <= 0 || steps <= 0 {
		return nil, fmt.Errorf("batch %d and steps %d must be positive", batch, steps)
	}
	row := words / batch
	windows := (row - 1) / steps
	if windows <= 0 {
		return nil, fmt.Errorf("%d words make no window of %d steps in %d rows (want more than batch·(steps+1) = %d)", words, steps, batch, batch*(steps+1))
	}
	return &tokenStream{c: c, batch: batch, steps: steps, row: row, windows: windows,
		specs: []feed.Spec{{Shape: tensor.Shape{steps}, DType: tensor.Int32}, {Shape: tensor.Shape{steps}, DType: tensor.Int32}}}, nil
}

// Specs implements feed.Batches: the input and the target window.
func (s *tokenStream) Specs() []feed.Spec { return s.specs }

// Batches implements feed.Batches.
func (s *tokenStream) Batches() int { return s.windows }

// Epoch implements feed.Batches: every epoch reads the same batches.
func (s *tokenStream) Epoch(ctx context.Context, _ int) feed.Iterator {
	if s.cur != nil {
		s.cur.Close()
	}
	it := &tokenIter{s: s, rows: make([]rowBuf, s.batch),
		b: &feed.Batch{Tensors: []*tensor.Tensor{tensor.New(tensor.Int32, s.batch, s.steps), tensor.New(tensor.Int32, s.batch, s.steps)}, Size: s.batch, Index: -1}}
	for r := range it.rows {
		// Row r's windows end at r·row + windows·steps + 1 <= (r+1)·row.
		from := r * s.row
		it.rows[r] = rowBuf{r: s.c.reader(ctx, from, from+s.windows*s.steps+1), off: from}
	}
	s.cur = it
	return it
}

// tokenIter is an epoch of a tokenStream.
type tokenIter struct {
	s      *tokenStream
	rows   []rowBuf
	b      *feed.Batch
	err    error
	closed bool
}

// rowBuf holds the words of a row read so far and not yet used: buf starts
// at word off of the view.
type rowBuf struct {
	r       *windowReader
	buf     []int32
	off     int
	started bool
}

// take returns words [at, at+n) of the row, reading windows as needed and
// dropping the words before at.
func (rb *rowBuf) take(at, n int) ([]int32, error) {
	for rb.off+len(rb.buf) < at+n {
		w, err := rb.r.next()
		if err != nil {
			return nil, err
		}
		if !rb.started { // the first window may start before the row
			rb.started = true
			w = w[rb.off-rb.r.c.windowStart(rb.off):]
		}
		rb.buf = append(rb.buf, w...)
	}
	if d := at - rb.off; d > 0 {
		rb.buf = append(rb.buf[:0], rb.buf[d:]...)
		rb.off = at
	}
	return rb.buf[:n], nil
}

// Next implements feed.Iterator.
func (it *tokenIter) Next() bool {
	if it.closed || it.err != nil || it.b.Index+1 >= it.s.windows {
		return false
	}
	it.b.Index++
	s := it.s
	in, tg := it.b.Tensors[0].Int32s(), it.b.Tensors[1].Int32s()
	for r := range it.rows {
		at := r*s.row + it.b.Index*s.steps
		ids, err := it.rows[r].take(at, s.steps+1)
		if err != nil {
			it.err = fmt.Errorf("batch %d, row %d (word %d): %w", it.b.Index, r, at, err)
			return false
		}
		copy(in[r*s.steps:(r+1)*s.steps], ids[:s.steps])
		copy(tg[r*s.steps:(r+1)*s.steps], ids[1:])
	}
	return true
}

// Batch implements feed.Iterator.
func (it *tokenIter) Batch() *feed.Batch { return it.b }

// Err implements feed.Iterator.
func (it *tokenIter) Err() error { return it.err }

// Close implements feed.Iterator.
func (it *tokenIter) Close() {
	if it.closed {
		return
	}
	it.closed = true
	for _, rb := range it.rows {
		rb.r.close()
	}
}
