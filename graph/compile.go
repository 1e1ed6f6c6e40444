package graph

import (
	"fmt"
	"slices"

	"github.com/tlgo/tl/cpu/par"
	"github.com/tlgo/tl/tensor"
)

// Options configure compilation.
type Options struct {
	// Training selects training behaviour of ops that have two (dropout, batch
	// normalisation).
	Training bool
	// Pool runs the kernels' loops. Nil: the plan starts its own with Threads
	// workers (0: GOMAXPROCS) and stops it on Close.
	Pool    *par.Pool
	Threads int
	// Step, when set, numbers the runs for the random ops: dropout's mask at a
	// run is a hash of the node's seed, *Step and the element. The caller sets
	// it before each Run, so that a run resumed at step n draws the masks the
	// uninterrupted run drew (train.Loop does). Nil: each plan numbers its own
	// runs from 1.
	Step *uint64
}

// Plan is a graph compiled for one set of input shapes: the nodes needed for its
// targets in execution order, each bound to a kernel and to memory planned once.
// Run allocates nothing.
//
// Intermediate tensors share memory: a node's tensor is valid only until a later
// node reuses it, except targets, feeds, variables and constants, which keep their
// own memory. Keep a node by naming it as a target.
type Plan struct {
	g        *Graph
	opts     Options
	ownPool  bool
	kernels  []Kernel
	knodes   []*Node
	kfused   [][]*Node // per kernel, the nodes whose work it also runs
	tensors  map[*Node]*tensor.Tensor
	feeds    []*Node
	feedT    []*tensor.Tensor
	targets  []*Node
	targetT  []*tensor.Tensor
	planned  int64 // bytes in shared slabs
	naive    int64 // bytes if every node had its own buffer
	scratchN int
	runErr   error
}

type slab struct {
	dt     tensor.DType
	size   int // elements
	freeAt int // step after which the slab is free; -1 pinned
	f32    []float32
	i32    []int32
}

type place struct {
	s      *slab          // planned memory, or nil
	ext    *tensor.Tensor // leaves: their own storage
	offset int
}

// layout is the part of compiling shared by every backend: the nodes needed in
// order, their concrete values, and where each node's output lives (a slab of the
// memory plan at an offset, a leaf's own storage, or nothing).
type layout struct {
	order    []*Node
	vals     map[*Node]Value
	root     map[*Node]*Node // the node owning the memory n views (n unless an alias)
	places   map[*Node]place
	slabs    []*slab
	isTarget map[*Node]bool
	naive    int64
	// idle holds nodes that run no kernel although they own memory: the
	// masks of dropouts elided from an inference plan (see inferenceDropout).
	idle map[*Node]bool
	// products maps a BiasAct to the MatMul whose product it computes (see
	// fusedProducts).
	products map[*Node]*Node
	// pooled maps a pooling to the convolution whose kernel it runs with
	// its own (see fusedConvPools); the convolution runs no kernel.
	pooled map[*Node]*Node
	// convGrads maps a kernel to the nodes before it whose work it runs
	// with its own: a max pooling's gradient and the filter gradient (and
	// bias gradient) of the convolution below it (see fusedConvGrads).
	convGrads map[*Node][]*Node
	// argPools maps such a kernel, when its pooling gradient is of a max
	// pooling fused into its convolution, to that pooling: the pooling
	// records its argmax offsets, and the gradient routes dy by them from
	// the pooled output, without the convolution's (see linkArgPools).
	argPools map[*Node]*Node
	// unstored holds the nodes whose value the plan never stores, so
	// given no memory: elided dropouts' masks, fused convolutions' outputs
	// that nothing else reads, backward groups' dz.
	unstored map[*Node]bool
}

// inferenceDropout reports whether n is a dropout (x times DropoutMask(·, keep))
// in a plan compiled without Training, and which input is x: the mask is all
// ones there, so n is x itself, a view of it, and the mask need not run.
func inferenceDropout(n *Node, vals map[*Node]Value, training bool) (x, mask *Node, ok bool) {
	b, isBin := n.op.(*binaryOp)
	if training || !isBin || b.kind != binMul || len(n.inputs) != 2 {
		return nil, nil, false
	}
	for i, m := range n.inputs {
		if _, isMask := m.op.(*dropoutMaskOp); !isMask {
			continue
		}
		x = n.inputs[1-i]
		if vals[x].DType != vals[n].DType || !vals[x].Shape.Equal(vals[n].Shape) {
			return nil, nil, false
		}
		return x, m, true
	}
	return nil, nil, false
}

// With fuse (the CPU plan), layout also finds the kernels that run their
// producers' work (see fuse.go) and gives no memory to the nodes whose value
// is then never stored: the masks of elided dropouts and the outputs of
// fused convolutions that nothing reads.
func (g *Graph) layout(feeds map[*Node]tensor.Shape, targets []*Node, training, fuse bool) (*layout, error) {
	if g.err != nil {
		return nil, fmt.Errorf("graph: cannot compile a graph with a building error: %w", g.err)
	}
	for i, t := range targets {
		if t == nil || t.g != g {
			return nil, fmt.Errorf("graph: Compile: target %d is nil or from another graph", i)
		}
		if t.err != nil {
			return nil, fmt.Errorf("graph: Compile: target %d failed: %w", i, t.err)
		}
	}
	order := executionOrder(targets)

	// Concrete values.
	vals := make(map[*Node]Value, len(order))
	for _, n := range order {
		switch n.op.(type) {
		case placeholderOp:
			s, ok := feeds[n]
			if !ok {
				return nil, fmt.Errorf("graph: placeholder %s %v is needed but has no fed shape", n.name, n.value)
			}
			if err := checkFeedShape(n, s); err != nil {
				return nil, err
			}
			vals[n] = Value{Shape: s.Clone(), DType: n.value.DType}
		case *variableOp, constOp:
			vals[n] = n.value
		default:
			in := make([]Value, len(n.inputs))
			for i, x := range n.inputs {
				in[i] = vals[x]
			}
			v, err := n.op.Infer(in)
			if err != nil {
				return nil, fmt.Errorf("graph: compiling %s (%s) for fed shapes: %w", n.name, n.op.Type(), err)
			}
			if v.DType != 0 && !v.Shape.Known() {
				return nil, fmt.Errorf("graph: compiling %s (%s): output shape %v still unknown with fed shapes", n.name, n.op.Type(), v.Shape)
			}
			vals[n] = v
		}
	}

	l := &layout{order: order, vals: vals}
	isTarget := make(map[*Node]bool, len(targets))
	for _, t := range targets {
		isTarget[t] = true
	}
	l.isTarget = isTarget
	step := make(map[*Node]int, len(order))
	for i, n := range order {
		step[n] = i
	}
	root := make(map[*Node]*Node, len(order))
	offset := make(map[*Node]int, len(order))
	lastUse := make(map[*Node]int, len(order))
	readers := make(map[*Node]int, len(order))
	for _, n := range order {
		for _, x := range n.inputs {
			readers[x]++
		}
	}
	l.idle = map[*Node]bool{}
	for _, n := range order {
		root[n], offset[n] = n, 0
		if x, mask, ok := inferenceDropout(n, vals, training); ok {
			root[n], offset[n] = root[x], offset[x]
			if readers[mask] == 1 && !isTarget[mask] {
				l.idle[mask] = true
			}
		} else if a, ok := n.op.(Aliaser); ok {
			in := make([]Value, len(n.inputs))
			for i, x := range n.inputs {
				in[i] = vals[x]
			}
			k, off := a.Alias(in, vals[n])
			src := n.inputs[k]
			root[n], offset[n] = root[src], offset[src]+off
		}
		lastUse[root[n]] = max(lastUse[root[n]], step[n])
		so, _ := n.op.(ShapeOnlyInputs)
		for i, x := range n.inputs {
			if so != nil && so.ShapeOnly(i) {
				continue
			}
			r := root[x]
			lastUse[r] = max(lastUse[r], step[n])
		}
	}
	l.root = root
	// A kernel that runs its producer's work too (see fuse.go) reads the
	// producer's inputs at its own step: they live until then.
	if fuse {
		l.fuse(step, lastUse)
	}
	for t := range isTarget {
		lastUse[root[t]] = -1 // pinned
	}
	// Nodes whose value is never stored get no memory.
	unstored := map[*Node]bool{}
	l.unstored = unstored
	if fuse {
		for m := range l.idle {
			unstored[m] = true
		}
		for _, c := range l.pooled {
			if !l.keepConv(c) {
				unstored[c] = true
			}
		}
		for _, ms := range l.convGrads {
			unstored[ms[0]] = true // dz: read only inside its group
		}
	}

	places := make(map[*Node]place, len(order))

	var slabs, active, free []*slab
	// take returns the free slab of dtype dt that fits size most tightly, else the
	// largest free one grown to size, else a new slab.
	take := func(dt tensor.DType, size int) *slab {
		bi := -1
		for i, s := range free {
			if s.dt != dt {
				continue
			}
			if bi < 0 {
				bi = i
				continue
			}
			b := free[bi]
			if (s.size >= size && (b.size < size || s.size < b.size)) || (b.size < size && s.size > b.size) {
				bi = i
			}
		}
		if bi < 0 {
			s := &slab{dt: dt, size: size}
			slabs = append(slabs, s)
			return s
		}
		s := free[bi]
		free = slices.Delete(free, bi, bi+1)
		s.size = max(s.size, size)
		return s
	}
	for i, n := range order {
		v := vals[n]
		l.naive += int64(max(v.Shape.Size(), 0)) * 4
		switch {
		case isLeaf(n.op):
			if n.data != nil {
				places[n] = place{ext: n.data}
			} else { // placeholder: its own memory, written by the caller
				places[n] = place{ext: tensor.New(v.DType, v.Shape...)}
			}
		case root[n] != n:
			r := places[root[n]]
			places[n] = place{s: r.s, ext: r.ext, offset: offset[n]}
		case v.DType == 0 || unstored[n]:
		default:
			size := v.Shape.Size()
			var s *slab
			if ip, ok := n.op.(InPlacer); ok {
				x := n.inputs[ip.InPlace()]
				r := root[x]
				if pr := places[r]; pr.s != nil && pr.s.freeAt == i && offset[x] == 0 &&
					vals[x].Shape.Size() == size && vals[x].DType == v.DType {
					s = pr.s
				}
			}
			if s == nil {
				s = take(v.DType, size)
				active = append(active, s)
			}
			s.freeAt = lastUse[n]
			places[n] = place{s: s}
		}
		// Slabs whose owners all die at this step go back to the free list.
		active = slices.DeleteFunc(active, func(s *slab) bool {
			if s.freeAt >= 0 && s.freeAt <= i {
				free = append(free, s)
				return true
			}
			return false
		})
	}
	l.places, l.slabs = places, slabs
	return l, nil
}

// Compile builds a plan that computes targets given placeholders of the shapes in
// feeds. Targets may be any nodes, including updaters (optimizer steps).
func (g *Graph) Compile(opts Options, feeds map[*Node]tensor.Shape, targets ...*Node) (*Plan, error) {
	l, err := g.layout(feeds, targets, opts.Training, true)
	if err != nil {
		return nil, err
	}
	order, vals, root, places := l.order, l.vals, l.root, l.places
	p := &Plan{g: g, opts: opts, tensors: make(map[*Node]*tensor.Tensor, len(order)), naive: l.naive}
	if p.opts.Pool == nil {
		p.opts.Pool = par.NewPool(opts.Threads)
		p.ownPool = true
	}
	for _, s := range l.slabs {
		p.planned += int64(s.size) * 4
		switch s.dt {
		case tensor.Float32:
			s.f32 = make([]float32, s.size)
		case tensor.Int32:
			s.i32 = make([]int32, s.size)
		}
	}
	view := func(n *Node) *tensor.Tensor {
		v := vals[n]
		if v.DType == 0 {
			return nil
		}
		pl := places[n]
		size := v.Shape.Size()
		var t *tensor.Tensor
		var err error
		if pl.s == nil {
			src := pl.ext
			if root[n] == n || src == nil { // src nil: a value never stored
				return src
			}
			if v.DType == tensor.Float32 {
				t, err = tensor.FromFloat32(src.Float32s()[pl.offset:pl.offset+size], v.Shape...)
			} else {
				t, err = tensor.FromInt32(src.Int32s()[pl.offset:pl.offset+size], v.Shape...)
			}
		} else if v.DType == tensor.Float32 {
			t, err = tensor.FromFloat32(pl.s.f32[pl.offset:pl.offset+size:pl.offset+size], v.Shape...)
		} else {
			t, err = tensor.FromInt32(pl.s.i32[pl.offset:pl.offset+size:pl.offset+size], v.Shape...)
		}
		if err != nil {
			panic(err) // sizes come from the plan itself
		}
		return t
	}
	for _, n := range order {
		p.tensors[n] = view(n)
		if _, ok := n.op.(placeholderOp); ok {
			p.feeds = append(p.feeds, n)
			p.feedT = append(p.feedT, p.tensors[n])
		}
	}
	var scratch []*Scratch
	args := map[*Node][]int32{} // by pooling, the argmax offsets it records
	for _, pool := range l.argPools {
		if args[pool] == nil {
			args[pool] = make([]int32, vals[pool].Shape.Size())
		}
	}
	runBy := map[*Node]bool{} // nodes whose work another kernel runs
	for _, n := range order {
		for _, m := range l.with(n) {
			runBy[m] = true
		}
	}
	for _, n := range order {
		if isLeaf(n.op) || root[n] != n || runBy[n] || l.idle[n] {
			continue
		}
		in := make([]*tensor.Tensor, len(n.inputs))
		for i, x := range n.inputs {
			in[i] = p.tensors[x]
		}
		h := uint64(n.id+1) * 0x9e3779b97f4a7c15
		ctx := &KernelCtx{Pool: p.opts.Pool, Training: opts.Training, Seed: g.seed ^ h, Step: opts.Step, Node: n, errp: &p.runErr}
		var k Kernel
		var err error
		if m := l.products[n]; m != nil {
			k = n.op.(*biasActOp).compileWithProduct(ctx, m.op.(*matMulOp), p.tensors[m.inputs[0]], p.tensors[m.inputs[1]], in[1], p.tensors[n])
		} else if cv := l.pooled[n]; cv != nil {
			cin := make([]*tensor.Tensor, len(cv.inputs))
			for i, x := range cv.inputs {
				cin[i] = p.tensors[x]
			}
			k, err = cv.op.(*convOp).compileWithPool(ctx, cin, p.tensors[cv], !l.unstored[cv], n.op.(*poolOp), p.tensors[n], args[n])
		} else if ms := l.convGrads[n]; ms != nil {
			k, err = compileConvGrads(ctx, append(ms, n), p.tensors, l.argPools[n], args[l.argPools[n]])
		} else {
			k, err = n.op.Compile(ctx, in, p.tensors[n])
		}
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("graph: compiling kernel of %s (%s) on %s: %w", n.name, n.op.Type(), describeT(in), err)
		}
		scratch = append(scratch, ctx.scratch...)
		if k != nil {
			p.kernels = append(p.kernels, k)
			p.knodes = append(p.knodes, n)
			p.kfused = append(p.kfused, l.with(n))
		}
	}
	for _, s := range scratch {
		p.scratchN = max(p.scratchN, s.n)
	}
	arena := make([]float32, p.scratchN)
	for _, s := range scratch {
		s.F32 = arena[:s.n:s.n]
	}
	p.targets = append([]*Node(nil), targets...)
	for _, t := range targets {
		p.targetT = append(p.targetT, p.tensors[t])
	}
	return p, nil
}

func describeT(ts []*tensor.Tensor) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		if t == nil {
			s += "none"
		} else {
			s += fmt.Sprintf("%v%v", t.DType(), t.Shape())
		}
	}
	return s
}

func checkFeedShape(n *Node, s tensor.Shape) error {
	want := n.value.Shape
	ok := len(s) == len(want) && s.Known()
	for i := 0; ok && i < len(s); i++ {
		if want[i] >= 0 && want[i] != s[i] {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("graph: feeding %s: %w", n.name, &tensor.ShapeError{Op: "Feed", Arg: n.name, Got: s, Want: fmt.Sprintf("a shape matching %v", want)})
	}
	return nil
}

// executionOrder lists the nodes targets need: first everything that does not
// depend on an updater, then the updaters and what depends on them, each group in
// creation (topological) order.
func executionOrder(targets []*Node) []*Node {
	seen := map[*Node]bool{}
	var stack []*Node
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			stack = append(stack, t)
		}
	}
	var all []*Node
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		all = append(all, n)
		for _, x := range n.inputs {
			if !seen[x] {
				seen[x] = true
				stack = append(stack, x)
			}
		}
	}
	slices.SortFunc(all, func(a, b *Node) int { return a.id - b.id })
	late := map[*Node]bool{}
	var early, rest []*Node
	for _, n := range all {
		_, up := n.op.(Updater)
		for _, x := range n.inputs {
			up = up || late[x]
		}
		if up {
			late[n] = true
			rest = append(rest, n)
		} else {
			early = append(early, n)
		}
	}
	return append(early, rest...)
}

// Run executes the plan once: feeds must have been written (Input), targets are
// then in Outputs. It allocates nothing. An error means bad input met by a kernel
// (a label or index out of range); the step stopped there and variables were not
// updated by later nodes.
func (p *Plan) Run() error {
	for i, k := range p.kernels {
		k.Run()
		if p.runErr != nil {
			err := p.runErr
			p.runErr = nil
			n := p.knodes[i]
			return fmt.Errorf("graph: running %s (%s): %w", n.name, n.op.Type(), err)
		}
	}
	return nil
}

// Input returns the tensor to write a placeholder's value into before Run.
func (p *Plan) Input(n *Node) *tensor.Tensor {
	for i, f := range p.feeds {
		if f == n {
			return p.feedT[i]
		}
	}
	return nil
}

// Outputs returns the targets' tensors (nil for updaters), in the order given to
// Compile. They are overwritten by the next Run.
func (p *Plan) Outputs() []*tensor.Tensor { return p.targetT }

// Tensor returns the tensor bound to any node of the plan (see the Plan comment on
// when intermediate tensors are valid), or nil if the plan does not compute it or
// never stores it (a convolution whose only reader is the pooling fused into it,
// the mask of a dropout outside training).
func (p *Plan) Tensor(n *Node) *tensor.Tensor { return p.tensors[n] }

// Nodes returns the nodes that run a kernel, in execution order.
func (p *Plan) Nodes() []*Node { return p.knodes }

// MemoryBytes reports the bytes of planned intermediate memory and what the same
// nodes would need with a buffer each.
func (p *Plan) MemoryBytes() (planned, unplanned int64) { return p.planned, p.naive }

// Close stops the plan's worker pool if the plan started it.
func (p *Plan) Close() {
	if p.ownPool {
		p.opts.Pool.Close()
	}
}
