// Package par runs loops over the CPU cores without allocating.
//
// The engine's kernels split their work into ranges and hand the ranges to a Pool of
// long-lived worker goroutines. A job is a plain struct sent over a channel and the
// loop body is a func value the kernel made once, when it was compiled, so running a
// parallel loop allocates nothing: the training step stays out of the garbage
// collector's way.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

type job struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

// Pool is a fixed set of worker goroutines. The zero value is not usable: call
// NewPool. A Pool may be shared by kernels that run one after another; concurrent
// For calls are safe but share the workers.
type Pool struct {
	workers int
	jobs    chan job
	wgs     sync.Pool
	close   sync.Once
}

// NewPool starts n-1 workers (the caller of For is the n-th). n <= 0 means
// runtime.GOMAXPROCS(0).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{workers: n, jobs: make(chan job, 4*n)}
	p.wgs.New = func() any { return new(sync.WaitGroup) }
	for i := 1; i < n; i++ {
		go func() {
			for j := range p.jobs {
				j.fn(j.lo, j.hi)
				j.wg.Done()
			}
		}()
	}
	return p
}

// Workers is the number of goroutines a loop can use.
func (p *Pool) Workers() int { return p.workers }

// Close stops the workers. For must not be called after Close.
func (p *Pool) Close() { p.close.Do(func() { close(p.jobs) }) }

// For calls fn over [0, n) split into at most Workers() contiguous ranges of at
// least grain elements each, and waits for all of them.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	parts := n / grain
	if parts > p.workers {
		parts = p.workers
	}
	if parts <= 1 {
		fn(0, n)
		return
	}
	wg := p.wgs.Get().(*sync.WaitGroup)
	wg.Add(parts - 1)
	chunk := (n + parts - 1) / parts
	for i := 1; i < parts; i++ {
		lo := i * chunk
		hi := min(lo+chunk, n)
		if lo >= hi {
			wg.Done()
			continue
		}
		p.jobs <- job{fn: fn, lo: lo, hi: hi, wg: wg}
	}
	fn(0, min(chunk, n))
	wg.Wait()
	p.wgs.Put(wg)
}

// spinFor is how long Await spins before it yields between checks: waking a
// goroutine that sleeps costs tens of microseconds (more in a virtual
// machine), a fair part of a step that lasts a hundred.
const spinFor = 50 * time.Microsecond

// Await returns when v reaches n. It spins for a while, then yields between
// checks, so that the goroutine it waits for gets to run even on one core. It
// does not yield at first because the caller may be locked to its OS thread,
// and a locked goroutine that yields hands its thread over and back.
func Await(v *atomic.Int64, n int64) {
	start := time.Now()
	for i := 0; v.Load() < n; i++ {
		if i&63 == 63 && time.Since(start) > spinFor {
			runtime.Gosched()
		}
	}
}
