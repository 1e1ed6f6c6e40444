package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tlgo/tl/graph"
)

// Stats describe the caching allocator.
type Stats struct {
	InUse        int64 // bytes handed out by Alloc and not freed (rounded sizes)
	Cached       int64 // bytes freed and kept for reuse
	Peak         int64 // the most device memory held at once (in use plus cached)
	DeviceAllocs int64 // cuMemAlloc calls that succeeded
	Hits         int64 // Allocs served from the cache
}

// Rounding: small blocks to 512 bytes, large ones to 2 MiB, so that the sizes
// of one model's tensors fall into few free lists.
const (
	smallGrain = 512
	largeGrain = 2 << 20
	smallLimit = 1 << 20
)

// roundSize is the block size used for a request of n bytes.
func roundSize(n int) int {
	if n <= 0 {
		n = 1
	}
	if n < smallLimit {
		return (n + smallGrain - 1) / smallGrain * smallGrain
	}
	return (n + largeGrain - 1) / largeGrain * largeGrain
}

// allocator keeps freed blocks in per-size free lists; a plan allocates the
// same sizes every step, so after the first step no device call is made.
type allocator struct {
	// exact keeps requested sizes unrounded (on the emulator), so that the
	// emulator's guard bytes right after each block catch a kernel writing
	// past the end of a tensor.
	exact bool
	free  map[int][]graph.DevicePtr
	live  map[graph.DevicePtr]int
	stats Stats
}

func (a *allocator) init() {
	a.free = map[int][]graph.DevicePtr{}
	a.live = map[graph.DevicePtr]int{}
}

func (a *allocator) held() int64 { return a.stats.InUse + a.stats.Cached }

// Alloc returns at least bytes of device memory, from the cache when a block
// of the rounded size is free (on the emulator, sizes are not rounded). Out of memory, it releases the cache (Trim) and
// tries once more.
func (d *Device) Alloc(bytes int) (graph.DevicePtr, error) {
	if bytes < 0 {
		return 0, fmt.Errorf("cuda: Alloc of %d bytes", bytes)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.allocLocked(bytes)
}

func (d *Device) allocLocked(bytes int) (graph.DevicePtr, error) {
	a := &d.alloc
	size := roundSize(bytes)
	if a.exact {
		size = max(bytes, 1)
	}
	if list := a.free[size]; len(list) > 0 {
		p := list[len(list)-1]
		a.free[size] = list[:len(list)-1]
		a.live[p] = size
		a.stats.Hits++
		a.stats.Cached -= int64(size)
		a.stats.InUse += int64(size)
		return p, nil
	}
	if err := d.enter(); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	p, err := d.memAlloc(size)
	if codeOf(err) == errOutOfMemory && a.stats.Cached > 0 && !d.capturing.Load() {
		if terr := d.trimLocked(); terr != nil {
			return 0, fmt.Errorf("cuda: allocating %d bytes: releasing the cache after %v: %w", bytes, err, terr)
		}
		p, err = d.memAlloc(size)
	}
	if err != nil {
		return 0, fmt.Errorf("cuda: allocating %d bytes (a %d-byte block; %d in use, %d cached, %d total on %s): %w",
			bytes, size, a.stats.InUse, a.stats.Cached, d.totalMem, d.Name(), err)
	}
	a.live[p] = size
	a.stats.DeviceAllocs++
	a.stats.InUse += int64(size)
	a.stats.Peak = max(a.stats.Peak, a.held())
	return p, nil
}

func (d *Device) memAlloc(size int) (graph.DevicePtr, error) {
	var p uintptr
	if err := d.drv.check("cuMemAlloc_v2", call(d.drv.memAlloc, uintptr(unsafe.Pointer(&p)), uintptr(size))); err != nil {
		return 0, err
	}
	return graph.DevicePtr(p), nil
}

// Free returns memory from Alloc to the cache (no device call). Freeing 0, or
// anything after Close, does nothing; freeing anything else Alloc did not return, or freeing twice, is a
// programming error and panics. Work already queued may still use the block:
// it is safe because all work runs in order on the device's one stream.
func (d *Device) Free(p graph.DevicePtr) {
	if p == 0 || d.closed.Load() {
		return // Close released everything already
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.freeLocked(p)
}

func (d *Device) freeLocked(p graph.DevicePtr) {
	a := &d.alloc
	size, ok := a.live[p]
	if !ok {
		panic(fmt.Sprintf("cuda: Free(%#x): not a pointer from Alloc, or already freed", uintptr(p)))
	}
	delete(a.live, p)
	a.free[size] = append(a.free[size], p)
	a.stats.InUse -= int64(size)
	a.stats.Cached += int64(size)
}

// Stats returns the allocator's counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.alloc.stats
}

// Trim waits for queued work and gives the cached blocks back to the device.
// It cannot run during Capture.
func (d *Device) Trim() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.capturing.Load() {
		return errors.New("cuda: Trim during Capture")
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	return d.trimLocked()
}

// trimLocked frees the cached blocks; the context is current.
func (d *Device) trimLocked() error {
	if err := d.drv.check("cuStreamSynchronize", call(d.drv.streamSynchronize, d.stream)); err != nil {
		return err
	}
	return d.alloc.releaseCached(d.drv)
}

func (a *allocator) releaseCached(drv *driver) error {
	var errs []error
	for size, list := range a.free {
		for _, p := range list {
			errs = append(errs, drv.check("cuMemFree_v2", call(drv.memFree, uintptr(p))))
			a.stats.Cached -= int64(size)
		}
		delete(a.free, size)
	}
	return errors.Join(errs...)
}

// releaseAll frees every block, in use or cached (Close).
func (a *allocator) releaseAll(drv *driver) error {
	errs := []error{a.releaseCached(drv)}
	for p, size := range a.live {
		errs = append(errs, drv.check("cuMemFree_v2", call(drv.memFree, uintptr(p))))
		a.stats.InUse -= int64(size)
		delete(a.live, p)
	}
	return errors.Join(errs...)
}
