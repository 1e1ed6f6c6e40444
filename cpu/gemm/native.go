package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlgo/tl/cpu/par"
)

// call holds one Sgemm's arguments while the engine's threads work on it.
// Calls are recycled through Engine.free, so a steady stream of Sgemm calls
// allocates nothing.
type call struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	// bias, when not nil, is added to every row of C as an extra inner step
	// (k+1) where A is 1 and B is the bias: no pass over C of its own.
	bias []float32
	// pb, when not nil, is B packed beforehand (SgemmPacked): b is unused.
	pb *PackedB

	// shared is B packed once for all the chunks of a row split, so that
	// each chunk does not pack it again (see Engine.run). The threads pack
	// it together, claiming one panel (kc×nr) at a time from packNext, and
	// then wait only for the slices they are about to use (packDone counts
	// the panels done per kc slice): no thread packs all of B while the
	// others wait, and a worker that starts late finds it packed.
	shared     PackedB
	packNext   atomic.Int64
	packUnits  int // panels to pack (0: B is not packed by the threads)
	packPanels int // panels per kc slice
	packDone   []atomic.Int64

	// guided: a row split whose B is shared claims rows in pieces that
	// shrink as the work runs out (no piece packs anything that another
	// packs again), so that the threads finish together; next then counts
	// tiles of rows, not chunks.
	guided bool

	kn      *microKernel
	split   int  // splitM, splitN or splitK
	directA bool // the kernel reads A in place instead of packed panels
	parts   int  // threads taking part (the caller and parts-1 workers)
	chunks  int  // pieces of work, claimed in turn by whichever thread is free
	bufs    []*threadBuf

	// Chunks are claimed from next by whichever thread is free: a worker
	// that the machine starts late finds the work done by the others, so a
	// product is never slower than the busiest thread allows. wg counts the
	// workers still looking at the call.
	next atomic.Int64
	wg   sync.WaitGroup
	// busy counts the workers still computing, so that the caller can spin
	// on it a moment before sleeping on wg.
	busy atomic.Int64
}

const (
	splitM = iota // chunks take rows of C
	splitN        // chunks take columns of C
	splitK        // chunks take slices of the inner dimension; partial sums are added
)

// threadBuf is one thread's packing space.
type threadBuf struct {
	a, b, tile []float32
	sum        []float32 // a partial C for splitK
}

// grow makes the buffers hold at least na and nb floats. They only grow, so
// a steady stream of products allocates nothing.
func (t *threadBuf) grow(na, nb, ntile int) {
	if len(t.a) < na {
		t.a = make([]float32, na)
	}
	if len(t.b) < nb {
		t.b = make([]float32, nb)
	}
	if len(t.tile) < ntile {
		t.tile = make([]float32, ntile)
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// task is one part of a call, sent to a worker.
type task struct {
	c    *call
	part int
}

// chunkRange returns the rows, columns or inner indices of chunk i: whole
// units (tiles) are dealt out as evenly as possible.
func (c *call) chunkRange(i int) (lo, hi int) {
	var dim, unit int
	switch c.split {
	case splitM:
		dim, unit = c.m, c.kn.mr
	case splitN:
		dim, unit = c.n, c.kn.nr
	default:
		dim, unit = c.kTotal(), 16
		if c.pb != nil {
			unit = c.pb.kcb // a chunk starts where a packed slice does
		}
	}
	units := (dim + unit - 1) / unit
	lo = i * units / c.chunks * unit
	hi = min((i+1)*units/c.chunks*unit, dim)
	return lo, hi
}

// kTotal is the inner dimension with the bias's extra step.
func (c *call) kTotal() int {
	if c.bias != nil {
		return c.k + 1
	}
	return c.k
}

// participate claims and computes chunks until none is left, packing into
// buf.
func (c *call) participate(buf *threadBuf) {
	if c.packUnits > 0 {
		c.packShared()
	}
	if c.guided {
		c.participateGuided(buf)
		return
	}
	for {
		i := int(c.next.Add(1)) - 1
		if i >= c.chunks {
			return
		}
		c.runChunk(i, buf)
	}
}

// participateGuided claims pieces of rows (whole tiles) of a row split
// until none is left. A piece is at most one mc block, and a fraction of
// what is left so that the last pieces are small: a thread that finishes
// early then waits for at most a small piece of the other's work.
func (c *call) participateGuided(buf *threadBuf) {
	mr := c.kn.mr
	tiles := int64((c.m + mr - 1) / mr)
	maxT := int64(max(1, c.kn.mc/mr))
	div := int64(2 * c.parts)
	for {
		cur := c.next.Load()
		left := tiles - cur
		if left <= 0 {
			return
		}
		size := min(max((left+div-1)/div, guidedMinTiles), maxT, left)
		if !c.next.CompareAndSwap(cur, cur+size) {
			continue
		}
		lo, hi := int(cur)*mr, min(int(cur+size)*mr, c.m)
		c.block(buf, lo, hi, 0, c.n, 0, c.kTotal(), c.c, c.ldc, c.beta)
	}
}

// guidedMinTiles is the smallest piece of a guided row split, in tiles: each
// piece reads all of B once more (from L3), so a piece of 2·mr rows still
// does 14 flops per byte of B read.
const guidedMinTiles = 2

// packShared packs panels of the shared B until all are claimed.
func (c *call) packShared() {
	pb := &c.shared
	nr := pb.kn.nr
	alpha := float32(1) // A packed carries alpha; A read in place leaves it to B
	if pb.directA {
		alpha = c.alpha
	}
	for {
		u := int(c.packNext.Add(1)) - 1
		if u >= c.packUnits {
			return
		}
		s, jp := u/c.packPanels, u%c.packPanels*nr
		pc := s * pb.kcb
		kc := min(pb.kcb, pb.k-pc)
		packB(pb.data[pc*pb.width+jp*kc:], c.b, c.ldb, c.transB, pc, jp, kc, kc, min(nr, pb.n-jp), nr, alpha, pb.kn.tpose, pb.kn.narrow != nil)
		c.packDone[s].Add(1)
	}
}

// waitPacked returns when slice s of the shared B is packed. Every panel has
// been claimed by then (a thread packs before it computes), so the wait is
// for the few panels another thread is packing at this moment.
func (c *call) waitPacked(s int) {
	par.Await(&c.packDone[s], int64(c.packPanels))
}

// spinWait is how long a thread that waits for another spins before it
// yields or sleeps: waking a sleeping thread costs tens of microseconds
// (more in a virtual machine), a fair part of a product of a millisecond.
const spinWait = 50 * time.Microsecond

func (c *call) runChunk(i int, buf *threadBuf) {
	lo, hi := c.chunkRange(i)
	switch c.split {
	case splitM:
		if lo < hi {
			c.block(buf, lo, hi, 0, c.n, 0, c.kTotal(), c.c, c.ldc, c.beta)
		}
	case splitN:
		if lo < hi {
			c.block(buf, 0, c.m, lo, hi, 0, c.kTotal(), c.c, c.ldc, c.beta)
		}
	default:
		if i == 0 {
			c.block(buf, 0, c.m, 0, c.n, lo, hi, c.c, c.ldc, c.beta)
			return
		}
		sum := c.bufs[i].sum[:c.m*c.n] // partial sums by chunk, not by thread
		if lo < hi {
			c.block(buf, 0, c.m, 0, c.n, lo, hi, sum, c.n, 0)
		} else {
			clear(sum)
		}
	}
}

// reduce adds the partial sums of chunks 1.. into C (splitK).
func (c *call) reduce() {
	for i := 0; i < c.m; i++ {
		row := c.c[i*c.ldc : i*c.ldc+c.n]
		for part := 1; part < c.chunks; part++ {
			s := c.bufs[part].sum[i*c.n : i*c.n+c.n]
			for j, v := range s {
				row[j] += v
			}
		}
	}
}

// block computes rows [m0,m1) and columns [n0,n1) of C (written to cs with
// row stride ldc) over the inner indices [p0,p1), with the classic Goto/BLIS
// loop nest: for each nc-wide column block and kc-deep slice of the inner
// dimension, pack B once (it stays in L2/L3); for each mc-tall row block,
// pack A (it stays in L2); then sweep the micro-kernel over the tiles, the B
// micro-panel staying in L1 while the A micro-panels stream past it. When
// few columns share each A panel (small n), A is not packed: the kernel reads
// it in place.
func (c *call) block(buf *threadBuf, m0, m1, n0, n1, p0, p1 int, cs []float32, ldc int, beta0 float32) {
	kn := c.kn
	mr, nr := kn.mr, kn.nr
	kcb := kn.kc
	na := kn.mc * min(kcb, p1-p0)
	if c.directA {
		// B is narrow: a deeper slice costs no cache and halves the
		// passes over C. Only the bottom edge panel of A is packed.
		kcb = kn.kcDirect
		na = mr * min(kcb, p1-p0)
	}
	if c.pb != nil {
		kcb = c.pb.kcb
	}
	buf.grow(na, min(kcb, p1-p0)*roundUp(min(kn.nc, n1-n0), nr), mr*nr)
	for jc := n0; jc < n1; jc += kn.nc {
		nc := min(kn.nc, n1-jc)
		for pc := p0; pc < p1; pc += kcb {
			kc := min(kcb, p1-pc)
			alphaA, alphaB := c.alpha, float32(1)
			if c.directA {
				alphaA, alphaB = 1, c.alpha
			}
			// The bias's step, if any, is the last of the last slice.
			real := kc
			if c.bias != nil && pc+kc > c.k {
				real = kc - 1
			}
			bs := buf.b
			switch {
			case c.pb != nil:
				if c.packUnits > 0 {
					c.waitPacked(pc / kcb)
				}
				bs = c.pb.data[pc*c.pb.width+jc*kc:]
			case real > 0:
				packB(buf.b, c.b, c.ldb, c.transB, pc, jc, real, kc, nc, nr, alphaB, kn.tpose, kn.narrow != nil)
			}
			if real < kc {
				packBias(buf.b, c.bias, jc, real, nc, kc, nr, kn.narrow != nil)
			}
			beta, mode := beta0, 1
			if pc > p0 {
				beta = 1
			} else if beta0 == 0 {
				mode = 0
			}
			for ic := m0; ic < m1; ic += kn.mc {
				mc := min(kn.mc, m1-ic)
				if !c.directA {
					if real > 0 {
						packA(buf.a, c.a, c.lda, c.transA, ic, pc, mc, real, kc, mr, alphaA, kn.tpose)
					}
					if real < kc {
						packOnes(buf.a, real, mc, kc, mr)
					}
				} else if full := mc / mr * mr; full < mc {
					// The bottom edge panel is packed (zero-padded) so that
					// the kernel never reads past A.
					packA(buf.a, c.a, c.lda, c.transA, ic+full, pc, mc-full, kc, kc, mr, alphaA, kn.tpose)
				}
				c.macro(buf, bs, ic, jc, pc, mc, nc, kc, cs, ldc, beta, mode)
			}
		}
	}
}

// macro runs the micro-kernel over an mc×nc block of C; bs holds the block's
// packed B panels.
func (c *call) macro(buf *threadBuf, bs []float32, ic, jc, pc, mc, nc, kc int, cs []float32, ldc int, beta float32, mode int) {
	a, lda := c.a, c.lda
	for jr := 0; jr < nc; jr += c.kn.nr {
		cols := min(c.kn.nr, nc-jr)
		// A last panel of at most half the width runs on the kernel of
		// half the width (packed so): a 32-wide kernel would compute 24
		// columns for nothing on a C of 200 columns, 21 of 96 on one of 75.
		kn := c.kn.forWidth(cols)
		mr, nr := kn.mr, kn.nr
		bp := &bs[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			var ap *float32
			fn, as := kn.packed, 0
			switch {
			case !c.directA:
				ap = &buf.a[ir*kc]
			case rows < mr:
				ap = &buf.a[0] // the packed edge panel
			case c.transA:
				fn, ap, as = kn.colA, &a[pc*lda+ic+ir], lda
			default:
				fn, ap, as = kn.rowA, &a[(ic+ir)*lda+pc], lda
			}
			off := (ic+ir)*ldc + jc + jr
			kr := mr // rows the kernel computes
			if rows < mr {
				// A packed panel (the edge panel when A is read in
				// place): the narrowest kernel that covers the rows.
				fn, kr = kn.edgeRows(rows)
			}
			if rows == kr && (cols == nr || kn.masked) {
				fn(kc, ap, as, bp, &cs[off], ldc, beta, mode, cols)
				continue
			}
			// Edge tile: compute a full tile aside, then add the part that
			// lies inside C.
			fn(kc, ap, as, bp, &buf.tile[0], nr, 0, 0, nr)
			bt := beta
			if mode == 0 {
				bt = 0 // C is not read
			}
			addTile(cs[off:], ldc, buf.tile, nr, rows, cols, bt)
		}
	}
}

// scaleC sets C = beta*C (C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta == 1 {
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Below this many multiply-adds (about 10µs of work on one core) a product
// runs on one thread: waking another goroutine costs several microseconds.
// A worker spins for a while after each product (spinWait), so a sequence of
// small products (an LSTM's steps: 20×800×200, 3.2M) keeps it awake: at 1<<21
// those ran on one thread, and a PTB-small LSTM layer took 14% longer.
const parallelMin = 1 << 20

// sharedBMax is the most floats of B packed once for a whole product (16 MiB).
const sharedBMax = 4 << 20

// directAMaxN is the widest C for which A is read in place and each chunk of
// rows packs its own copy of B (see call.block and run); up to directAMaxNWide
// A is read in place too (without a bias), B then shared by the chunks. On
// Zen 4, one thread, by CPU time: reading A in place at 192-200 columns (the
// PTB softmax's and LSTM's input gradients, the CNN's dense2) runs 3-8% faster
// than packing it.
var directAMaxN, directAMaxNWide = 128, 256

// native runs the product on the engine's kernels; bias (nil, or n values for
// beta 0 and a C wide enough that A is packed) is added to every row of C.
func (e *Engine) native(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	e.run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, nil)
}

// run is native's product, on B itself or on B packed beforehand (pb).
func (e *Engine) run(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32, pb *PackedB) {
	kn := e.kernel.forWidth(n)
	if pb != nil {
		kn = pb.kn
	}
	cl := e.getCall()
	cl.transA, cl.transB = transA, transB
	cl.m, cl.n, cl.k = m, n, k
	cl.alpha, cl.beta = alpha, beta
	cl.a, cl.b, cl.c = a, b, c
	cl.lda, cl.ldb, cl.ldc = lda, ldb, ldc
	cl.bias, cl.pb = bias, pb
	cl.kn = kn

	// Split the product across threads. Each part packs its own copy of the
	// operand it shares with the others, so prefer to share the smaller one:
	// splitting rows shares B (k×n), splitting columns shares A (m×k). When
	// C is small and the inner dimension long, split the inner dimension and
	// add the partial products.
	threads := e.Threads()
	tilesM := (m + kn.mr - 1) / kn.mr
	tilesN := (n + kn.nr - 1) / kn.nr
	parts := max(1, min(threads, m*n*k/parallelMin))
	switch {
	case parts == 1:
		cl.split = splitM
	case k >= 4*max(m, n) && k >= 512*parts:
		cl.split = splitK
	case m < n && tilesN >= parts:
		cl.split = splitN
	case tilesM >= parts:
		cl.split = splitM
	case tilesN >= parts:
		cl.split = splitN
	default:
		cl.split = splitK
	}
	cl.parts = parts
	// A is read in place when few columns reuse each packed panel, so
	// packing would cost more than it saves; alpha then scales packed B.
	// A bias rides in packed A (a column of ones), so it keeps A packed
	// above directAMaxN. The choice depends on the shape only, never on
	// the thread count, so that a split by rows or columns gives the same
	// bits as one thread.
	cl.directA = n <= directAMaxN || n <= directAMaxNWide && bias == nil
	if pb != nil {
		cl.directA = pb.directA
	}
	// More chunks than threads, so that a thread the machine delays leaves
	// its share to the others; few enough that the operand each chunk packs
	// again (B for rows, A for columns) stays a small cost (dim/64 keeps it
	// under about 2%). A multiple of the threads, so none idles at the end
	// on an idle machine. The inner-dimension split keeps one chunk per
	// thread: each chunk has its partial sum.
	switch {
	case parts == 1:
		// One thread: a chunk of its own would pack the shared operand
		// again for nothing.
		cl.chunks = 1
	case cl.split == splitK:
		cl.chunks = parts
	case cl.split == splitM:
		cl.chunks = chunkCount(parts, tilesM, m)
	default:
		cl.chunks = chunkCount(parts, tilesN, n)
	}
	// Chunks of rows all multiply by the whole of B: pack it once for all of
	// them, rather than once per chunk, when it is not too big to hold. A
	// B of at most directAMaxN columns costs little to pack again, and each
	// thread's own copy stays in its core's cache. The threads pack it
	// together (packShared) and claim rows in shrinking pieces
	// (participateGuided). (One thread runs one chunk: nothing to share.)
	cl.packUnits, cl.guided = 0, false
	if cl.split == splitM && cl.chunks > 1 && pb == nil && bias == nil &&
		n > directAMaxN && k*roundUp(n, kn.nr) <= sharedBMax {
		layoutB(&cl.shared, kn, k, n, cl.directA)
		slices := (k + cl.shared.kcb - 1) / cl.shared.kcb
		cl.packPanels = cl.shared.width / kn.nr
		cl.packUnits = slices * cl.packPanels
		if len(cl.packDone) < slices {
			cl.packDone = make([]atomic.Int64, slices)
		}
		for i := range cl.packDone[:slices] {
			cl.packDone[i].Store(0)
		}
		cl.packNext.Store(0)
		cl.guided = true
		if cl.shared.kn == kn {
			cl.pb = &cl.shared
		}
	}
	for len(cl.bufs) < max(parts, cl.chunks) {
		cl.bufs = append(cl.bufs, new(threadBuf))
	}
	if cl.split == splitK {
		for _, b := range cl.bufs[1:cl.chunks] {
			if len(b.sum) < m*n {
				b.sum = make([]float32, m*n)
			}
		}
	}
	if parts == 1 {
		for i := range cl.chunks {
			cl.runChunk(i, cl.bufs[0])
		}
		e.putCall(cl)
		return
	}
	cl.next.Store(0)
	e.startWorkers(parts - 1)
	cl.wg.Add(parts - 1)
	cl.busy.Store(int64(parts - 1))
	for i := 1; i < parts; i++ {
		e.tasks <- task{cl, i}
	}
	cl.participate(cl.bufs[0])
	// The workers are usually finishing their last piece: spin a moment
	// rather than sleep and be woken.
	start := time.Now()
	for i := 0; cl.busy.Load() > 0; i++ {
		if i&63 == 63 && time.Since(start) > spinWait {
			break
		}
	}
	cl.wg.Wait()
	if cl.split == splitK {
		cl.reduce()
	}
	e.putCall(cl)
}

// chunkCount is the number of chunks for a split of dim (tiles units) among
// parts threads.
func chunkCount(parts, tiles, dim int) int {
	c := max(parts, min(4*parts, dim/64))
	c = c / parts * parts
	return max(1, min(c, tiles))
}

func (e *Engine) getCall() *call {
	e.mu.Lock()
	if n := len(e.free); n > 0 {
		cl := e.free[n-1]
		e.free = e.free[:n-1]
		e.mu.Unlock()
		return cl
	}
	e.mu.Unlock()
	return new(call)
}

func (e *Engine) putCall(cl *call) {
	cl.a, cl.b, cl.c, cl.bias, cl.pb = nil, nil, nil, nil, nil // do not keep the caller's memory alive
	e.mu.Lock()
	e.free = append(e.free, cl)
	e.mu.Unlock()
}

// startWorkers makes sure at least n worker goroutines are running.
func (e *Engine) startWorkers(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		panic("gemm: Sgemm on a closed Engine")
	}
	for ; e.workers < n; e.workers++ {
		go worker(e.tasks)
	}
}

func worker(tasks <-chan task) {
	for {
		t, ok := nextTask(tasks)
		if !ok {
			return
		}
		t.c.participate(t.c.bufs[t.part])
		t.c.busy.Add(-1) // before Done: after Done the call may be reused
		t.c.wg.Done()
	}
}

// nextTask receives the next task, looking for it for spinWait before
// sleeping: a network's products follow each other closely, and a worker
// that sleeps between them is woken late. It yields while it looks, so
// other goroutines run.
func nextTask(tasks <-chan task) (task, bool) {
	start := time.Now()
	for time.Since(start) < spinWait {
		select {
		case t, ok := <-tasks:
			return t, ok
		default:
			runtime.Gosched()
		}
	}
	t, ok := <-tasks
	return t, ok
}
