package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/tlgo/tl/graph"
)

// Graph is a captured sequence of device work (a CUDA graph, instantiated).
type Graph struct {
	d           *Device
	graph, exec uintptr
}

var _ graph.DeviceGraph = (*Graph)(nil)

// Capture records the async work run queues (launches, gemms, device copies,
// fills) as a CUDA graph without running it. Host copies, Synchronize and Trim
// fail during capture. The capture mode is relaxed, so that cuBLAS and the
// allocator may make their own calls while it runs. If run fails, the capture is
// ended, what was recorded is destroyed, and run's error returned.
func (d *Device) Capture(run func() error) (graph.DeviceGraph, error) {
	g, err := d.capture(run)
	if err != nil {
		return nil, err // a typed nil *Graph would make a non-nil interface
	}
	return g, nil
}

func (d *Device) capture(run func() error) (*Graph, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer runtime.UnlockOSThread()
	if !d.capturing.CompareAndSwap(false, true) {
		return nil, errors.New("cuda: Capture inside Capture")
	}
	defer d.capturing.Store(false)
	// cuBLAS is set up before capturing, so that a gemm in run does not
	// create the handle mid-capture; without cuBLAS, only a gemm fails.
	d.mu.Lock()
	_, _ = d.cublasLocked()
	d.mu.Unlock()

	const relaxed = 2 // CU_STREAM_CAPTURE_MODE_RELAXED
	if err := d.drv.check("cuStreamBeginCapture_v2", call(d.drv.streamBeginCapture, d.stream, relaxed)); err != nil {
		return nil, fmt.Errorf("cuda: starting a capture: %w", err)
	}
	ended := false
	defer func() {
		if !ended { // run panicked or called runtime.Goexit (t.Fatal): end the capture anyway
			var gr uintptr
			call(d.drv.streamEndCapture, d.stream, uintptr(unsafe.Pointer(&gr)))
			if gr != 0 {
				call(d.drv.graphDestroy, gr)
			}
		}
	}()
	runErr := run()
	ended = true
	g := &Graph{d: d}
	endErr := d.drv.check("cuStreamEndCapture", call(d.drv.streamEndCapture, d.stream, uintptr(unsafe.Pointer(&g.graph))))
	if runErr != nil || endErr != nil {
		if g.graph != 0 {
			call(d.drv.graphDestroy, g.graph)
		}
		if runErr != nil {
			return nil, fmt.Errorf("cuda: capture: %w", runErr)
		}
		return nil, fmt.Errorf("cuda: ending a capture: %w", endErr)
	}
	if err := d.drv.check("cuGraphInstantiateWithFlags", call(d.drv.graphInstantiate, uintptr(unsafe.Pointer(&g.exec)), g.graph, 0)); err != nil {
		call(d.drv.graphDestroy, g.graph)
		return nil, fmt.Errorf("cuda: instantiating the captured graph: %w", err)
	}
	return g, nil
}

// Launch queues a replay of the graph on the device's stream.
func (g *Graph) Launch() error {
	if g.exec == 0 {
		return errors.New("cuda: launching a closed graph")
	}
	if err := g.d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := g.d.drv.check("cuGraphLaunch", call(g.d.drv.graphLaunch, g.exec, g.d.stream)); err != nil {
		return fmt.Errorf("cuda: replaying a captured graph: %w", err)
	}
	return nil
}

// Close destroys the graph. Replays already queued complete first (the driver
// defers the destruction).
func (g *Graph) Close() {
	if g.exec == 0 || g.d.enter() != nil {
		return
	}
	defer runtime.UnlockOSThread()
	call(g.d.drv.graphExecDestroy, g.exec)
	call(g.d.drv.graphDestroy, g.graph)
	g.exec, g.graph = 0, 0
}

// Timer measures device time between Start and Stop with CUDA events.
type Timer struct {
	d          *Device
	start, end uintptr
}

// NewTimer creates a timer; Close releases it.
func (d *Device) NewTimer() (*Timer, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer runtime.UnlockOSThread()
	t := &Timer{d: d}
	if err := d.drv.check("cuEventCreate", call(d.drv.eventCreate, uintptr(unsafe.Pointer(&t.start)), 0)); err != nil {
		return nil, fmt.Errorf("cuda: timer: %w", err)
	}
	if err := d.drv.check("cuEventCreate", call(d.drv.eventCreate, uintptr(unsafe.Pointer(&t.end)), 0)); err != nil {
		call(d.drv.eventDestroy, t.start)
		return nil, fmt.Errorf("cuda: timer: %w", err)
	}
	return t, nil
}

// Start records the start event on the stream (after the work queued so far).
func (t *Timer) Start() error {
	if err := t.d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := t.d.drv.check("cuEventRecord", call(t.d.drv.eventRecord, t.start, t.d.stream)); err != nil {
		return fmt.Errorf("cuda: timer start: %w", err)
	}
	return nil
}

// Stop records the end event, waits for it and returns the device time since
// Start in milliseconds.
func (t *Timer) Stop() (ms float32, err error) {
	if err := t.d.enter(); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	drv := t.d.drv
	err = errors.Join(
		drv.check("cuEventRecord", call(drv.eventRecord, t.end, t.d.stream)),
		drv.check("cuEventSynchronize", call(drv.eventSynchronize, t.end)))
	if err == nil {
		err = drv.check("cuEventElapsedTime", call(drv.eventElapsedTime, uintptr(unsafe.Pointer(&ms)), t.start, t.end))
	}
	if err != nil {
		return 0, fmt.Errorf("cuda: timer stop: %w", err)
	}
	return ms, nil
}

// Close releases the timer's events.
func (t *Timer) Close() {
	if t.start == 0 || t.d.enter() != nil {
		return
	}
	defer runtime.UnlockOSThread()
	call(t.d.drv.eventDestroy, t.start)
	call(t.d.drv.eventDestroy, t.end)
	t.start, t.end = 0, 0
}

var _ graph.DeviceProfiler = (*Device)(nil)

// marks are CUDA events recorded between queued work (graph.DeviceMarks).
type marks struct {
	d  *Device
	ev []uintptr
}

// NewMarks creates n events for timing the queue (graph.DeviceProfiler).
func (d *Device) NewMarks(n int) (graph.DeviceMarks, error) {
	if n < 1 {
		return nil, fmt.Errorf("cuda: %d marks", n)
	}
	if err := d.enter(); err != nil {
		return nil, err
	}
	defer runtime.UnlockOSThread()
	m := &marks{d: d, ev: make([]uintptr, n)}
	for i := range m.ev {
		if err := d.drv.check("cuEventCreate", call(d.drv.eventCreate, uintptr(unsafe.Pointer(&m.ev[i])), 0)); err != nil {
			m.closeLocked()
			return nil, fmt.Errorf("cuda: mark %d of %d: %w", i, n, err)
		}
	}
	return m, nil
}

func (m *marks) Record(i int) error {
	if i < 0 || i >= len(m.ev) {
		return fmt.Errorf("cuda: mark %d of %d", i, len(m.ev))
	}
	if err := m.d.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := m.d.drv.check("cuEventRecord", call(m.d.drv.eventRecord, m.ev[i], m.d.stream)); err != nil {
		return fmt.Errorf("cuda: recording mark %d: %w", i, err)
	}
	return nil
}

func (m *marks) Elapsed(i, j int) (float32, error) {
	if i < 0 || j < 0 || i >= len(m.ev) || j >= len(m.ev) {
		return 0, fmt.Errorf("cuda: time from mark %d to %d of %d", i, j, len(m.ev))
	}
	if err := m.d.enter(); err != nil {
		return 0, err
	}
	defer runtime.UnlockOSThread()
	var ms float32
	drv := m.d.drv
	err := drv.check("cuEventSynchronize", call(drv.eventSynchronize, m.ev[j]))
	if err == nil {
		err = drv.check("cuEventElapsedTime", call(drv.eventElapsedTime, uintptr(unsafe.Pointer(&ms)), m.ev[i], m.ev[j]))
	}
	if err != nil {
		return 0, fmt.Errorf("cuda: time from mark %d to %d: %w", i, j, err)
	}
	return ms, nil
}

func (m *marks) Close() {
	if m.d.enter() != nil {
		return
	}
	defer runtime.UnlockOSThread()
	m.closeLocked()
}

// closeLocked destroys the events; the context is current.
func (m *marks) closeLocked() {
	for i, e := range m.ev {
		if e != 0 {
			call(m.d.drv.eventDestroy, e)
			m.ev[i] = 0
		}
	}
}
