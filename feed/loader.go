package feed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/tlgo/tl/tensor"
)

// Batch is a batch of examples: one tensor per component, examples along the
// first axis. A Batch and its tensors belong to the Loader and are reused: they
// are valid until the next call to Iter.Next (copy what you keep).
type Batch struct {
	Tensors []*tensor.Tensor
	Size    int // number of examples (the first dimension)
	Index   int // position of the batch in its epoch

	rows    [][]*tensor.Tensor // rows[r][c]: a view of row r of component c
	partial bool
}

type config struct {
	shuffle   bool
	seed      uint64
	drop      bool
	prefetch  int
	augment   []ImageOp
	augmentOn int
}

// Option configures a Loader.
type Option func(*config)

// Shuffle visits examples in a new random order each epoch. The order of epoch e
// depends only on seed and e, so a run can be repeated or resumed.
func Shuffle(seed uint64) Option { return func(c *config) { c.shuffle, c.seed = true, seed } }

// DropRemainder drops the last batch of an epoch when it would be short (so every
// batch has the same shape and one compiled plan serves them all).
func DropRemainder() Option { return func(c *config) { c.drop = true } }

// Prefetch sets how many batches the loader's goroutine prepares ahead of the
// consumer (default 2; 0 still fills batches on another goroutine, one at a
// time).
func Prefetch(n int) Option { return func(c *config) { c.prefetch = max(n, 0) } }

// Augment applies image ops, in order, to component 0 of every example (an
// H×W×C float32 image). Random ops draw from a generator seeded by the Shuffle
// seed (or 0) and the epoch, so augmentation is reproducible.
func Augment(ops ...ImageOp) Option { return func(c *config) { c.augment = ops } }

// Loader cuts a Source into batches on a goroutine of its own, ahead of the
// consumer. Batches are allocated when the loader is made and reused: in steady
// state an epoch allocates nothing per batch.
type Loader struct {
	src       Source
	cfg       config
	batchSize int
	specs     []Spec
	srcSpecs  []Spec
	batches   []*Batch
	partial   *Batch
	perm      []int
	imgShapes [][3]int
	scratch   [2][]float32
	readBuf   []*tensor.Tensor // one example at the source's shapes (for augmentation)
	current   *Iter
}

// NewLoader makes a loader of batches of batchSize examples of src.
func NewLoader(src Source, batchSize int, opts ...Option) (*Loader, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("feed: NewLoader: batch size %d, want > 0", batchSize)
	}
	l := &Loader{src: src, batchSize: batchSize, cfg: config{prefetch: 2}}
	for _, o := range opts {
		o(&l.cfg)
	}
	if src.Len() == 0 {
		return nil, fmt.Errorf("feed: NewLoader: the source has no examples")
	}
	l.srcSpecs = src.Specs()
	l.specs = make([]Spec, len(l.srcSpecs))
	copy(l.specs, l.srcSpecs)
	if len(l.cfg.augment) > 0 {
		if err := l.setupAugment(); err != nil {
			return nil, err
		}
	}
	l.perm = make([]int, src.Len())
	full := batchSize
	if src.Len() < batchSize {
		full = 0
	}
	if full > 0 {
		for range l.cfg.prefetch + 2 {
			l.batches = append(l.batches, l.newBatch(batchSize))
		}
	}
	if rem := src.Len() % batchSize; rem != 0 && !l.cfg.drop {
		l.partial = l.newBatch(rem)
		l.partial.partial = true
	}
	if l.Batches() == 0 {
		return nil, fmt.Errorf("feed: NewLoader: %d examples make no batch of %d with DropRemainder", src.Len(), batchSize)
	}
	return l, nil
}

func (l *Loader) setupAugment() error {
	s := l.srcSpecs[0]
	if s.DType != tensor.Float32 || len(s.Shape) != 3 {
		return fmt.Errorf("feed: Augment: component 0 is %v, want a float32 H×W×C image", s)
	}
	sh := [3]int{s.Shape[0], s.Shape[1], s.Shape[2]}
	l.imgShapes = append(l.imgShapes, sh)
	biggest := sh[0] * sh[1] * sh[2]
	for i, op := range l.cfg.augment {
		out, err := op.OutShape(sh)
		if err != nil {
			return fmt.Errorf("feed: Augment: op %d (%T): %w", i, op, err)
		}
		sh = out
		l.imgShapes = append(l.imgShapes, sh)
		biggest = max(biggest, sh[0]*sh[1]*sh[2])
	}
	l.specs[0] = Spec{Shape: tensor.Shape{sh[0], sh[1], sh[2]}, DType: tensor.Float32}
	l.scratch[0] = make([]float32, biggest)
	l.scratch[1] = make([]float32, biggest)
	for _, sp := range l.srcSpecs {
		l.readBuf = append(l.readBuf, tensor.New(sp.DType, sp.Shape...))
	}
	// Component 0 is read straight into scratch.
	t, err := tensor.FromFloat32(l.scratch[0][:l.srcSpecs[0].Shape.Size()], l.srcSpecs[0].Shape...)
	if err != nil {
		return err
	}
	l.readBuf[0] = t
	return nil
}

func (l *Loader) newBatch(n int) *Batch {
	b := &Batch{Size: n}
	for _, sp := range l.specs {
		b.Tensors = append(b.Tensors, tensor.New(sp.DType, append([]int{n}, sp.Shape...)...))
	}
	b.rows = make([][]*tensor.Tensor, n)
	for r := range n {
		for _, t := range b.Tensors {
			v, _ := t.Slice(r, r+1)
			v, _ = v.Reshape(t.Shape()[1:]...)
			b.rows[r] = append(b.rows[r], v)
		}
	}
	return b
}

// Specs describes the components of the batches (after augmentation), without
// the batch axis.
func (l *Loader) Specs() []Spec { return l.specs }

// BatchSize is the size of full batches.
func (l *Loader) BatchSize() int { return l.batchSize }

// Batches is the number of batches in an epoch.
func (l *Loader) Batches() int {
	n := l.src.Len() / l.batchSize
	if l.partial != nil {
		n++
	}
	return n
}

// Examples is the number of examples in an epoch (fewer than the source holds
// with DropRemainder).
func (l *Loader) Examples() int {
	if l.partial != nil {
		return l.src.Len()
	}
	return l.src.Len() / l.batchSize * l.batchSize
}

// Batches is a sequence of epochs of batches: what train.Loop and
// train.Evaluator read. A *Loader over an in-memory Source is one; package
// mltasks streams one from the dataset module, so that no view has to fit in
// memory.
type Batches interface {
	// Specs describes the components of every batch, without the batch axis.
	Specs() []Spec
	// Batches is the number of batches in an epoch, or -1 when it is not
	// known before the epoch ends (a stream).
	Batches() int
	// Epoch starts epoch e (from 0). Starting an epoch may end the previous
	// epoch's iterator: its batches are reused.
	Epoch(ctx context.Context, e int) Iterator
}

// Iterator goes through the batches of one epoch, from one goroutine. A
// batch is valid until the next call to Next or Close.
type Iterator interface {
	Next() bool
	Batch() *Batch
	// Err is the error that ended the epoch early, or nil; call it after
	// Next returned false or after Close.
	Err() error
	// Close stops the epoch; it is safe to call more than once.
	Close()
}

var _ Batches = (*Loader)(nil)

// Iter goes through the batches of one epoch. Use it from one goroutine.
type Iter struct {
	l      *Loader
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	free   chan *Batch
	full   chan *Batch
	done   sync.WaitGroup
	cur    *Batch
	err    error // set by the producer before it closes full
	closed bool
}

// Epoch starts filling the batches of epoch e on a goroutine and returns their
// iterator. Starting an epoch closes the loader's previous iterator (its batches
// are reused). Cancelling ctx stops the goroutine; Err then reports it.
func (l *Loader) Epoch(ctx context.Context, e int) Iterator {
	if l.current != nil {
		l.current.Close()
	}
	cctx, cancel := context.WithCancel(ctx)
	it := &Iter{l: l, parent: ctx, ctx: cctx, cancel: cancel, free: make(chan *Batch, len(l.batches)), full: make(chan *Batch, len(l.batches)+1)}
	for _, b := range l.batches {
		it.free <- b
	}
	l.current = it
	for i := range l.perm {
		l.perm[i] = i
	}
	if l.cfg.shuffle {
		rng := rand.New(rand.NewPCG(l.cfg.seed, uint64(e)))
		rng.Shuffle(len(l.perm), func(i, j int) { l.perm[i], l.perm[j] = l.perm[j], l.perm[i] })
	}
	rng := rand.New(rand.NewPCG(l.cfg.seed^0x5bd1e995, uint64(e)))
	it.done.Add(1)
	go it.produce(rng)
	return it
}

func (it *Iter) produce(rng *rand.Rand) {
	defer it.done.Done()
	defer close(it.full)
	l := it.l
	nFull := l.src.Len() / l.batchSize
	for bi := 0; bi < l.Batches(); bi++ {
		var b *Batch
		if bi < nFull {
			select {
			case b = <-it.free:
			case <-it.ctx.Done():
				it.err = it.ctx.Err()
				return
			}
		} else {
			b = l.partial
		}
		b.Index = bi
		lo := bi * l.batchSize
		for r := 0; r < b.Size; r++ {
			if err := l.fill(l.perm[lo+r], b.rows[r], rng); err != nil {
				it.err = fmt.Errorf("feed: batch %d, example %d: %w", bi, l.perm[lo+r], err)
				return
			}
		}
		if err := it.ctx.Err(); err != nil {
			it.err = err
			return
		}
		it.full <- b // never blocks: full holds every batch there is
	}
}

// fill reads example i into one batch row, through the augmentation ops.
func (l *Loader) fill(i int, row []*tensor.Tensor, rng *rand.Rand) error {
	if len(l.cfg.augment) == 0 {
		return l.src.Read(i, row)
	}
	for c := 1; c < len(row); c++ {
		l.readBuf[c] = row[c] // other components go straight to the batch
	}
	if err := l.src.Read(i, l.readBuf); err != nil {
		return err
	}
	src, dst := l.scratch[0], l.scratch[1]
	last := len(l.cfg.augment) - 1
	for k, op := range l.cfg.augment {
		out := dst
		if k == last {
			out = row[0].Float32s()
		}
		op.Apply(out, src, l.imgShapes[k], rng)
		src, dst = out, src
	}
	return nil
}

// Next moves to the next batch and reports whether there is one. The previous
// batch goes back to the loader.
func (it *Iter) Next() bool {
	if it.closed {
		return false
	}
	it.release()
	b, ok := <-it.full
	if !ok {
		it.finish()
		return false
	}
	it.cur = b
	return true
}

func (it *Iter) release() {
	if it.cur != nil && !it.cur.partial {
		it.free <- it.cur // never blocks: free holds every full batch
	}
	it.cur = nil
}

// Batch is the current batch, valid until the next call to Next or Close.
func (it *Iter) Batch() *Batch { return it.cur }

// Err is the error that ended the epoch early (a failed Read, a cancelled
// context), or nil. Call it after Next returns false.
func (it *Iter) Err() error {
	if !it.closed {
		return nil
	}
	return it.err
}

// finish waits for the producer and settles the epoch's error: a cancellation
// that Close asked for is not an error.
func (it *Iter) finish() {
	it.done.Wait()
	it.closed = true
	if errors.Is(it.err, context.Canceled) && it.parent.Err() == nil {
		it.err = nil
	}
	it.cancel()
}

// Close stops the producer and waits for it. It is safe to call more than once.
func (it *Iter) Close() {
	if it.closed {
		return
	}
	it.cancel()
	it.release()
	for range it.full {
		// drain: the producer stops at its next check of the context
	}
	it.finish()
}
