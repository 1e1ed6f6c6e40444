package graph

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/tlgo/tl/tensor"
)

// OnDevice holds a graph's variables and constants in one device's memory,
// shared by every plan compiled on that device. Optimizer updates change the
// device copies only: Pull copies them back into the variables' host tensors
// (before saving a model), Push the other way (after loading one).
type OnDevice struct {
	g     *Graph
	dev   Device
	mem   map[*Node]DevicePtr // variables and constants
	order []*Node             // in upload order, for Pull and Push
	plans []*DevicePlan
}

// OnDevice prepares to run the graph on dev. Variables are uploaded when a plan
// first needs them.
func (g *Graph) OnDevice(dev Device) *OnDevice {
	return &OnDevice{g: g, dev: dev, mem: map[*Node]DevicePtr{}}
}

// Device returns the device.
func (s *OnDevice) Device() Device { return s.dev }

// Graph returns the graph whose variables this holds.
func (s *OnDevice) Graph() *Graph { return s.g }

func hostPtr(t *tensor.Tensor) unsafe.Pointer {
	if t.Size() == 0 {
		return nil
	}
	if t.DType() == tensor.Int32 {
		return unsafe.Pointer(&t.Int32s()[0])
	}
	return unsafe.Pointer(&t.Float32s()[0])
}

// leaf returns the device copy of a variable or constant, uploading it once.
func (s *OnDevice) leaf(n *Node) (DevicePtr, error) {
	if p, ok := s.mem[n]; ok {
		return p, nil
	}
	bytes := 4 * n.data.Size()
	p, err := s.dev.Alloc(max(bytes, 4))
	if err != nil {
		return 0, fmt.Errorf("graph: device memory for %s %v: %w", n.name, n.value, err)
	}
	if bytes > 0 {
		if err := s.dev.CopyToDevice(p, hostPtr(n.data), bytes); err != nil {
			s.dev.Free(p)
			return 0, fmt.Errorf("graph: uploading %s %v: %w", n.name, n.value, err)
		}
	}
	s.mem[n] = p
	s.order = append(s.order, n)
	return p, nil
}

// Pull copies every variable's device value into its host tensor.
func (s *OnDevice) Pull() error {
	for _, n := range s.order {
		if _, isVar := n.op.(*variableOp); !isVar || n.data.Size() == 0 {
			continue
		}
		if err := s.dev.CopyFromDevice(hostPtr(n.data), s.mem[n], 4*n.data.Size()); err != nil {
			return fmt.Errorf("graph: reading %s from the device: %w", n.name, err)
		}
	}
	return nil
}

// Push copies every variable's host tensor to its device copy.
func (s *OnDevice) Push() error {
	for _, n := range s.order {
		if _, isVar := n.op.(*variableOp); !isVar || n.data.Size() == 0 {
			continue
		}
		if err := s.dev.CopyToDevice(s.mem[n], hostPtr(n.data), 4*n.data.Size()); err != nil {
			return fmt.Errorf("graph: writing %s to the device: %w", n.name, err)
		}
	}
	return nil
}

// PushVars copies the host tensors of the given variables to their device
// copies: after a host-side change of a few (a learning rate set by a
// schedule), cheaper than Push. Variables not on the device yet are skipped:
// they are uploaded from the host when a plan first needs them.
func (s *OnDevice) PushVars(nodes ...*Node) error {
	for _, n := range nodes {
		p, ok := s.mem[n]
		if !ok || n.data == nil || n.data.Size() == 0 {
			continue
		}
		if err := s.dev.CopyToDevice(p, hostPtr(n.data), 4*n.data.Size()); err != nil {
			return fmt.Errorf("graph: writing %s to the device: %w", n.name, err)
		}
	}
	return nil
}

// Read returns a host copy of a variable's or constant's device value (its host
// tensor itself if it was never uploaded).
func (s *OnDevice) Read(n *Node) (*tensor.Tensor, error) {
	p, ok := s.mem[n]
	if !ok {
		if n.data == nil {
			return nil, fmt.Errorf("graph: Read: %s is not a variable or constant", n.name)
		}
		return n.data.Clone(), nil
	}
	t := tensor.New(n.value.DType, n.value.Shape...)
	if t.Size() > 0 {
		if err := s.dev.CopyFromDevice(hostPtr(t), p, 4*t.Size()); err != nil {
			return nil, fmt.Errorf("graph: reading %s from the device: %w", n.name, err)
		}
	}
	return t, nil
}

// Close releases the plans and the device copies (without pulling them).
func (s *OnDevice) Close() {
	for _, p := range s.plans {
		p.Close()
	}
	s.plans = nil
	for _, n := range s.order {
		s.dev.Free(s.mem[n])
	}
	s.mem, s.order = map[*Node]DevicePtr{}, nil
}

// DeviceOptions configure a device plan.
type DeviceOptions struct {
	// Training selects the training behaviour of ops that have two.
	Training bool
	// NoCapture runs the kernels one launch at a time on every Run. By default the
	// first Run launches them one at a time and later runs replay a device graph
	// recorded on the second Run: one launch per step.
	NoCapture bool
	// Carry maps targets to placeholders of the same shape: at the end of each
	// run the target's value is copied, on the device, into the placeholder,
	// which the next run reads instead of its host Input. It keeps a recurrent
	// state (an LSTM's h and c) on the device from step to step. The first run,
	// and the first after ResetCarry, read the host Input. Carried targets are
	// not copied to the host: their Outputs entries are nil.
	Carry map[*Node]*Node
}

// DevicePlan is a Plan on a Device: the same nodes, order and memory plan, with
// every intermediate in one device arena and every kernel queued on the device.
// Run copies the feeds in, runs the step and copies the targets out.
type DevicePlan struct {
	s        *OnDevice
	dev      Device
	opts     DeviceOptions
	kernels  []Kernel
	knodes   []*Node // the node of each kernel, for errors; nil for tl_step
	planTail int     // kernels from here on are the plan's: carries, result copies
	tensors  map[*Node]DeviceTensor

	feeds   []*Node
	feedH   []*tensor.Tensor // host side of each feed, views of feedHost
	feedD   []DeviceTensor   // views of feedBlock
	targets []*Node
	targetH []*tensor.Tensor // host copies of the targets after Run, views of outHost
	targetD []DeviceTensor

	// One copy in and one copy out per step: every feed lives in feedBlock
	// (carried feeds last, so that a step with live carries copies the prefix
	// feedLive), mirrored by feedHost; the step ends by copying each target
	// into outBlock, ahead of the error slots, and outHost receives both at
	// once. A host round trip costs more than a small kernel, and small
	// models (word2vec) run steps of a few kernels.
	feedBlock DevicePtr
	feedHost  []uint32
	feedLive  int // bytes of the feeds that are not carried
	outBlock  DevicePtr
	outHost   []uint32
	outSlots  int // word offset of the error slots in outBlock

	arena      DevicePtr
	arenaBytes int
	counter    DevicePtr // uint64 step counter
	slots      DevicePtr // int32 error slots
	slotNode   []*Node
	slotFmt    []func(int32) error
	slotHost   []int32
	owned      []DevicePtr // memory freed on Close
	graph      DeviceGraph
	captureErr error
	carried    []bool // per feed: read from the device after the first run
	carryLive  bool
	runs       int
	runErr     error
	closed     bool
}

func (p *DevicePlan) newSlot(n *Node, format func(int32) error) int {
	p.slotNode = append(p.slotNode, n)
	p.slotFmt = append(p.slotFmt, format)
	return len(p.slotNode) - 1
}

func (p *DevicePlan) alloc(bytes int) (DevicePtr, error) {
	ptr, err := p.dev.Alloc(max(bytes, 4))
	if err != nil {
		return 0, err
	}
	p.owned = append(p.owned, ptr)
	return ptr, nil
}

// Compile builds a device plan computing targets for placeholders of the fed
// shapes. Every op the targets need must implement DeviceOp.
func (s *OnDevice) Compile(opts DeviceOptions, feeds map[*Node]tensor.Shape, targets ...*Node) (*DevicePlan, error) {
	if s.g.err != nil {
		return nil, fmt.Errorf("graph: cannot compile a graph with a building error: %w", s.g.err)
	}
	if len(targets) == 0 {
		return nil, errors.New("graph: device Compile: no targets")
	}
	l, err := s.g.layout(feeds, targets, opts.Training, false)
	if err != nil {
		return nil, err
	}
	// Every op first, so that a missing kernel is reported before any memory is
	// taken.
	var missing []string
	seen := map[string]bool{}
	for _, n := range l.order {
		if isLeaf(n.op) || l.root[n] != n || l.idle[n] {
			continue
		}
		if _, ok := n.op.(DeviceOp); !ok && !seen[n.op.Type()] {
			seen[n.op.Type()] = true
			missing = append(missing, fmt.Sprintf("%s (%s)", n.op.Type(), n.name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("graph: no device kernel for %v", missing)
	}

	p := &DevicePlan{s: s, dev: s.dev, opts: opts, tensors: make(map[*Node]DeviceTensor, len(l.order))}
	fail := func(err error) (*DevicePlan, error) {
		p.Close()
		return nil, err
	}
	// One arena for every slab, each slab 256-byte aligned.
	slabOff := make(map[*slab]int, len(l.slabs))
	for _, sl := range l.slabs {
		slabOff[sl] = p.arenaBytes
		p.arenaBytes += (4*sl.size + 255) &^ 255
	}
	if p.arena, err = p.alloc(p.arenaBytes); err != nil {
		return fail(fmt.Errorf("graph: device arena of %d bytes: %w", p.arenaBytes, err))
	}
	if p.counter, err = p.alloc(8); err != nil {
		return fail(err)
	}
	if err := p.dev.Memset32(p.counter, 0, 2); err != nil {
		return fail(err)
	}
	// The feed block: every placeholder the plan reads, the carried ones last.
	carriedFeed := map[*Node]bool{}
	for _, to := range opts.Carry {
		carriedFeed[to] = true
	}
	feedOff := map[*Node]int{} // word offset in feedBlock
	words := 0
	for _, carried := range []bool{false, true} {
		if carried {
			p.feedLive = 4 * words
		}
		for _, n := range l.order {
			if _, ok := n.op.(placeholderOp); !ok || l.root[n] != n || l.vals[n].DType == 0 || carriedFeed[n] != carried {
				continue
			}
			feedOff[n] = words
			words += (l.vals[n].Shape.Size() + 63) &^ 63 // 256-byte aligned
		}
	}
	if p.feedBlock, err = p.alloc(4 * words); err != nil {
		return fail(fmt.Errorf("graph: device memory for the feeds (%d bytes): %w", 4*words, err))
	}
	p.feedHost = make([]uint32, words)

	base := make(map[*Node]DevicePtr) // device address of each root's memory
	for _, n := range l.order {
		v := l.vals[n]
		if v.DType == 0 {
			continue
		}
		r := l.root[n]
		rp, ok := base[r]
		if !ok {
			switch {
			case isLeaf(r.op) && r.data != nil:
				if rp, err = s.leaf(r); err != nil {
					return fail(err)
				}
			case isLeaf(r.op): // placeholder
				rp = p.feedBlock + DevicePtr(4*feedOff[r])
			default:
				rp = p.arena + DevicePtr(slabOff[l.places[r].s])
			}
			base[r] = rp
		}
		p.tensors[n] = DeviceTensor{Ptr: rp + DevicePtr(4*l.places[n].offset), Shape: v.Shape, DType: v.DType}
		if _, ok := n.op.(placeholderOp); ok {
			p.feeds = append(p.feeds, n)
			p.feedH = append(p.feedH, hostView(p.feedHost[feedOff[n]:], v.DType, v.Shape))
			p.feedD = append(p.feedD, p.tensors[n])
		}
	}

	for _, t := range targets {
		p.targets = append(p.targets, t)
		p.targetD = append(p.targetD, p.tensors[t])
	}
	p.carried = make([]bool, len(p.feeds))
	carriedTarget := make([]bool, len(p.targets))
	type carry struct{ fi, ti int }
	var carries []carry
	for from, to := range opts.Carry {
		ti, fi := slices.Index(p.targets, from), slices.Index(p.feeds, to)
		switch {
		case ti < 0:
			return fail(fmt.Errorf("graph: Carry from %v: not a target of the plan", from))
		case fi < 0:
			return fail(fmt.Errorf("graph: Carry into %v: not a placeholder the plan reads", to))
		case !p.targetD[ti].Shape.Equal(p.feedD[fi].Shape) || p.targetD[ti].DType != p.feedD[fi].DType:
			return fail(fmt.Errorf("graph: Carry from %s %v into %s %v: the shapes differ", from.name, p.targetD[ti], to.name, p.feedD[fi]))
		case p.carried[fi]:
			return fail(fmt.Errorf("graph: Carry into %s twice", to.name))
		}
		p.carried[fi], carriedTarget[ti] = true, true
		carries = append(carries, carry{fi, ti})
	}
	slices.SortFunc(carries, func(a, b carry) int { return a.ti - b.ti }) // map order is random

	// The out block: the targets copied to the host, then the error slots.
	outOff := make([]int, len(p.targets))
	words = 0
	for i, d := range p.targetD {
		outOff[i] = -1
		if d.DType == 0 || carriedTarget[i] || d.Size() == 0 {
			continue
		}
		outOff[i] = words
		words += (d.Size() + 3) &^ 3
	}
	p.outSlots = words
	nslots := max(len(l.order), 1) // at most one per node
	if p.outBlock, err = p.alloc(4 * (words + nslots)); err != nil {
		return fail(fmt.Errorf("graph: device memory for the results (%d bytes): %w", 4*(words+nslots), err))
	}
	p.slots = p.outBlock + DevicePtr(4*words)
	if err := p.dev.Memset32(p.slots, 0, nslots); err != nil {
		return fail(err)
	}
	p.outHost = make([]uint32, words+nslots)
	for i, d := range p.targetD {
		switch {
		case d.DType == 0 || carriedTarget[i]:
			p.targetH = append(p.targetH, nil)
		case outOff[i] < 0:
			p.targetH = append(p.targetH, tensor.New(d.DType, d.Shape...))
		default:
			p.targetH = append(p.targetH, hostView(p.outHost[outOff[i]:], d.DType, d.Shape))
		}
	}

	step, err := (&DeviceCtx{Dev: p.dev, p: p, Node: targets[0], slot: -1}).Launch1D("tl_step", nslots, p.counter, p.slots, nslots)
	if err != nil {
		return fail(fmt.Errorf("graph: device plan: %w", err))
	}
	p.kernels = append(p.kernels, step)
	p.knodes = append(p.knodes, nil)
	for _, n := range l.order {
		if isLeaf(n.op) || l.root[n] != n || l.idle[n] {
			continue
		}
		in := make([]DeviceTensor, len(n.inputs))
		for i, x := range n.inputs {
			in[i] = p.tensors[x]
		}
		h := uint64(n.id+1) * 0x9e3779b97f4a7c15
		ctx := &DeviceCtx{Dev: p.dev, Training: opts.Training, Seed: s.g.seed ^ h, Node: n, p: p, slot: -1}
		k, err := n.op.(DeviceOp).CompileDevice(ctx, in, p.tensors[n])
		if err != nil {
			return fail(fmt.Errorf("graph: compiling device kernel of %s (%s) on %s: %w", n.name, n.op.Type(), describeD(in), err))
		}
		if k != nil {
			p.kernels = append(p.kernels, k)
			p.knodes = append(p.knodes, n)
		}
	}
	p.slotHost = unsafe.Slice((*int32)(unsafe.Pointer(&p.outHost[p.outSlots])), len(p.slotNode))
	p.planTail = len(p.kernels)
	for _, c := range carries {
		from := p.targets[c.ti]
		ctx := &DeviceCtx{Dev: p.dev, p: p, Node: from, slot: -1}
		p.kernels = append(p.kernels, ctx.Copy(p.feedD[c.fi].Ptr, p.targetD[c.ti].Ptr, p.feedD[c.fi].Size()))
		p.knodes = append(p.knodes, from)
	}
	for i, off := range outOff {
		if off < 0 {
			continue
		}
		ctx := &DeviceCtx{Dev: p.dev, p: p, Node: p.targets[i], slot: -1}
		p.kernels = append(p.kernels, ctx.Copy(p.outBlock+DevicePtr(4*off), p.targetD[i].Ptr, p.targetD[i].Size()))
		p.knodes = append(p.knodes, p.targets[i])
	}
	if err := p.dev.Synchronize(); err != nil {
		return fail(fmt.Errorf("graph: device plan setup: %w", err))
	}
	s.plans = append(s.plans, p)
	return p, nil
}

// feedBytes is how much of the feed block a Run copies: all of it, or the
// feeds that are not carried once the carried ones live on the device.
func (p *DevicePlan) feedBytes() int {
	if p.carryLive {
		return p.feedLive
	}
	return 4 * len(p.feedHost)
}

// hostView returns a tensor of dtype and shape over the first words of w.
func hostView(w []uint32, dt tensor.DType, shape tensor.Shape) *tensor.Tensor {
	n := shape.Size()
	if n == 0 {
		return tensor.New(dt, shape...)
	}
	var t *tensor.Tensor
	var err error
	if dt == tensor.Int32 {
		t, err = tensor.FromInt32(unsafe.Slice((*int32)(unsafe.Pointer(&w[0])), n), shape...)
	} else {
		t, err = tensor.FromFloat32(unsafe.Slice((*float32)(unsafe.Pointer(&w[0])), n), shape...)
	}
	if err != nil {
		panic(err) // n is the shape's size
	}
	return t
}

func nodeNames(ns []*Node) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n.name
	}
	return s
}

func describeD(ts []DeviceTensor) string {
	str := ""
	for i, t := range ts {
		if i > 0 {
			str += ", "
		}
		if t.DType == 0 {
			str += "none"
		} else {
			str += t.String()
		}
	}
	return str
}

// queue queues every kernel; it stops at the first launch error.
func (p *DevicePlan) queue() error {
	for i, k := range p.kernels {
		k.Run()
		if p.runErr != nil {
			err := p.runErr
			p.runErr = nil
			if n := p.knodes[i]; n != nil {
				return fmt.Errorf("graph: device run of %s (%s): %w", n.name, n.op.Type(), err)
			}
			return fmt.Errorf("graph: device run: %w", err)
		}
	}
	return nil
}

// Run copies the feeds (written through Input) to the device, runs the step and
// copies the targets back (Outputs). Bad input met by a kernel (an index out of
// range) returns an error naming the node; variables may then have been updated
// by nodes that ran after it, unlike on the CPU, where the step stops.
func (p *DevicePlan) Run() error { return p.step(p.launch) }

// step copies the feeds in, has exec queue the step's work, and copies the
// results and the error slots out.
func (p *DevicePlan) step(exec func() error) error {
	if p.closed {
		return errors.New("graph: Run on a closed device plan")
	}
	if n := p.feedBytes(); n > 0 {
		if err := p.dev.CopyToDevice(p.feedBlock, unsafe.Pointer(&p.feedHost[0]), n); err != nil {
			return fmt.Errorf("graph: copying the feeds (%s) to the device: %w", nodeNames(p.feeds), err)
		}
	}
	if err := exec(); err != nil {
		return err
	}
	// One copy back: the targets and the error slots; it waits for the step.
	if n := p.outSlots + len(p.slotHost); n > 0 {
		if err := p.dev.CopyFromDevice(unsafe.Pointer(&p.outHost[0]), p.outBlock, 4*n); err != nil {
			return fmt.Errorf("graph: device step: %w", err)
		}
	} else if err := p.dev.Synchronize(); err != nil {
		return fmt.Errorf("graph: device step: %w", err)
	}
	for i, code := range p.slotHost {
		if code == 0 {
			continue
		}
		n := p.slotNode[i]
		err := fmt.Errorf("kernel reported error code %d", code)
		if f := p.slotFmt[i]; f != nil {
			err = f(code)
		}
		return fmt.Errorf("graph: running %s (%s) on %s: %w", n.name, n.op.Type(), p.dev.Name(), err)
	}
	p.carryLive = true
	return nil
}

// launch queues the step: launch by launch on the first run, recorded as a
// device graph on the second, replayed after that.
func (p *DevicePlan) launch() error {
	p.runs++
	switch {
	case p.graph != nil:
		if err := p.graph.Launch(); err != nil {
			return fmt.Errorf("graph: launching the step's device graph: %w", err)
		}
	case p.runs >= 2 && !p.opts.NoCapture:
		g, err := p.dev.Capture(p.queue)
		if err != nil {
			// Run on without graphs (slower, as correct); CaptureError says why.
			p.captureErr = fmt.Errorf("graph: capturing the step as a device graph: %w", err)
			p.opts.NoCapture = true
			if err := p.queue(); err != nil {
				return err
			}
			break
		}
		p.graph = g
		if err := g.Launch(); err != nil {
			return fmt.Errorf("graph: launching the step's device graph: %w", err)
		}
	default:
		return p.queue()
	}
	return nil
}

// ResetCarry makes the next Run read the carried placeholders from their host
// Input again (a new sequence: write the initial state there first).
func (p *DevicePlan) ResetCarry() { p.carryLive = false }

// Input returns the host tensor to write a placeholder's value into before Run.
func (p *DevicePlan) Input(n *Node) *tensor.Tensor {
	for i, f := range p.feeds {
		if f == n {
			return p.feedH[i]
		}
	}
	return nil
}

// Outputs returns host copies of the targets (nil for updaters) made by the last
// Run, in the order given to Compile.
func (p *DevicePlan) Outputs() []*tensor.Tensor { return p.targetH }

// Tensor returns where a node's value lives on the device (valid, for
// intermediates, only until a later node reuses the memory).
func (p *DevicePlan) Tensor(n *Node) (DeviceTensor, bool) {
	t, ok := p.tensors[n]
	return t, ok
}

// Nodes lists the nodes that run kernels, in order.
func (p *DevicePlan) Nodes() []*Node { return p.knodes[1:] }

// ArenaBytes is the device memory of the plan's intermediates.
func (p *DevicePlan) ArenaBytes() int { return p.arenaBytes }

// Captured reports whether runs replay a recorded device graph.
func (p *DevicePlan) Captured() bool { return p.graph != nil }

// CaptureError is why the step could not be recorded as a device graph (the plan
// then launches its kernels one by one), or nil.
func (p *DevicePlan) CaptureError() error { return p.captureErr }

// Poison fills the plan's intermediates with NaN (all bits set), so that a test
// finds any element a kernel failed to write.
func (p *DevicePlan) Poison() error {
	if p.arenaBytes > 0 {
		if err := p.dev.Memset32(p.arena, 0xFFFFFFFF, p.arenaBytes/4); err != nil {
			return err
		}
	}
	return p.dev.Synchronize()
}

// Close frees the plan's device memory and graph. Variables stay on the device
// (OnDevice owns them).
func (p *DevicePlan) Close() {
	if p.closed {
		return
	}
	p.closed = true
	if p.graph != nil {
		p.graph.Close()
		p.graph = nil
	}
	for _, ptr := range p.owned {
		p.dev.Free(ptr)
	}
	p.owned = nil
}

// DeviceExecutor is Executor's twin on a device: one DevicePlan per set of fed
// shapes, compiled on first use.
type DeviceExecutor struct {
	s       *OnDevice
	opts    DeviceOptions
	targets []*Node
	plans   []*DevicePlan
}

// NewExecutor prepares to run targets on the device.
func (s *OnDevice) NewExecutor(opts DeviceOptions, targets ...*Node) *DeviceExecutor {
	return &DeviceExecutor{s: s, opts: opts, targets: append([]*Node(nil), targets...)}
}

// Run copies feeds into the plan for their shapes, runs it on the device and
// returns host copies of the targets, overwritten by the next Run.
func (e *DeviceExecutor) Run(feeds ...Feed) ([]*tensor.Tensor, error) {
	p, err := e.Plan(feeds...)
	if err != nil {
		return nil, err
	}
	if err := feedInto(feeds, p.Input); err != nil {
		return nil, err
	}
	if err := p.Run(); err != nil {
		return nil, err
	}
	return p.targetH, nil
}

// Profile is Run with a device profile of the step instead of its results
// (see DevicePlan.Profile).
func (e *DeviceExecutor) Profile(feeds ...Feed) (*DeviceProfile, error) {
	p, err := e.Plan(feeds...)
	if err != nil {
		return nil, err
	}
	if err := feedInto(feeds, p.Input); err != nil {
		return nil, err
	}
	return p.Profile()
}

// Plan returns the plan for these feeds, compiling it if needed.
func (e *DeviceExecutor) Plan(feeds ...Feed) (*DevicePlan, error) {
	for _, p := range e.plans {
		if deviceMatches(p, feeds) {
			return p, nil
		}
	}
	shapes, err := feedShapes(feeds)
	if err != nil {
		return nil, err
	}
	p, err := e.s.Compile(e.opts, shapes, e.targets...)
	if err != nil {
		return nil, err
	}
	e.plans = append(e.plans, p)
	return p, nil
}

// Plans returns the plans compiled so far.
func (e *DeviceExecutor) Plans() []*DevicePlan { return e.plans }

// ResetCarry makes every plan's next Run read its carried placeholders from the
// host (see DeviceOptions.Carry).
func (e *DeviceExecutor) ResetCarry() {
	for _, p := range e.plans {
		p.ResetCarry()
	}
}

func deviceMatches(p *DevicePlan, feeds []Feed) bool { return feedsMatch(p.feeds, p.feedH, feeds) }
