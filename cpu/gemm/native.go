package gemm

import (
	"sync"
	"unsafe"
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

	kn     *microKernel
	splitM bool // parts split the rows of C (else the columns)
	parts  int
	bufs   []*threadBuf
	wg     sync.WaitGroup
}

// threadBuf is one thread's packing space.
type threadBuf struct {
	a, b, tile []float32
}

func newThreadBuf(kn *microKernel) *threadBuf {
	return &threadBuf{
		a:    make([]float32, kn.mc*kn.kc),
		b:    make([]float32, kn.kc*roundUp(kn.nc, kn.nr)),
		tile: make([]float32, kn.mr*kn.nr),
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// task is one part of a call, sent to a worker.
type task struct {
	c    *call
	part int
}

// partRange returns the rows (splitM) or columns of C that part i computes:
// whole tiles are dealt out as evenly as possible.
func (c *call) partRange(i int) (lo, hi int) {
	dim, unit := c.n, c.kn.nr
	if c.splitM {
		dim, unit = c.m, c.kn.mr
	}
	tiles := (dim + unit - 1) / unit
	lo = i * tiles / c.parts * unit
	hi = min((i+1)*tiles/c.parts*unit, dim)
	return lo, hi
}

func (c *call) runPart(i int) {
	lo, hi := c.partRange(i)
	if lo >= hi {
		return
	}
	if c.splitM {
		c.block(c.bufs[i], lo, hi, 0, c.n)
	} else {
		c.block(c.bufs[i], 0, c.m, lo, hi)
	}
}

// block computes rows [m0,m1) and columns [n0,n1) of C with the classic
// Goto/BLIS loop nest: for each nc-wide column block and kc-deep slice of the
// inner dimension, pack B once (it stays in L3/L2); for each mc-tall row
// block, pack A (it stays in L2); then sweep the micro-kernel over the tiles,
// the B micro-panel staying in L1 while the A micro-panels stream past it.
func (c *call) block(buf *threadBuf, m0, m1, n0, n1 int) {
	kn := c.kn
	mr, nr := kn.mr, kn.nr
	for jc := n0; jc < n1; jc += kn.nc {
		nc := min(kn.nc, n1-jc)
		for pc := 0; pc < c.k; pc += kn.kc {
			kc := min(kn.kc, c.k-pc)
			packB(buf.b, c.b, c.ldb, c.transB, pc, jc, kc, nc, nr)
			beta, mode := c.beta, 1
			if pc > 0 {
				beta = 1
			} else if c.beta == 0 {
				mode = 0
			}
			for ic := m0; ic < m1; ic += kn.mc {
				mc := min(kn.mc, m1-ic)
				packA(buf.a, c.a, c.lda, c.transA, ic, pc, mc, kc, mr, c.alpha)
				c.macro(buf, ic, jc, mc, nc, kc, beta, mode)
			}
		}
	}
}

// macro runs the micro-kernel over an mc×nc block of C from packed panels.
func (c *call) macro(buf *threadBuf, ic, jc, mc, nc, kc int, beta float32, mode int) {
	kn := c.kn
	mr, nr := kn.mr, kn.nr
	fn := kn.fn
	ldc := c.ldc
	cs := c.c
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		bp := &buf.b[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			rows := min(mr, mc-ir)
			ap := &buf.a[ir*kc]
			off := (ic+ir)*ldc + jc + jr
			if rows == mr && cols == nr {
				fn(kc, ap, bp, &cs[off], ldc, beta, mode)
				continue
			}
			// Edge tile: compute a full tile aside, then add the part that
			// lies inside C.
			t := buf.tile
			fn(kc, ap, bp, &t[0], nr, 0, 0)
			for i := 0; i < rows; i++ {
				row := cs[off+i*ldc : off+i*ldc+cols]
				tr := t[i*nr : i*nr+cols]
				if mode == 0 {
					copy(row, tr)
					continue
				}
				for j, v := range tr {
					row[j] = beta*row[j] + v
				}
			}
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

// Below this many multiply-adds a product runs on one thread: handing work to
// another goroutine costs a few microseconds.
const parallelMin = 64 * 64 * 64

func (e *Engine) native(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	kn := e.kernel
	cl := e.getCall()
	cl.transA, cl.transB = transA, transB
	cl.m, cl.n, cl.k = m, n, k
	cl.alpha, cl.beta = alpha, beta
	cl.a, cl.b, cl.c = a, b, c
	cl.lda, cl.ldb, cl.ldc = lda, ldb, ldc
	cl.kn = kn

	// Split the product across threads along rows or columns of C. Each part
	// packs its own copy of the operand it shares with the others, so prefer
	// to share the smaller one: splitting rows shares B (k×n), splitting
	// columns shares A (m×k).
	threads := e.Threads()
	tilesM := (m + kn.mr - 1) / kn.mr
	tilesN := (n + kn.nr - 1) / kn.nr
	parts := 1
	if threads > 1 && m*n*k >= parallelMin {
		parts = threads
	}
	switch {
	case parts == 1:
		cl.splitM = true
	case m < n && tilesN >= parts:
		cl.splitM = false
	case tilesM >= parts:
		cl.splitM = true
	case tilesN >= parts:
		cl.splitM = false
	default:
		cl.splitM = tilesM >= tilesN
		parts = max(tilesM, tilesN)
	}
	cl.parts = parts
	for len(cl.bufs) < parts {
		cl.bufs = append(cl.bufs, newThreadBuf(kn))
	}
	if parts > 1 {
		e.startWorkers(parts - 1)
		cl.wg.Add(parts - 1)
		for i := 1; i < parts; i++ {
			e.tasks <- task{cl, i}
		}
	}
	cl.runPart(0)
	if parts > 1 {
		cl.wg.Wait()
	}
	e.putCall(cl)
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
	cl.a, cl.b, cl.c = nil, nil, nil // do not keep the caller's memory alive
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
	for t := range tasks {
		t.c.runPart(t.part)
		t.c.wg.Done()
	}
}

// floatPtr returns a pointer to s[i] without a bounds check; callers have
// validated the index.
func floatPtr(s []float32, i int) *float32 {
	return (*float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4))
}
