package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tlgo/tl/graph"
)

// errCapturing: a host copy or a wait would break a capture (and cannot be replayed).
var errCapturing = errors.New("not allowed during Capture (host copies and waits cannot be recorded)")

// CopyToDevice copies bytes from host memory to dst. It queues the copy on the
// stream and waits for it, so src may be reused as soon as it returns.
func (d *Device) CopyToDevice(dst graph.DevicePtr, src unsafe.Pointer, bytes int) error {
	if err := d.checkCopy(bytes, dst, src != nil); err != nil {
		return fmt.Errorf("cuda: copying %d bytes to the device at %#x: %w", bytes, uintptr(dst), err)
	}
	if bytes == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	err := d.drv.check("cuMemcpyHtoDAsync_v2", call(d.drv.memcpyHtoDAsync, uintptr(dst), uintptr(src), uintptr(bytes), d.stream))
	if err == nil {
		err = d.drv.check("cuStreamSynchronize", call(d.drv.streamSynchronize, d.stream))
	}
	if err != nil {
		return fmt.Errorf("cuda: copying %d bytes to the device at %#x: %w", bytes, uintptr(dst), err)
	}
	return nil
}

// CopyFromDevice copies bytes from src to host memory, after the work queued
// before it, and waits for the copy.
func (d *Device) CopyFromDevice(dst unsafe.Pointer, src graph.DevicePtr, bytes int) error {
	if err := d.checkCopy(bytes, src, dst != nil); err != nil {
		return fmt.Errorf("cuda: copying %d bytes from the device at %#x: %w", bytes, uintptr(src), err)
	}
	if bytes == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	err := d.drv.check("cuMemcpyDtoHAsync_v2", call(d.drv.memcpyDtoHAsync, uintptr(dst), uintptr(src), uintptr(bytes), d.stream))
	if err == nil {
		err = d.drv.check("cuStreamSynchronize", call(d.drv.streamSynchronize, d.stream))
	}
	if err != nil {
		return fmt.Errorf("cuda: copying %d bytes from the device at %#x: %w", bytes, uintptr(src), err)
	}
	return nil
}

func (d *Device) checkCopy(bytes int, dev graph.DevicePtr, host bool) error {
	switch {
	case bytes < 0:
		return errors.New("negative size")
	case bytes > 0 && (dev == 0 || !host):
		return errors.New("nil pointer")
	case d.capturing.Load():
		return errCapturing
	}
	return nil
}

// CopyDevice queues a copy of bytes from src to dst on the device.
func (d *Device) CopyDevice(dst, src graph.DevicePtr, bytes int) error {
	if bytes < 0 || (bytes > 0 && (dst == 0 || src == 0)) {
		return fmt.Errorf("cuda: device copy of %d bytes from %#x to %#x: bad arguments", bytes, uintptr(src), uintptr(dst))
	}
	if bytes == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := d.drv.check("cuMemcpyDtoDAsync_v2", call(d.drv.memcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(bytes), d.stream)); err != nil {
		return fmt.Errorf("cuda: device copy of %d bytes from %#x to %#x: %w", bytes, uintptr(src), uintptr(dst), err)
	}
	return nil
}

// Memset32 queues filling n 32-bit words at dst with v.
func (d *Device) Memset32(dst graph.DevicePtr, v uint32, n int) error {
	if n < 0 || (n > 0 && dst == 0) {
		return fmt.Errorf("cuda: filling %d words at %#x: bad arguments", n, uintptr(dst))
	}
	if n == 0 {
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := d.drv.check("cuMemsetD32Async", call(d.drv.memsetD32Async, uintptr(dst), uintptr(v), uintptr(n), d.stream)); err != nil {
		return fmt.Errorf("cuda: filling %d words at %#x with %#x: %w", n, uintptr(dst), v, err)
	}
	return nil
}

// defaultSharedLimit is the dynamic shared memory a kernel may use without
// opting in with cuFuncSetAttribute.
const defaultSharedLimit = 48 << 10

// Launch queues kernel f on the stream. params holds one pointer per kernel
// parameter, pointing at its value; they are read when Launch is called (and,
// under Capture, copied into the graph). An empty params passes NULL. Y and Z
// sizes of 0 mean 1.
func (d *Device) Launch(f graph.DeviceFunc, grid, block graph.Dim3, sharedBytes int, params []unsafe.Pointer) error {
	grid.Y, grid.Z, block.Y, block.Z = max(grid.Y, 1), max(grid.Z, 1), max(block.Y, 1), max(block.Z, 1)
	if f == 0 || grid.X == 0 || block.X == 0 || sharedBytes < 0 {
		return fmt.Errorf("cuda: launch of %#x with grid %v, block %v, %d shared bytes: bad arguments", uintptr(f), grid, block, sharedBytes)
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if sharedBytes > defaultSharedLimit {
		if err := d.optInShared(f, sharedBytes); err != nil {
			return err
		}
	}
	var p0 *unsafe.Pointer
	if len(params) > 0 {
		p0 = &params[0]
	}
	err := d.drv.check("cuLaunchKernel", call(d.drv.launchKernel, uintptr(f),
		uintptr(grid.X), uintptr(grid.Y), uintptr(grid.Z), uintptr(block.X), uintptr(block.Y), uintptr(block.Z),
		uintptr(sharedBytes), d.stream, uintptr(unsafe.Pointer(p0)), 0))
	runtime.KeepAlive(params)
	if err != nil {
		return fmt.Errorf("cuda: launch with grid %v, block %v, %d shared bytes, %d parameters: %w", grid, block, sharedBytes, len(params), err)
	}
	return nil
}

// optInShared raises f's dynamic shared memory limit, once per size.
func (d *Device) optInShared(f graph.DeviceFunc, bytes int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shared[f] >= bytes {
		return nil
	}
	const maxDynamicShared = 8 // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
	if err := d.drv.check("cuFuncSetAttribute", call(d.drv.funcSetAttribute, uintptr(f), maxDynamicShared, uintptr(bytes))); err != nil {
		return fmt.Errorf("cuda: allowing %d bytes of dynamic shared memory: %w", bytes, err)
	}
	d.shared[f] = bytes
	return nil
}

// Synchronize waits for all queued work; a failure of any of it (a kernel's
// illegal address) is reported here.
func (d *Device) Synchronize() error {
	if d.capturing.Load() {
		return fmt.Errorf("cuda: Synchronize: %w", errCapturing)
	}
	if err := d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := d.drv.check("cuStreamSynchronize", call(d.drv.streamSynchronize, d.stream)); err != nil {
		return fmt.Errorf("cuda: waiting for queued work on %s: %w", d.Name(), err)
	}
	return nil
}
